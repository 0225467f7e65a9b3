"""From measurements to a plan.

:class:`MeasurementPlanner` (the default, offline) turns an :class:`Analysis` and
the user's :class:`EnhanceOptions` into a :class:`Plan`. It is a pure function of
its inputs: no ffmpeg, no files, so every rule is unit-testable. Other planners
(e.g. the Gemini planner) implement the same :class:`Planner` protocol.

Audio chain, in order: de-clip, rumble high-pass, hum notches, noise reduction,
then loudness (linear gain, and a true-peak limiter only where the measured peaks
demand it). Video chain: stabilisation, denoise, levels/colour, colour cast,
scaling, frame rate, sharpening.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from .analysis import Analysis, AudioMeasurements, VideoMeasurements
from .formats import output_spec
from .picture_plan import cast_step, denoise_step, is_noisy, visible_change
from .plan import PLAN_VERSION, FilterStep, Loudness, Plan, Trim
from .presets import Preset

__all__ = ["EnhanceOptions", "Planner", "MeasurementPlanner", "RESOLUTIONS", "plan_trim"]

RESOLUTIONS = {"720p": 720, "1080p": 1080, "1440p": 1440, "2160p": 2160}


@dataclass(frozen=True)
class EnhanceOptions:
    preset: Preset
    target_lufs: float | None = None
    true_peak: float | None = None
    audio_only: bool = False
    denoise: bool | None = None  # None: follow the preset
    trim_silence: bool = False
    stabilize: bool = False
    burn_in: bool = False  # enhance --subtitles --burn-in: draw the subtitles into the picture
    resolution: str | None = None
    fps: float | None = None
    format: str | None = None
    quality: str = "standard"
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
        audio_steps = audio_chain(analysis.audio, options) if analysis.audio else []
        loudness = loudness_plan(analysis.audio, options) if analysis.audio else None
        video_steps: list[FilterStep] = []
        if analysis.video and not options.audio_only:
            video_steps = video_chain(analysis.video, options)
        trim = plan_trim(analysis, options) if options.trim_silence else None
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
        notes = list(options.extra_notes)
        if options.trim_silence and trim is None:
            notes.append("--trim-silence: no silence long enough to trim")
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


def audio_chain(a: AudioMeasurements, options: EnhanceOptions) -> list[FilterStep]:
    p = options.preset
    steps: list[FilterStep] = []
    if p.declip and a.clipping:
        steps.append(
            FilterStep(
                "adeclip",
                {},
                f"{a.clipped_samples} samples at full scale (peak {a.sample_peak_dbfs} dBFS): restore clipped peaks",
                {"clipped_samples": a.clipped_samples, "sample_peak_dbfs": a.sample_peak_dbfs},
            )
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
        for k in (1, 2, 3):
            steps.append(
                FilterStep(
                    "bandreject",
                    {"f": a.hum_hz * k, "width_type": "q", "w": 30},
                    f"notch mains hum harmonic {k} at {a.hum_hz * k} Hz "
                    f"(hum stands {a.hum_prominence_db[str(a.hum_hz)]} dB above its neighbours)",
                    {"hum_hz": a.hum_hz, "prominence_db": a.hum_prominence_db[str(a.hum_hz)]},
                )
            )
    denoise = p.denoise if options.denoise is None else options.denoise
    snr = a.integrated_lufs - a.noise_floor_lufs
    if denoise and a.integrated_lufs > -69 and a.noise_floor_lufs > -75 and snr < 30.0:
        nr = min(24.0, max(8.0, 8.0 + (30.0 - snr) * 0.5))
        nf = min(-20.0, max(-80.0, a.noise_floor_lufs))
        steps.append(
            FilterStep(
                "afftdn",
                {"nr": _r(nr, 1), "nf": _r(nf, 1), "tn": 1},
                f"noise floor {a.noise_floor_lufs} LUFS is only {snr:.1f} dB below the programme: reduce noise by {nr:.0f} dB",
                {"noise_floor_lufs": a.noise_floor_lufs, "integrated_lufs": a.integrated_lufs, "snr_db": _r(snr, 1)},
            )
        )
    return steps


def loudness_plan(a: AudioMeasurements, options: EnhanceOptions) -> Loudness:
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
    if predicted <= ceiling:
        mode = "linear"
        reason = (
            f"linear gain {gain:+.1f} dB ({a.integrated_lufs} → {target:g} LUFS); peaks reach about {predicted:.1f} dBTP, "
            f"under the {ceiling:g} dBTP ceiling, so no limiting. The exact gain is set from the loudness measured "
            "after the cleanup filters"
        )
    else:
        mode = "linear+limiter"
        reason = (
            f"linear gain {gain:+.1f} dB ({a.integrated_lufs} → {target:g} LUFS); peaks would reach {predicted:.1f} dBTP, "
            f"above the {ceiling:g} dBTP ceiling, so a true-peak limiter (4x oversampled, no pumping) catches the "
            f"{predicted - ceiling:.1f} dB excess"
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
    if p.video:
        dn = denoise_step(v)  # always before levels: a contrast stretch would amplify the grain
        if dn is not None:
            steps.append(dn)
            denoised = True
    if p.video and v.sampled_frames > 0:
        colour = [st for st in (_levels(v), cast_step(v) if v.picture else _cast(v)) if st is not None]
        if visible_change(colour, v):  # changes under 2 levels everywhere are not worth a re-encode
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
        steps.append(FilterStep("fps", {"fps": _r(options.fps, 3)}, f"--fps: {v.fps:g} → {options.fps:g} fps", {"fps": v.fps}))
    # Sharpening a denoised picture brings the noise back; sharpen only what scaling or
    # stabilisation's interpolation softened.
    if p.sharpen and (scaled_up or options.stabilize) and (denoised or not is_noisy(v)):
        amount = 0.6 if scaled_up else 0.4
        if denoised:
            amount *= 0.5
        why = "restore detail softened by " + ("upscaling" if scaled_up else "stabilisation")
        steps.append(
            FilterStep(
                "unsharp",
                {"luma_msize_x": 5, "luma_msize_y": 5, "luma_amount": amount, "chroma_msize_x": 3, "chroma_msize_y": 3, "chroma_amount": 0.0},
                why,
                {"noise_sigma": v.noise_sigma},
            )
        )
    return steps


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
    if 0.01 < v.saturation < 0.06:  # only washed-out colour; muted real scenes read 0.1 and up
        saturation = min(1.3, 0.15 / v.saturation)
        why.append(f"colours are dull (saturation {v.saturation:.2f}): saturation ×{saturation:.2f}")
    if not why:
        return None
    return FilterStep(
        "eq",
        {"contrast": _r(contrast, 3), "brightness": _r(brightness, 3), "saturation": _r(saturation, 3), "gamma": _r(gamma, 3)},
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

TRIM_MIN_SILENCE = 1.0  # only pauses longer than this are shortened
TRIM_KEEP_PAD = 0.25  # seconds of each pause kept on either side


def plan_trim(analysis: Analysis, options: EnhanceOptions) -> Trim | None:
    a = analysis.audio
    if a is None:
        return None
    duration = analysis.info.duration
    frame = 1.0 / analysis.video.fps if analysis.video and analysis.video.fps else 0.0

    def snap(t: float) -> float:
        if frame:
            t = round(t / frame) * frame
        return round(min(max(t, 0.0), duration), 4)

    cut: list[tuple[float, float]] = []
    for start, end in a.silence_spans:
        if end - start < TRIM_MIN_SILENCE:
            continue
        a0 = 0.0 if start <= 0.01 else start + TRIM_KEEP_PAD
        b0 = duration if end >= duration - 0.01 else end - TRIM_KEEP_PAD
        if start <= 0.01:
            b0 = end - TRIM_KEEP_PAD
        if end >= duration - 0.01:
            a0 = start + TRIM_KEEP_PAD
        a1, b1 = snap(a0), snap(b0)
        if b1 - a1 >= 0.2:
            cut.append((a1, b1))
    if not cut:
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
    if not keep:
        return None
    removed = duration - sum(e - s for s, e in keep)
    return Trim(
        keep=keep,
        removed_seconds=round(removed, 3),
        reason=f"shorten {len(cut)} pauses longer than {TRIM_MIN_SILENCE:g} s to {2 * TRIM_KEEP_PAD:g} s "
        f"(blocks quieter than {a.silence_threshold_db:g} LUFS): {removed:.1f} s removed",
    )
