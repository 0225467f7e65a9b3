"""The enhancement plan: an explicit, versioned, serialisable description of a render.

A plan lists every filter with its parameters, the reason it is there and the
measurement that justified it. It is produced by a planner (see ``planner.py``),
printed by ``--dry-run``, written by ``--save-plan`` and read back by ``--plan``,
so a run can be reviewed and reproduced. Plans read from files (or sent to the
server) are validated against the filter registry (``filters.py``: the filters a plan may
name, their parameters' types and bounds): a plan can never name an arbitrary ffmpeg
filter or a file to read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mediaenhancer_core.choices import FORMATS  # the output containers
from mediaenhancer_core.engine.filters import AUDIO_FILTERS, FILTERS, VIDEO_FILTERS
from mediaenhancer_core.errors import PlanError

__all__ = [
    "PLAN_VERSION",
    "FilterStep",
    "Loudness",
    "Trim",
    "OutputSpec",
    "Plan",
]

PLAN_VERSION = 1

MAX_TRIM_SPANS = 5000


@dataclass
class FilterStep:
    filter: str
    params: dict[str, Any]
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)
    source: str = "measurement"  # which planner (or the user) asked for it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Loudness:
    target_lufs: float
    true_peak_dbtp: float
    measured_lufs: float | None = None  # of the input, before cleanup
    measured_true_peak: float | None = None
    estimated_gain_db: float | None = None
    mode: str = "linear"  # "linear" or "linear+limiter"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Trim:
    """Silence trimming: the spans of the input that are kept, in order."""

    keep: list[tuple[float, float]]
    removed_seconds: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"keep": [list(s) for s in self.keep], "removed_seconds": self.removed_seconds, "reason": self.reason}


@dataclass
class OutputSpec:
    format: str  # mp4, mov, mkv, webm, mp3, m4a, wav, flac, ogg, opus
    extension: str
    video: str  # "copy", "encode" or "none"
    video_codec: str | None = None  # encoder name when video == "encode", codec name when "copy"
    video_args: list[str] = field(default_factory=list)
    audio_codec: str | None = None  # encoder
    audio_args: list[str] = field(default_factory=list)
    sample_rate: int | None = None
    channels: int | None = None
    muxer_args: list[str] = field(default_factory=list)
    quality: str = "standard"
    reason: str = ""
    audio: str = "encode"  # "encode", or "copy": the input's sound as it is (audio_codec is then its codec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    version: int
    planner: str
    preset: str
    input: dict[str, Any]
    audio_steps: list[FilterStep]
    video_steps: list[FilterStep]
    loudness: Loudness | None
    output: OutputSpec
    trim: Trim | None = None
    stabilize: bool = False
    burn_in: bool = False  # draw subtitles into the picture; the render is given the file (a plan never names one)
    notes: list[str] = field(default_factory=list)

    @property
    def changes_video(self) -> bool:
        return bool(self.video_steps) or self.trim is not None or self.stabilize or self.burn_in

    def describe_steps(self) -> list[str]:
        lines = [f"audio: {s.filter} — {s.reason}" for s in self.audio_steps]
        if self.loudness:
            lines.append(f"audio: loudness {self.loudness.target_lufs:g} LUFS — {self.loudness.reason}")
        lines += [f"video: {s.filter} — {s.reason}" for s in self.video_steps]
        if self.trim:
            lines.append(f"trim: {self.trim.reason}")
        if self.burn_in:
            lines.append("video: subtitles burned in")
        return lines

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "planner": self.planner,
            "preset": self.preset,
            "input": self.input,
            "audio_steps": [s.to_dict() for s in self.audio_steps],
            "loudness": self.loudness.to_dict() if self.loudness else None,
            "video_steps": [s.to_dict() for s in self.video_steps],
            "stabilize": self.stabilize,
            "burn_in": self.burn_in,
            "trim": self.trim.to_dict() if self.trim else None,
            "output": self.output.to_dict(),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def save(self, path: Path) -> None:
        from mediaenhancer_core.files import atomic_write_text  # noqa: PLC0415

        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            text = Path(path).read_text("utf-8")
        except FileNotFoundError:
            raise PlanError(f"{path}: plan file not found; check the path", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanError(f"{path}: cannot read plan file ({exc})", path=path) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(
                f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or regenerate it with --save-plan",
                path=path,
            ) from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "plan") -> Plan:
        if not isinstance(data, dict):
            raise PlanError(f"{source}: a plan must be a JSON object")
        version = data.get("version")
        if version != PLAN_VERSION:
            raise PlanError(
                f"{source}: plan version {version!r} is not supported (this mediaenhancer reads version {PLAN_VERSION}); "
                "regenerate it with --save-plan"
            )
        try:
            audio = [_step(s, source, AUDIO_FILTERS) for s in data.get("audio_steps") or []]
            video = [_step(s, source, VIDEO_FILTERS) for s in data.get("video_steps") or []]
            loud = data.get("loudness")
            loudness = None
            if loud is not None:
                loudness = Loudness(**_only(loud, Loudness, source, "loudness"))
                _check_range(loudness.target_lufs, -40.0, -5.0, f"{source}: loudness.target_lufs")
                _check_range(loudness.true_peak_dbtp, -9.0, 0.0, f"{source}: loudness.true_peak_dbtp")
            trim = None
            if data.get("trim"):
                t = data["trim"]
                if len(t["keep"]) > MAX_TRIM_SPANS:
                    raise PlanError(f"{source}: trim.keep has more than {MAX_TRIM_SPANS} spans")
                keep = [(float(a), float(b)) for a, b in t["keep"]]
                if not all(math.isfinite(x) for span in keep for x in span):
                    raise PlanError(f"{source}: trim.keep spans must be finite")
                if (
                    not keep
                    or any(b <= a or a < 0 for a, b in keep)
                    or any(keep[i][1] > keep[i + 1][0] for i in range(len(keep) - 1))
                ):
                    raise PlanError(f"{source}: trim.keep must be ordered, non-overlapping [start, end] spans")
                trim = Trim(
                    keep=keep, removed_seconds=float(t.get("removed_seconds", 0.0)), reason=str(t.get("reason", ""))
                )
            out = data.get("output")
            if not isinstance(out, dict):
                raise PlanError(f"{source}: output is missing")
            output = OutputSpec(**_only(out, OutputSpec, source, "output"))
            _check_output(output, source)
            return cls(
                version=PLAN_VERSION,
                planner=str(data.get("planner", "local")),
                preset=str(data.get("preset", "custom")),
                input=dict(data.get("input") or {}),
                audio_steps=audio,
                video_steps=video,
                loudness=loudness,
                output=output,
                trim=trim,
                stabilize=bool(data.get("stabilize", False)),
                burn_in=bool(data.get("burn_in", False)),
                notes=[str(n) for n in data.get("notes") or []],
            )
        except PlanError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise PlanError(f"{source}: malformed plan ({exc}); regenerate it with --save-plan") from None


def _only(data: Any, klass: type, source: str, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PlanError(f"{source}: {where} must be an object")
    names = set(klass.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(data) - names)
    if unknown:
        raise PlanError(f"{source}: unknown field {where}.{unknown[0]}")
    return dict(data)


def _check_range(value: Any, lo: float, hi: float, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise PlanError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}")


def _step(data: Any, source: str, allowed: frozenset[str]) -> FilterStep:
    if not isinstance(data, dict):
        raise PlanError(f"{source}: each step must be an object")
    name = data.get("filter")
    if name not in allowed:
        raise PlanError(
            f"{source}: filter {name!r} is not allowed in this part of a plan; allowed: {', '.join(sorted(allowed))}"
        )
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise PlanError(f"{source}: params of {name} must be an object")
    spec = FILTERS[name]
    for key, value in params.items():
        param = spec.param(key)
        if param is None:
            raise PlanError(f"{source}: parameter {key!r} is not allowed for {name}")
        problem = param.problem(name, value)
        if problem is not None:
            raise PlanError(f"{source}: {problem}")
    return FilterStep(
        filter=name,
        params=dict(params),
        reason=str(data.get("reason", "")),
        measured=dict(data.get("measured") or {}),
        source=str(data.get("source", "plan file")),
    )


_FORMATS = set(FORMATS)
_NUMBER = r"\d{1,6}(\.\d{1,3})?k?"
# Each option with the values it may take: no option can name a file (x265's csv=, a second
# output...), whatever a plan file says.
_OUTPUT_OPTIONS = {
    "-preset": r"ultrafast|superfast|veryfast|faster|fast|medium|slow|slower|veryslow|placebo|\d{1,2}",
    "-crf": _NUMBER,
    "-pix_fmt": r"yuv420p|yuv420p10le|yuv422p|yuv444p|yuv422p10le",
    "-tag:v": r"hvc1|avc1",
    "-x265-params": r"log-level=(error|warning|none)",
    "-b:v": _NUMBER,
    "-b:a": _NUMBER,
    "-row-mt": r"[01]",
    "-deadline": r"good|best|realtime",
    "-cpu-used": r"-?\d",
    "-q:v": _NUMBER,
    "-q:a": _NUMBER,
    "-sample_fmt": r"s16|s32|flt|fltp|s16p|s32p",
    "-bits_per_raw_sample": r"16|24|32",
    "-movflags": r"\+faststart",
}
_ENCODERS = {
    "libx264",
    "libx265",
    "libvpx-vp9",
    "libsvtav1",
    "libaom-av1",
    "aac",
    "libmp3lame",
    "libopus",
    "libvorbis",
    "flac",
    "alac",
    "pcm_s16le",
    "pcm_s24le",
    "h264",
    "hevc",
    "av1",
    "vp8",
    "vp9",
    "mpeg4",
    "mpeg2video",
    "prores",
    "mjpeg",
    "theora",
}
_SAFE_ARG = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+:=")


def _check_output(out: OutputSpec, source: str) -> None:
    if out.format not in _FORMATS:
        raise PlanError(f"{source}: output.format {out.format!r} is not one of {', '.join(sorted(_FORMATS))}")
    if out.video not in ("copy", "encode", "none"):
        raise PlanError(f"{source}: output.video must be copy, encode or none")
    if out.audio not in ("encode", "copy"):
        raise PlanError(f"{source}: output.audio must be encode or copy")
    for arg in [*out.video_args, *out.audio_args, *out.muxer_args, out.video_codec or "", out.audio_codec or ""]:
        if not isinstance(arg, str) or not set(arg) <= _SAFE_ARG or len(arg) > 64:
            raise PlanError(f"{source}: output argument {arg!r} is not allowed")
    for codec in (out.video_codec, out.audio_codec if out.audio == "encode" else None):
        if codec is not None and codec not in _ENCODERS:
            raise PlanError(f"{source}: codec {codec!r} is not one this tool writes")
    for args in (out.video_args, out.audio_args, out.muxer_args):
        # option/value pairs of known codec options only: a bare word would be another output file
        if len(args) % 2 or any(opt not in _OUTPUT_OPTIONS for opt in args[::2]):
            raise PlanError(
                f"{source}: output arguments may only set codec options ({', '.join(sorted(_OUTPUT_OPTIONS))})"
            )
        for opt, value in zip(args[::2], args[1::2], strict=True):
            if not re.fullmatch(_OUTPUT_OPTIONS[opt], value):
                raise PlanError(f"{source}: {opt} {value!r} is not an allowed value")
