"""From measurements to a plan.

:class:`MeasurementPlanner` (the default, offline) turns an :class:`Analysis` and
the user's :class:`EnhanceOptions` into a :class:`Plan`. It is a pure function of
its inputs: no ffmpeg, no files, so every rule is unit-testable. Other planners
(e.g. the Gemini planner) implement the same :class:`Planner` protocol.

Audio chain, in order: de-clip, rumble high-pass, hum notches (every harmonic that
stands out), then on speech: neural noise reduction (DeepFilterNet3), the speech
leveler and a gentle compressor (run in Python, see ``audiostage.py``), then loudness
(linear gain, and a true-peak limiter only where the measured peaks demand it).
Noise reduction runs on speech only: not on music or ambience, and not on speech that
is already clean. Video chain: stabilisation, denoise, levels/colour, colour cast,
scaling, frame rate, sharpening.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from mediaenhancer_core.choices import DENOISE_LEVELS, RESOLUTIONS
from mediaenhancer_core.engine.analysis import Analysis, AudioMeasurements, VideoMeasurements
from mediaenhancer_core.engine.filters import exportable, ordered
from mediaenhancer_core.engine.formats import output_spec
from mediaenhancer_core.engine.picture_plan import (
    RESTORE_SIZE,
    cast_step,
    denoise_steps,
    is_noisy,
    restore_sharpen,
    visible_change,
)
from mediaenhancer_core.engine.plan import PLAN_VERSION, FilterStep, Loudness, Plan, Trim
from mediaenhancer_core.engine.presets import Preset

__all__ = [
    "EnhanceOptions",
    "Planner",
    "MeasurementPlanner",
    "RESOLUTIONS",
    "plan_trim",
    "DENOISE_LEVELS",
    "denoise_level",
    "ffmpeg_only",
]


@dataclass(frozen=True)
class EnhanceOptions:
    preset: Preset
    target_lufs: float | None = None
    true_peak: float | None = None
    audio_only: bool = False
    denoise: bool | str | None = None  # off, light, normal or strong (True: normal, False: off); None: the preset
    trim_silence: bool = False
    stabilize: bool = False
    burn_in: bool = False  # enhance --subtitles --burn-in: draw the subtitles into the picture
    resolution: str | None = None
    fps: float | None = None
    format: str | None = None
    quality: str = "standard"
    # the ffmpeg that renders runs fftdnoiz over neighbouring frames at about nlmeans' cost (picture_plan.fft_affordable)
    fast_fftdnoiz: bool = False
    extra_notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def target(self) -> float:
        return self.target_lufs if self.target_lufs is not None else self.preset.target_lufs

    @property
    def ceiling(self) -> float:
        return self.true_peak if self.true_peak is not None else self.preset.true_peak


class Planner(Protocol):
    name: str

    def plan(self, analysis: Analysis, options: EnhanceOptions) -> Plan: ...


def _r(x: float, nd: int = 2) -> float:
    return round(float(x), nd)


class MeasurementPlanner:
    """Rules on the measurements alone; no network, deterministic."""

    name = "local"

    def plan(self, analysis: Analysis, options: EnhanceOptions) -> Plan:
        info = analysis.info
        notes = list(options.extra_notes)
        audio_steps = audio_chain(analysis.audio, options, notes) if analysis.audio else []
        loudness = loudness_plan(analysis.audio, options, audio_steps) if analysis.audio else None
        video_steps: list[FilterStep] = []
        if analysis.video and not options.audio_only:
            video_steps = video_chain(analysis.video, options)
        trim = plan_trim(analysis, options, notes) if options.trim_silence else None
        stabilize = bool(options.stabilize and analysis.video and not options.audio_only)
        burn_in = bool(options.burn_in and analysis.info.has_video and not options.audio_only)
        change_video = bool(video_steps) or trim is not None or stabilize or burn_in
        output = output_spec(
            info,
            fmt=options.format,
            quality=options.quality,
            change_video=change_video,
            audio_only=options.audio_only,
        )
        if output.video != "encode":
            # a container without video, or a plain copy: picture steps would do nothing
            if output.video == "none":
                video_steps, stabilize, burn_in = [], False, False
        if options.audio_only and info.has_video:
            notes.append("--audio-only: video copied unchanged")
        if options.burn_in and not burn_in:
            notes.append("--burn-in: no picture to draw the subtitles on; they are written beside the output only")
        return Plan(
            version=PLAN_VERSION,
            planner=self.name,
            preset=options.preset.name,
            input={"path": info.path, "size": info.size, "duration": info.duration, "format": info.format_name},
            audio_steps=audio_steps,
            video_steps=video_steps,
            loudness=loudness,
            output=output,
            trim=trim,
            stabilize=stabilize,
            burn_in=burn_in,
            notes=notes,
        )


# --------------------------------------------------------------------------- audio


LIGHT_ATTEN_DB = 12.0  # light: noise is lowered by at most this much; ambience stays
NORMAL_BELOW_SPEECH_DB = 60.0  # normal: noise may go down until it is this far under the speech...
NORMAL_MIN_ATTEN_DB = 24.0  # ...but the cap is never tighter than this
CLEAN_SNR_DB = 40.0  # pauses this far under the speech: already clean, no noise reduction
# Speech shorter than this with no second-long pause in it is one phrase group: no turns to level
# against each other (the leveler would only ride the voice's own rise and fall)
LEVELER_ONE_TURN_MAX_S = 20.0
SPEECH_KINDS = ("speech", "speech+music")
MAX_DECLIP_SHARE = 0.25  # more of the samples than this "clipped" is a test tone or a square wave, not clipping


def denoise_level(options: EnhanceOptions) -> str:
    """off, light, normal or strong, from --denoise (or --no-denoise) and the preset."""
    d = options.denoise
    if d is None:
        return "normal" if options.preset.denoise else "off"
    if isinstance(d, bool):
        return "normal" if d else "off"
    if d not in DENOISE_LEVELS:
        from mediaenhancer_core.errors import PlanError  # noqa: PLC0415

        raise PlanError(f"--denoise: unknown level {d!r}; use {', '.join(DENOISE_LEVELS)}")
    return d


def _speech_to_noise(a: AudioMeasurements) -> float:
    """Measured distance from speech to the noise: in the pauses when there are any, else to the
    quietest tenth of the programme."""
    if a.speech_to_noise_db is not None:
        return a.speech_to_noise_db
    speech = a.speech_lufs if a.speech_lufs is not None else a.integrated_lufs
    return round(speech - a.noise_floor_lufs, 1)


def audio_chain(a: AudioMeasurements, options: EnhanceOptions, notes: list[str] | None = None) -> list[FilterStep]:
    p = options.preset
    notes = notes if notes is not None else []
    steps: list[FilterStep] = []
    total = max(1, a.sample_count or int(a.decoded_seconds * 48000))
    if p.declip and a.clipping:
        if a.clipped_samples / total <= MAX_DECLIP_SHARE:
            steps.append(
                FilterStep(
                    "adeclip",
                    {},
                    f"about {a.clipped_samples} samples sit in flat runs at the signal's extremes ({a.sample_peak_dbfs} dBFS): "
                    "restore clipped peaks",
                    {"clipped_samples": a.clipped_samples, "sample_peak_dbfs": a.sample_peak_dbfs},
                )
            )
        else:
            notes.append(
                f"flat runs at the extremes cover {a.clipped_samples / total:.0%} of the samples: a test tone or a "
                "square wave rather than clipping; not de-clipped"
            )
    rumble = p.derumble and a.rumble_db > -18.0
    hum = p.dehum and a.hum_hz is not None
    if rumble or hum or abs(a.dc_offset) > 0.002:
        why = []
        if rumble:
            why.append(f"energy below 60 Hz is {a.rumble_db} dB of the total")
        if hum:
            why.append(f"{a.hum_hz} Hz hum")
        if abs(a.dc_offset) > 0.002:
            why.append(f"DC offset {a.dc_offset}")
        steps.append(
            FilterStep(
                "highpass",
                {"f": 60 if (rumble or hum) else 20, "poles": 2},
                "remove rumble: " + ", ".join(why),
                {"rumble_db": a.rumble_db, "dc_offset": a.dc_offset},
            )
        )
    if hum:
        assert a.hum_hz is not None
        harmonics = a.hum_harmonics or [
            (k, float(a.hum_hz * k), a.hum_prominence_db.get(str(a.hum_hz), 0.0)) for k in (1, 2, 3)
        ]
        for k, freq, prominence in harmonics:
            steps.append(
                FilterStep(
                    "bandreject",
                    {"f": round(float(freq), 1), "width_type": "q", "w": 30},
                    f"notch mains hum harmonic {k} at {float(freq):.1f} Hz (it stands {prominence} dB above the bands beside it)",
                    {"hum_hz": a.hum_hz, "harmonic": k, "prominence_db": prominence},
                )
            )
    level = denoise_level(options)
    speech = a.content in SPEECH_KINDS
    snr = _speech_to_noise(a)
    if level == "off":
        pass
    elif not speech:
        if a.content not in ("unknown", "silence"):
            notes.append(f"no speech found (content: {a.content}): noise reduction would dull it, so it does not run")
    elif snr >= CLEAN_SNR_DB:
        notes.append(f"the speech is already clean (noise {snr:.0f} dB under it): no noise reduction")
    else:
        steps.append(_denoise_step(a, level, snr))
    one_turn = a.speech_spread_lu is None and a.speech_seconds < LEVELER_ONE_TURN_MAX_S
    if speech and p.leveler > 0 and one_turn and a.speech_lufs is not None:
        notes.append(
            f"{a.speech_seconds:g} s of speech without a pause of a second: one turn, nothing to level "
            "against, so no leveler"
        )
    elif speech and p.leveler > 0 and a.speech_seconds >= 3.0 and a.speech_lufs is not None:
        strength = round(p.leveler, 2)
        steps.append(
            FilterStep(
                "leveler",
                {
                    "reference_lufs": round(a.speech_lufs, 1),
                    "strength": strength,
                    "max_boost_db": 12.0,
                    "max_cut_db": 12.0,
                },
                f"level speech segments against each other (strength {strength:g}; spread between segments measured "
                f"{_fmt_lu(a.speech_spread_lu)}); pauses are not raised",
                {"speech_lufs": a.speech_lufs, "speech_spread_lu": a.speech_spread_lu},
            )
        )
    if speech and p.compression > 0 and a.speech_lufs is not None:
        # The target leaves (ceiling - target) dB between the speech's loudness and the true-peak ceiling.
        # Peaks that would not fit are compressed gently, from a little below that room, so that the final
        # limiter has at most a dB or two left to take.
        c = p.compression
        ratio = round(1.0 + 3.0 * c, 2)
        room = options.ceiling - options.target
        offset = round(room - 2.5 * c, 1)
        speech_level = _clean_speech_lufs(a, snr)
        steps.append(
            FilterStep(
                "compressor",
                {
                    "threshold_dbfs": round(max(-60.0, min(0.0, speech_level + offset)), 1),
                    "ratio": ratio,
                    "release_ms": 50,
                },
                f"gentle {ratio:g}:1 compression of the peaks more than {offset:g} dB above the speech level (the target "
                f"leaves {room:g} dB up to the ceiling), so the final limiter has little to do",
                {"speech_lufs": a.speech_lufs, "true_peak_dbtp": a.true_peak_dbtp},
            )
        )
    return ordered(steps)  # the chain order is the registry's (engine/filters.py)


def _clean_speech_lufs(a: AudioMeasurements, snr: float) -> float:
    """Speech loudness without the noise that was measured with it (the denoiser takes the noise away)."""
    speech = a.speech_lufs if a.speech_lufs is not None else a.integrated_lufs
    if 0.5 < snr < 20.0:
        speech += 10 * math.log10(1.0 - 10 ** (-snr / 10.0))
    return speech


def _fmt_lu(x: float | None) -> str:
    return f"{x:g} LU" if x is not None else "n/a (too few segments)"


def _denoise_step(a: AudioMeasurements, level: str, snr: float) -> FilterStep:
    from mediaenhancer_core.engine.denoiser import unavailable_reason  # noqa: PLC0415 - cheap: looks for the packages

    if level == "normal" and a.content == "speech+music":
        level = "light"  # music under the speech: keep it
    if level == "light":
        atten = LIGHT_ATTEN_DB
    elif level == "strong":
        atten = 100.0
    else:
        atten = round(min(100.0, max(NORMAL_MIN_ATTEN_DB, NORMAL_BELOW_SPEECH_DB - snr)), 1)
    where = "in the pauses" if a.speech_to_noise_db is not None else "in the quietest parts"
    floor = a.pause_floor_lufs if a.pause_floor_lufs is not None else a.noise_floor_lufs
    measured = {"noise_lufs": floor, "speech_to_noise_db": snr, "content": a.content}
    why = f"speech with noise {where} at {floor} LUFS, {snr:.1f} dB under the speech"
    missing = unavailable_reason()
    if missing is None:
        cap = "no cap" if atten >= 100 else f"noise lowered by at most {atten:g} dB"
        return FilterStep(
            "deepfilternet",
            {"atten_lim_db": atten, "level": level},
            f"{why}: neural noise reduction (DeepFilterNet3, --denoise {level}: {cap}); the result is measured after rendering",
            measured,
        )
    return afftdn_fallback(a, level, snr, f"{why}; neural denoiser unavailable ({missing})")


def afftdn_fallback(a: AudioMeasurements, level: str, snr: float, why: str) -> FilterStep:
    """The classic FFT denoiser, for when the model cannot run (or cannot be used, as in exports)."""
    nr = {"light": 8.0, "strong": 24.0}.get(level, min(24.0, max(8.0, 8.0 + (30.0 - snr) * 0.5)))
    floor = a.pause_floor_lufs if a.pause_floor_lufs is not None else a.noise_floor_lufs
    nf = min(-20.0, max(-80.0, floor))
    return FilterStep(
        "afftdn",
        {"nr": _r(nr, 1), "nf": _r(nf, 1)},
        f"{why}: FFT noise reduction (afftdn, strength {nr:g}); the result is measured after rendering",
        {"noise_lufs": floor, "integrated_lufs": a.integrated_lufs, "snr_db": _r(snr, 1)},
    )


def ffmpeg_only(steps: list[FilterStep], a: AudioMeasurements | None) -> list[FilterStep]:
    """The plan's audio steps that ffmpeg runs by itself (exports): the neural denoiser becomes its
    afftdn fallback; the other steps the registry keeps out of exports (leveler, compressor) are left out."""
    out = []
    for s in steps:
        if s.filter == "deepfilternet" and a is not None:
            level = str(s.params.get("level", "normal"))
            out.append(
                afftdn_fallback(a, level, _speech_to_noise(a), "speech with noise (export: ffmpeg filters only)")
            )
        elif exportable(s.filter):
            out.append(s)
    return out


def loudness_plan(a: AudioMeasurements, options: EnhanceOptions, steps: list[FilterStep] | None = None) -> Loudness:
    target, ceiling = options.target, options.ceiling
    if a.integrated_lufs <= -69.0:
        return Loudness(
            target_lufs=target,
            true_peak_dbtp=ceiling,
            measured_lufs=a.integrated_lufs,
            measured_true_peak=a.true_peak_dbtp,
            estimated_gain_db=0.0,
            mode="linear",
            reason="the audio is silent: no gain applied",
        )
    gain = target - a.integrated_lufs
    predicted = a.true_peak_dbtp + gain
    compressed = any(s.filter == "compressor" for s in steps or [])
    if predicted <= ceiling:
        mode = "linear"
        reason = (
            f"linear gain {gain:+.1f} dB ({a.integrated_lufs} → {target:g} LUFS); peaks reach about {predicted:.1f} dBTP, "
            f"under the {ceiling:g} dBTP ceiling, so no limiting. The exact gain is set from the loudness measured "
            "after the cleanup"
        )
    else:
        mode = "linear+limiter"
        reason = (
            f"linear gain {gain:+.1f} dB ({a.integrated_lufs} → {target:g} LUFS); the input's peaks would reach "
            f"{predicted:.1f} dBTP, above the {ceiling:g} dBTP ceiling: "
            + (
                "the compressor lowers them first, and a true-peak limiter (4x oversampled) catches what is left"
                if compressed
                else f"a true-peak limiter (4x oversampled, no pumping) catches the {predicted - ceiling:.1f} dB excess"
            )
            + ". The exact gain is set from the loudness measured after the cleanup"
        )
    return Loudness(
        target_lufs=target,
        true_peak_dbtp=ceiling,
        measured_lufs=a.integrated_lufs,
        measured_true_peak=a.true_peak_dbtp,
        estimated_gain_db=_r(gain),
        mode=mode,
        reason=reason,
    )


# --------------------------------------------------------------------------- video


def video_chain(v: VideoMeasurements, options: EnhanceOptions) -> list[FilterStep]:
    p = options.preset
    steps: list[FilterStep] = []
    if options.stabilize:
        steps.append(
            FilterStep(
                "vidstabtransform",
                {"smoothing": 15, "zoom": 0, "optzoom": 1, "interpol": "bicubic", "crop": "black"},
                "--stabilize: smooth the camera path measured by vidstabdetect in the analysis pass",
                {},
            )
        )
    denoised = False
    restore = 0.0
    colour: list[FilterStep] = []
    if p.video and v.sampled_frames > 0:
        colour = [st for st in (_levels(v), cast_step(v) if v.picture else _cast(v)) if st is not None]
        if not visible_change(colour, v):  # changes under 2 levels everywhere are not worth a re-encode
            colour = []
    # the grain is judged as it will be seen: a contrast stretch after the denoise amplifies it
    stretch = next((float(st.params.get("contrast", 1.0)) for st in colour if st.filter == "eq"), 1.0)
    if p.video:
        # always before levels (registry order): the stretch would amplify the grain
        dn = denoise_steps(v, stretch, fft=options.fast_fftdnoiz)
        if dn:
            steps += dn
            denoised = True
            restore = restore_sharpen(v, stretch, fft=options.fast_fftdnoiz) if p.sharpen else 0.0
    steps += colour
    scaled_up = False
    if options.resolution:
        height = RESOLUTIONS[options.resolution]
        if height != v.height:
            scaled_up = height > v.height
            steps.append(
                FilterStep(
                    "scale",
                    {"w": -2, "h": height, "flags": "lanczos"},
                    f"--resolution {options.resolution}: {v.width}x{v.height} → {height} lines",
                    {"height": v.height},
                )
            )
    if options.fps and abs(options.fps - v.fps) > 0.01:
        steps.append(
            FilterStep("fps", {"fps": _r(options.fps, 3)}, f"--fps: {v.fps:g} → {options.fps:g} fps", {"fps": v.fps})
        )
    # Sharpening a denoised picture brings the noise back; sharpen only what scaling or
    # stabilisation's interpolation softened.
    # After a luma denoise a mild unsharp gives back the edge contrast the denoiser took (picture_plan).
    if restore or (p.sharpen and (scaled_up or options.stabilize) and (denoised or not is_noisy(v, stretch))):
        amount = 0.6 if scaled_up else 0.4
        if denoised:
            amount *= 0.5
        amount = max(amount if (scaled_up or options.stabilize) else 0.0, restore)
        why = "restore detail softened by " + " and ".join(
            w
            for w, on in (
                ("denoising", restore),
                ("upscaling", scaled_up),
                ("stabilisation", options.stabilize and not scaled_up),
            )
            if on
        )
        steps.append(
            FilterStep(
                "unsharp",
                {
                    "luma_msize_x": RESTORE_SIZE if restore else 5,
                    "luma_msize_y": RESTORE_SIZE if restore else 5,
                    "luma_amount": amount,
                    "chroma_msize_x": 3,
                    "chroma_msize_y": 3,
                    "chroma_amount": 0.0,
                },
                why,
                {"noise_sigma": v.noise_sigma},
            )
        )
    return ordered(steps)  # the chain order is the registry's (engine/filters.py)


def _levels(v: VideoMeasurements) -> FilterStep | None:
    if v.contrast < 0.05:
        return None  # a flat picture (slate, black, one colour): nothing to correct
    black, white = (0.0, 1.0) if v.full_range else (16 / 255, 235 / 255)
    lo, hi = v.luma_min, v.luma_max
    if v.picture:  # black and white points from the histogram of decoded frames (0.5 and 99.5%)
        lo, hi = v.picture["black_point"] / 255.0, v.picture["white_point"] / 255.0
    contrast, brightness, gamma, saturation = 1.0, 0.0, 1.0, 1.0
    why: list[str] = []
    # stretch only a picture that uses under three quarters of the range (a clean clip with a
    # dim white point is left as shot)
    if hi - lo > 0.05 and (lo > black + 0.1 or hi < white - 0.1) and (hi - lo) < 0.75 * (white - black):
        t_lo = black + 0.35 * max(0.0, lo - black)  # pull most of the way, not all: keep some air
        t_hi = white - 0.35 * max(0.0, white - hi)
        contrast = min(1.4, max(1.0, (t_hi - t_lo) / (hi - lo)))
        # the middle of the picture's range goes to the middle of the target range: when the
        # stretch is capped, a dim picture is then lifted rather than left pinned to black
        brightness = (t_lo + t_hi) / 2 - (contrast * ((lo + hi) / 2 - 0.5) + 0.5)
        brightness = min(0.15, max(-0.15, brightness))
        why.append(f"levels span only {lo:.2f}–{hi:.2f}: stretch contrast ×{contrast:.2f}")
    mean = contrast * (v.brightness - 0.5) + 0.5 + brightness
    if 0.02 < mean < 0.36:
        gamma = min(1.5, max(1.0, math.log(mean) / math.log(0.42)))
        why.append(f"picture is dark (mean luma {v.brightness:.2f}): gamma {gamma:.2f}")
    elif mean > 0.72:
        gamma = max(0.8, min(1.0, math.log(mean) / math.log(0.6)))
        why.append(f"picture is bright (mean luma {v.brightness:.2f}): gamma {gamma:.2f}")
    # Muted colour alone is no evidence: a white subject (tests/data/media/video-cockatoo-3s.mp4, clean,
    # reads 0.05) or an overcast day is muted as shot, and a ×1.3 boost re-encoded such clips for a change
    # that is not a correction. Colour is lifted only in a picture whose levels are washed out too (the
    # stretch above found a narrow range), where fading took the colour down with the contrast.
    if contrast > 1.0 and 0.01 < v.saturation < 0.06:
        saturation = min(1.3, 0.15 / v.saturation)
        why.append(f"colours are dull (saturation {v.saturation:.2f}): saturation ×{saturation:.2f}")
    if not why:
        return None
    return FilterStep(
        "eq",
        {
            "contrast": _r(contrast, 3),
            "brightness": _r(brightness, 3),
            "saturation": _r(saturation, 3),
            "gamma": _r(gamma, 3),
        },
        "; ".join(why),
        {
            "luma_min": v.luma_min,
            "luma_max": v.luma_max,
            "brightness": v.brightness,
            "saturation": v.saturation,
        },
    )


def _cast(v: VideoMeasurements) -> FilterStep | None:
    if max(abs(v.cast_u), abs(v.cast_v)) < 0.05:
        return None
    neutral = 1 << (v.bit_depth - 1)
    du = round(v.cast_u * neutral * 0.8)
    dv = round(v.cast_v * neutral * 0.8)
    return FilterStep(
        "lutyuv",
        {"u": f"clip(val-({du}),minval,maxval)", "v": f"clip(val-({dv}),minval,maxval)"},
        f"colour cast (U {v.cast_u:+.3f}, V {v.cast_v:+.3f} from neutral): shift chroma back by {du}/{dv}",
        {"cast_u": v.cast_u, "cast_v": v.cast_v},
    )


# --------------------------------------------------------------------------- trimming

TRIM_MIN_SILENCE = 1.0  # only pauses between speech longer than this are shortened
TRIM_KEEP_PAD = 0.25  # seconds of each pause kept next to the speech on either side
TRIM_MAX_SHARE = 0.5  # cuts that would remove more than this share of the clip are not made


def plan_trim(analysis: Analysis, options: EnhanceOptions, notes: list[str] | None = None) -> Trim | None:
    """Cut pauses between detected speech (never inside it). The picture is never cut on the sound's
    say-so alone: without speech, or when the cuts would take more than half, nothing is cut."""
    notes = notes if notes is not None else []
    a = analysis.audio
    if a is None:
        notes.append("--trim-silence: the file has no sound to find pauses in; nothing trimmed")
        return None
    duration = analysis.info.duration
    if a.content not in SPEECH_KINDS or not a.speech_spans:
        notes.append(f"--trim-silence: no speech found (content: {a.content}); the clip is kept whole")
        return None
    frame = 1.0 / analysis.video.fps if analysis.video and analysis.video.fps else 0.0

    def snap(t: float, way: str = "near") -> float:
        if frame:
            n = t / frame
            n = math.ceil(n - 1e-9) if way == "up" else math.floor(n + 1e-9) if way == "down" else round(n)
            t = n * frame
        return round(min(max(t, 0.0), duration), 4)

    speech = sorted(a.speech_spans)
    gaps = [(0.0, speech[0][0], "lead")]
    gaps += [(speech[i][1], speech[i + 1][0], "pause") for i in range(len(speech) - 1)]
    gaps.append((speech[-1][1], duration, "tail"))
    cut: list[tuple[float, float]] = []
    for start, end, kind in gaps:
        if end - start < TRIM_MIN_SILENCE:
            continue
        # a cut starts after the pad that follows speech and ends before the pad that precedes it;
        # snapping to frames only ever moves it away from the speech
        a1 = 0.0 if kind == "lead" else snap(start + TRIM_KEEP_PAD, "up")
        b1 = snap(duration) if kind == "tail" else snap(end - TRIM_KEEP_PAD, "down")
        if b1 - a1 >= 0.2:
            cut.append((a1, b1))
    if not cut:
        notes.append(f"--trim-silence: no pause between speech longer than {TRIM_MIN_SILENCE:g} s; nothing trimmed")
        return None
    keep: list[tuple[float, float]] = []
    pos = 0.0
    for a1, b1 in cut:
        if a1 > pos:
            keep.append((pos, a1))
        pos = b1
    if pos < duration:
        keep.append((pos, snap(duration) if frame else duration))
    keep = [(s, e) for s, e in keep if e - s >= 0.05]
    removed = duration - sum(e - s for s, e in keep)
    if not keep or removed > TRIM_MAX_SHARE * duration:
        notes.append(
            f"--trim-silence: the cuts would remove {removed:.1f} of {duration:.1f} s, more than half; "
            "the clip is kept whole"
        )
        return None
    return Trim(
        keep=keep,
        removed_seconds=round(removed, 3),
        reason=f"shorten {len(cut)} pauses between speech longer than {TRIM_MIN_SILENCE:g} s, keeping "
        f"{TRIM_KEEP_PAD:g} s next to the speech (voice activity detection): {removed:.1f} s removed",
    )
