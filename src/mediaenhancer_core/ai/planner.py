"""The Gemini planner: the measurement plan, adjusted by what Gemini hears and sees.

:class:`GeminiPlanner` implements the :class:`~mediaenhancer_core.engine.planner.Planner`
protocol. It first makes the measurement plan (``MeasurementPlanner``), then sends
Gemini the measurements, that plan and a small proxy of the media (see ``proxy.py``;
never the whole file unless ``full_media``), and asks for a JSON answer fitting
:class:`~.answers.AdviceAnswer`: the content type, the problems it hears and sees, recommended
settings and a short rationale. The answer is checked, every value clamped to a safe
range (each clamp is noted), and merged by :func:`merge_advice`:

* loudness (target, gain, true peak, limiter) always comes from the measurements and
  the user's options; the schema has no loudness field and anything like one is ignored;
* the user's switches and the preset win: no noise reduction with ``--no-denoise`` or
  a preset without it, no picture change with ``--audio-only`` or a preset without video;
* Gemini may tune noise reduction, the high-pass (only upwards of a measured one),
  a presence boost, de-essing and gentle compression; picture levels and colour
  (``eq``), denoise and sharpening. Hum notches, de-clipping, colour-cast correction,
  scaling, frame rate and stabilisation stay with the measurements and the options;
* steps Gemini set or changed carry ``source="gemini"``, the others ``"measurement"``,
  so ``--dry-run`` shows what came from where; the result is re-validated with
  :meth:`Plan.from_dict` (only allow-listed filters and safe values).

Any failure (no key, timeout, quota, refusal, invalid JSON, schema mismatch, 5xx, network,
an ffmpeg error while making the proxy) returns the measurement plan with one notice in
``plan.notes``. The planner never prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from mediaenhancer_core.ai.gemini import KEY_HINT, GeminiClient, GeminiConfig, JsonModel, answers
from mediaenhancer_core.ai.proxy import Proxy, build_proxy
from mediaenhancer_core.engine.analysis import Analysis
from mediaenhancer_core.engine.ffmpeg import FFmpegTools
from mediaenhancer_core.engine.filters import ordered
from mediaenhancer_core.engine.formats import output_spec
from mediaenhancer_core.engine.plan import FilterStep, Plan
from mediaenhancer_core.engine.planner import EnhanceOptions, MeasurementPlanner, Planner, denoise_level
from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir
from mediaenhancer_core.errors import AINotConfiguredError, CancelledError, MediaEnhancerError

if TYPE_CHECKING:
    from mediaenhancer_core.settings import Settings

__all__ = ["GeminiPlanner", "Advice", "LIMITS", "parse_advice", "merge_advice", "make_planner"]

PROBLEMS = [
    "hum",
    "hiss",
    "noise",
    "reverb",
    "clipping",
    "rumble",
    "sibilance",
    "muffled",
    "distortion",
    "low_light",
    "overexposed",
    "low_contrast",
    "color_cast",
    "dull_colors",
    "video_noise",
    "soft",
    "shake",
]

# Safe ranges: a recommendation outside its range is clamped to it (and the clamp is noted).
LIMITS: dict[str, tuple[float, float]] = {
    "audio.noise_reduction_db": (0.0, 24.0),
    "audio.highpass_hz": (0.0, 120.0),
    "audio.presence_boost_db": (-3.0, 4.0),
    "video.brightness": (-0.15, 0.15),
    "video.contrast": (0.8, 1.4),
    "video.saturation": (0.7, 1.3),
    "video.gamma": (0.8, 1.5),
    "video.denoise": (0.0, 10.0),
    "video.sharpen": (0.0, 1.0),
}


SYSTEM = (
    "You are an audio and video restoration engineer. You receive ffmpeg measurements of a recording, the plan a "
    "rule-based planner made from them, and a small proxy of the media (a low-bitrate audio excerpt and a few "
    "keyframes). Listen and look, then answer only with JSON that fits the response schema: the content type, the "
    "problems you actually hear and see (severity 0-1, short evidence), recommended settings, and a rationale of at "
    "most two sentences. Omit a setting, or use null, to keep the planner's choice. Loudness, gain and true peak are "
    "fixed by measurement: never recommend them. Be conservative: a clean recording needs no changes."
)

_LOUDNESS_WORDS = ("lufs", "loud", "gain", "peak", "limit", "normal")


@dataclass
class Advice:
    """Gemini's answer after checking and clamping."""

    content_type: str
    problems: list[dict[str, Any]]
    audio: dict[str, Any]
    video: dict[str, Any]
    rationale: str
    notes: list[str] = field(default_factory=list)  # clamps and ignored fields

    def heard(self) -> str:
        if not self.problems:
            return "no problems"
        ranked = sorted(self.problems, key=lambda p: -p["severity"])
        return ", ".join(f"{p['kind']} {p['severity']:.1f}" for p in ranked)


def parse_advice(answer: Any) -> Advice:
    """Clamp a schema-checked answer to :data:`LIMITS`; collect notes on what was clamped or ignored."""
    notes: list[str] = []
    sections: dict[str, dict[str, Any]] = {"audio": {}, "video": {}}
    for section in sections:
        given = answer.get(section) or {}
        for key, value in given.items():
            name = f"{section}.{key}"
            if value is None:
                continue
            if name in LIMITS:
                lo, hi = LIMITS[name]
                clamped = min(hi, max(lo, float(value)))
                if clamped != value:
                    notes.append(f"gemini: {name} {value:g} clamped to {clamped:g}")
                sections[section][key] = clamped
            elif key in ("deess", "compress"):
                sections[section][key] = bool(value)
            else:
                notes.append(
                    f"gemini: {name} ignored" + (" (loudness comes from the measurements)" if _loudish(key) else "")
                )
    for key in answer:
        if key not in answers().AdviceAnswer.model_fields:
            notes.append(
                f"gemini: {key} ignored" + (" (loudness comes from the measurements)" if _loudish(key) else "")
            )
    problems = [
        {
            "kind": p["kind"],
            "severity": round(min(1.0, max(0.0, float(p["severity"]))), 2),
            "evidence": str(p.get("evidence", ""))[:160],
        }
        for p in answer.get("problems") or []
    ]
    return Advice(
        content_type=answer["content_type"],
        problems=problems,
        audio=sections["audio"],
        video=sections["video"],
        rationale=" ".join(str(answer.get("rationale", "")).split())[:400],
        notes=notes,
    )


def _loudish(key: str) -> bool:
    return any(w in key.lower() for w in _LOUDNESS_WORDS)


def _evidence(advice: Advice, *kinds: str) -> str:
    found = [p for p in advice.problems if p["kind"] in kinds]
    if not found:
        return ""
    return "; Gemini: " + ", ".join(
        f"{p['kind']} {p['severity']:.1f}" + (f" ({p['evidence']})" if p["evidence"] else "") for p in found
    )


def merge_advice(base: Plan, advice: Advice, analysis: Analysis, options: EnhanceOptions, *, model: str) -> Plan:
    """The measurement plan ``base`` with Gemini's recommendations applied within the rules above."""
    preset = options.preset
    audio = {s.filter: s for s in base.audio_steps}
    extra_audio = [s for s in base.audio_steps if s.filter == "bandreject"]  # hum notches: several, measured
    a = analysis.audio
    if a is not None:
        rec = advice.audio
        denoise_allowed = denoise_level(options) != "off"
        if "noise_reduction_db" in rec and denoise_allowed:
            nr = round(rec["noise_reduction_db"], 1)
            why = _evidence(advice, "hiss", "noise")
            if nr < 3.0:
                for name in ("afftdn", "deepfilternet"):
                    if name in audio:
                        del audio[name]
                        advice.notes.append(f"gemini: no noise reduction (it hears too little noise to remove){why}")
            elif "deepfilternet" in audio:
                advice.notes.append(
                    f"gemini: hears noise to remove ({nr:g} dB); the neural denoiser of the measured plan stays{why}"
                )
            else:
                nf = round(min(-20.0, max(-80.0, a.noise_floor_lufs)), 1)
                audio["afftdn"] = FilterStep(
                    "afftdn",
                    {"nr": nr, "nf": nf},
                    f"FFT noise reduction at Gemini's strength {nr:g} (noise floor {a.noise_floor_lufs} LUFS measured){why}",
                    {"noise_floor_lufs": a.noise_floor_lufs, "gemini_noise_reduction_db": nr},
                    source="gemini",
                )
        hp = rec.get("highpass_hz")
        if hp is not None and preset.derumble and hp >= 20.0:
            current = audio.get("highpass")
            measured_f = float(current.params.get("f", 0)) if current else 0.0
            if hp > measured_f + 1.0:
                audio["highpass"] = FilterStep(
                    "highpass",
                    {"f": round(hp), "poles": 2},
                    f"high-pass at {round(hp)} Hz (Gemini){_evidence(advice, 'rumble', 'hum')}"
                    + (f"; measured plan had {measured_f:g} Hz" if current else ""),
                    {"rumble_db": a.rumble_db, **(current.measured if current else {})},
                    source="gemini",
                )
        boost = rec.get("presence_boost_db")
        if boost is not None and abs(boost) >= 0.5:
            audio["equalizer"] = FilterStep(
                "equalizer",
                {"f": 3000, "width_type": "o", "w": 1.5, "g": round(boost, 1)},
                f"{'boost' if boost > 0 else 'cut'} presence around 3 kHz by {abs(boost):.1f} dB{_evidence(advice, 'muffled', 'sibilance')}",
                {},
                source="gemini",
            )
        if rec.get("deess") and advice.content_type in ("speech", "mixed"):
            audio["deesser"] = FilterStep(
                "deesser",
                {"i": 0.4, "m": 0.5, "f": 0.5},
                f"tame sibilance{_evidence(advice, 'sibilance')}",
                {},
                source="gemini",
            )
        if rec.get("compress") and advice.content_type in ("speech", "mixed"):
            audio["acompressor"] = FilterStep(
                "acompressor",
                {"threshold": 0.125, "ratio": 2.5, "attack": 20, "release": 250, "makeup": 1, "knee": 2.8},
                "gentle 2.5:1 compression above -18 dBFS for uneven speech (Gemini); loudness is set afterwards from the measurement",
                {"loudness_range_lu": a.loudness_range_lu},
                source="gemini",
            )
    audio_steps = ordered([s for f, s in audio.items() if f != "bandreject"] + extra_audio)

    video_steps = list(base.video_steps)
    v = analysis.video
    if v is not None and not options.audio_only and preset.video and advice.video:
        video_steps = _merge_video(video_steps, advice, v.noise_sigma, sharpen_allowed=preset.sharpen)

    # trimming, stabilisation (and whatever else the plan says changes the picture) still need an encode
    change_video = bool(video_steps) or replace(base, video_steps=[]).changes_video
    output = output_spec(
        analysis.info,
        fmt=options.format or base.output.format,
        quality=options.quality,
        change_video=change_video,
        audio_only=options.audio_only,
    )
    if output.video == "none":
        video_steps = []
    notes = list(base.notes)
    notes.append(
        f"gemini ({model}): {advice.content_type}; hears {advice.heard()}"
        + (f" — {advice.rationale}" if advice.rationale else "")
    )
    if (
        any(p["kind"] == "shake" and p["severity"] >= 0.5 for p in advice.problems)
        and not base.stabilize
        and analysis.video
    ):
        notes.append("gemini: the picture looks shaky; try --stabilize")
    if any(p["kind"] == "hum" for p in advice.problems) and not (a and a.hum_hz):
        notes.append("gemini: hears hum the measurements did not find; no notch added (it needs a measured frequency)")
    notes += advice.notes
    merged = replace(
        base, planner="gemini", audio_steps=audio_steps, video_steps=video_steps, output=output, notes=notes
    )
    # the same validation as a plan file: allow-listed filters, safe values
    return Plan.from_dict(merged.to_dict(), source="Gemini's plan")


def _merge_video(
    steps: list[FilterStep], advice: Advice, noise_sigma: float, *, sharpen_allowed: bool
) -> list[FilterStep]:
    rec = advice.video
    by = {s.filter: s for s in steps}
    eq_keys = {"brightness": 0.0, "contrast": 1.0, "saturation": 1.0, "gamma": 1.0}
    if any(k in rec for k in eq_keys):
        current = by.get("eq")
        params = {k: float(current.params.get(k, d)) if current else d for k, d in eq_keys.items()}
        for k in eq_keys:
            if k in rec:
                params[k] = round(rec[k], 3)
        neutral = all(abs(params[k] - d) < 0.01 for k, d in eq_keys.items())
        if neutral:
            by.pop("eq", None)
        else:
            by["eq"] = FilterStep(
                "eq",
                params,
                "levels and colour by Gemini: "
                + ", ".join(f"{k} {params[k]:g}" for k in eq_keys)
                + _evidence(advice, "low_light", "overexposed", "low_contrast", "dull_colors"),
                dict(current.measured) if current else {},
                source="gemini",
            )
    # the measured nlmeans or fftdnoiz already cleans: no second denoiser
    if "denoise" in rec and not {"nlmeans", "fftdnoiz"} & by.keys():
        ls = rec["denoise"]
        if ls < 0.5:
            by.pop("hqdn3d", None)
        else:
            by["hqdn3d"] = FilterStep(
                "hqdn3d",
                {
                    "luma_spatial": round(ls, 1),
                    "chroma_spatial": round(ls * 0.75, 1),
                    "luma_tmp": round(ls * 1.5, 1),
                    "chroma_tmp": round(ls * 1.1, 1),
                },
                f"picture denoise at strength {ls:.1f} (Gemini; measured noise σ {noise_sigma}){_evidence(advice, 'video_noise')}",
                {"noise_sigma": noise_sigma},
                source="gemini",
            )
    if "sharpen" in rec and sharpen_allowed:
        amount = rec["sharpen"]
        if "hqdn3d" in by:
            amount = min(amount, 0.5)  # sharpening a denoised picture brings the noise back
        if amount < 0.05:
            by.pop("unsharp", None)
        else:
            by["unsharp"] = FilterStep(
                "unsharp",
                {
                    "luma_msize_x": 5,
                    "luma_msize_y": 5,
                    "luma_amount": round(amount, 2),
                    "chroma_msize_x": 3,
                    "chroma_msize_y": 3,
                    "chroma_amount": 0.0,
                },
                f"sharpen by {amount:.2f} (Gemini){_evidence(advice, 'soft')}",
                {},
                source="gemini",
            )
    return ordered(list(by.values()))


def _measurements(analysis: Analysis) -> dict[str, Any]:
    """The analysis, compact: long span lists shortened."""
    data = analysis.to_dict()
    data.pop("file", None)
    for section, keys in (("audio", ("silence_spans",)), ("video", ("black_spans", "frozen_spans"))):
        if data.get(section):
            for k in keys:
                spans = data[section][k]
                if len(spans) > 12:
                    data[section][k] = [*spans[:12], f"... {len(spans) - 12} more"]
            data[section].pop("stabilization_file", None)
    return data


def build_prompt(analysis: Analysis, base: Plan, proxy: Proxy) -> str:
    info = analysis.info
    lines = [
        f"Recording: {Path(info.path).name}, {info.duration:.1f} s, container {info.format_name}.",
        f"Attached: {proxy.describe()}.",
        "Measurements by ffmpeg (authoritative):",
        json.dumps(_measurements(analysis), separators=(",", ":"), default=str),
        "The measurement planner's plan:",
        *[f"- {line}" for line in base.describe_steps()],
    ]
    if base.loudness:
        lines.append(
            f"Loudness is fixed: {base.loudness.target_lufs:g} LUFS integrated, true peak at most "
            f"{base.loudness.true_peak_dbtp:g} dBTP, from the measurements. Do not recommend loudness, gain or peak settings."
        )
    lines.append("Answer with the JSON object described by the schema.")
    return "\n".join(lines)


class GeminiPlanner:
    """Planner protocol; ``model`` is a :class:`GeminiClient` (or any :class:`JsonModel`)."""

    name = "gemini"

    def __init__(
        self,
        model: JsonModel | None,
        tools: FFmpegTools,
        *,
        temp_dir: Path | None = None,
        full_media: bool = False,
        timeout: float | None = None,
        fallback: Planner | None = None,
    ) -> None:
        self.model = model
        self.tools = tools
        self.temp_dir = temp_dir
        self.full_media = full_media
        self.timeout = timeout
        self.fallback = fallback or MeasurementPlanner()
        self.last_error: MediaEnhancerError | None = None  # why the last plan fell back (for logs and tests)
        self.no_key_reason = NO_KEY_REASON  # a server's worker names its own key instead (jobs.handlers)

    def close(self) -> None:
        close = getattr(self.model, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def plan(self, analysis: Analysis, options: EnhanceOptions) -> Plan:
        base = self.fallback.plan(analysis, options)
        self.last_error = None
        workdir: Path | None = None
        try:
            if self.model is None:
                raise AINotConfiguredError(self.no_key_reason)
            workdir = make_workdir("mediaenhancer-gemini-", self.temp_dir)
            proxy = build_proxy(analysis, self.tools, workdir, full=self.full_media, audio_only=options.audio_only)
            answer = self.model.generate_json(
                prompt=build_prompt(analysis, base, proxy),
                schema=answers().AdviceAnswer,
                media=proxy.parts,
                system=SYSTEM,
                timeout=self.timeout,
                what="plan",
            )
            plan = merge_advice(base, parse_advice(answer), analysis, options, model=self.model.model)
            plan.notes.append(
                f"gemini: sent {proxy.describe()} ({proxy.size / 1000:.0f} kB)"
                + ("" if proxy.full else ", not the whole file")
            )
            return plan
        except CancelledError:
            raise
        except MediaEnhancerError as exc:  # AIError, or ffmpeg/plan errors while making the proxy or merging
            self.last_error = exc
            base.notes.append(fallback_note(exc.message))
            return base
        finally:
            if workdir is not None:
                remove_workdir(workdir)


FALLBACK_NOTE = "gemini planner not used, measurement plan instead"  # how a plan's note says it fell back
NO_KEY_REASON = f"no Gemini API key; {KEY_HINT}"


def fallback_note(reason: str) -> str:
    """The plan note (and the CLI's notice) when the Gemini planner fell back to the measurements."""
    return f"{FALLBACK_NOTE}: {_short(reason)}"


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def make_planner(name: str, settings: Settings, tools: FFmpegTools) -> Planner:
    """The planner ``name`` ("local" or "gemini") configured from ``settings`` (for the CLI and the worker)."""
    if name == "local":
        return MeasurementPlanner()
    if name != "gemini":
        from mediaenhancer_core.errors import ConfigError  # noqa: PLC0415

        raise ConfigError(f"--planner: unknown planner {name!r}; use local or gemini")
    config = GeminiConfig.from_settings(settings, timeout_seconds=settings.gemini_planner_timeout_seconds)
    model = GeminiClient(config) if config.configured else None
    return GeminiPlanner(
        model,
        tools,
        temp_dir=settings.temp_dir,
        full_media=settings.gemini_send_full_media,
        timeout=settings.gemini_planner_timeout_seconds,
    )
