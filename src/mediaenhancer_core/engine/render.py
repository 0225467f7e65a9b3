"""Rendering a plan with ffmpeg: ONE render pass over the input, then a mux step.

When the plan has Python audio steps (neural denoising, leveler, compressor: see
``audiostage.py``), the render pass sends its cleaned audio as 48 kHz float PCM through
a pipe instead; the steps run on the stream, and a second ffmpeg reading their output
measures it with ``ebur128`` and writes the float audio intermediate. The rest is the
same.

The render pass decodes the input once, runs the cleanup filters (trim, audio
cleanup, picture filters), encodes the picture when it changes, and writes the
cleaned audio as 32-bit float to a NUT intermediate while ``ebur128`` measures it.
The mux step then applies the loudness gain — computed from that exact
measurement, so noise reduction and the other cleanups can never push the result
off target — plus a 4x-oversampled true-peak limiter only where the measured peaks
need one, encodes the audio, and muxes it with the picture (copied straight from
the input when no picture change was planned). The output is written to a hidden
temporary file and renamed into place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.ffmpeg import PIPE_OUT, CancelToken, FFmpegTools, run
from mediaenhancer_core.engine.filtergraph import filter_str
from mediaenhancer_core.engine.filters import FILTERS
from mediaenhancer_core.engine.plan import FilterStep, Loudness, OutputSpec, Plan
from mediaenhancer_core.engine.probe import MediaInfo
from mediaenhancer_core.errors import CancelledError, RenderError
from mediaenhancer_core.files import atomic_output

__all__ = [
    "render",
    "render_pass",
    "finalize",
    "MuxSource",
    "RenderResult",
    "AudioAfter",
    "LOSSY_MARGIN_DB",
    "audio_filters",
]

LOSSY_MARGIN_DB = 0.5  # headroom for the peaks lossy encoders add, at standard bitrates and above
# lower bitrates add bigger overshoots (seen: about 1 dB with AAC at 48 kb/s per channel)
LOSSY_MARGIN_BY_QUALITY = {"draft": 1.2, "standard": 0.7, "high": 0.5, "archive": 0.4}
LOSSLESS_MARGIN_DB = 0.1
LOSSLESS = {"pcm_s16le", "pcm_s24le", "flac", "alac"}
LOUDNESS_TOLERANCE = 0.2  # LU
MAX_SEARCH_PASSES = 6  # audio-only passes to find the gain when the limiter takes loudness

Progress = Callable[[str, float, float], None]  # phase, seconds done, seconds total


@dataclass
class AudioAfter:
    integrated_lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    gain_db: float
    limiter: bool
    limiter_ceiling_dbtp: float | None
    cleaned_lufs: float
    cleaned_true_peak: float
    mux_passes: int
    warning: str | None = None
    limiter_db: float = 0.0  # how far the true peaks went over the limiter's ceiling (what it took off)
    stage: dict[str, Any] | None = None  # what the Python audio steps reported

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RenderResult:
    output: Path
    duration: float
    audio: AudioAfter | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "duration": self.duration,
            "audio": self.audio.to_dict() if self.audio else None,
        }


_SUMMARY = re.compile(r"^\[ebur128@(?P<inst>\w+) @ 0x[0-9a-f]+\] Summary:")
_I = re.compile(r"^\s*I:\s*(-?[\d.]+|-inf) LUFS")
_LRA = re.compile(r"^\s*LRA:\s*(-?[\d.]+) LU")
_PEAK = re.compile(r"^\s*Peak:\s*(-?[\d.]+|-inf) dBFS")


class _Loudness:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, float]] = {}
        self._inst: str | None = None

    def feed(self, line: str) -> bool:
        m = _SUMMARY.match(line)
        if m:
            self._inst = m.group("inst")
            self.values[self._inst] = {}
            return False
        if line.startswith("["):
            self._inst = None
            return False
        if self._inst is not None:
            for key, rx in (("I", _I), ("LRA", _LRA), ("Peak", _PEAK)):
                mm = rx.match(line)
                if mm:
                    self.values[self._inst][key] = float(mm.group(1))
        return False

    def get(self, inst: str) -> dict[str, float]:
        return self.values.get(inst, {})


AFFTDN_DELAY = 1200  # samples at 48 kHz: afftdn's output is this late (ffmpeg 5.1 and 9 alike, measured)


def _steps(steps: list[FilterStep], motion: Path | None) -> list[str]:
    out = []
    for s in steps:
        spec = FILTERS.get(s.filter)
        if spec is None or spec.stage != "ffmpeg":  # plan validation keeps these out; a plan built in code too
            raise RenderError(f"{s.filter!r} is not an ffmpeg filter of the registry (engine/filters.py)")
        params = dict(s.params)
        if s.filter == "vidstabtransform":
            if motion is None:
                raise RenderError("stabilisation needs the motion analysis; run without --plan or add --stabilize")
            params = {"input": str(motion), **params}
        if s.filter == "afftdn":
            # Noise tracking (tn=1) barely reduces stationary noise on speech (1-3 dB against 9-13 dB in the
            # pauses, measured): it is left off, also for plans written before. The filter's delay is taken
            # back to the sample: pad the end, drop as many samples from the start (the chain runs at 48 kHz).
            params.pop("tn", None)
            out += [
                filter_str("apad", {"pad_len": AFFTDN_DELAY}),
                filter_str(s.filter, params),
                filter_str("atrim", {"start_sample": AFFTDN_DELAY}),
                "asetpts=PTS-STARTPTS",
            ]
            continue
        out.append(filter_str(s.filter, params))
    return out


def audio_filters(steps: list[FilterStep]) -> list[str]:
    """ffmpeg filters for audio steps that ffmpeg runs (the chain must be at 48 kHz for afftdn)."""
    return _steps(steps, None)


def _audio_chain(plan: Plan) -> list[str]:
    """The ffmpeg part of the audio steps; at 48 kHz float when afftdn or a Python step needs it."""
    from mediaenhancer_core.engine.audiostage import ffmpeg_steps, python_steps  # noqa: PLC0415

    chain = _steps(ffmpeg_steps(plan.audio_steps), None)
    if python_steps(plan.audio_steps) or any(s.filter == "afftdn" for s in plan.audio_steps):
        chain = [
            filter_str("aresample", {"out_sample_rate": 48000}),
            filter_str("aformat", {"sample_fmts": "flt"}),
            *chain,
        ]
    return chain


def _render_graph(
    plan: Plan,
    info: MediaInfo,
    motion: Path | None,
    encode_video: bool,
    subtitles: Path | None = None,
    render_audio: bool = True,
) -> tuple[str, bool]:
    """The filtergraph of the render pass; returns it and whether it has a video output."""
    parts: list[str] = []
    a_in = f"[0:{info.audio.index}]" if (info.audio and render_audio) else None
    v_in = f"[0:{info.video.index}]" if (info.video and encode_video) else None
    if plan.trim:
        n = len(plan.trim.keep)
        streams = []
        if v_in:
            parts.append(f"{v_in}split={n}" + "".join(f"[tv{i}]" for i in range(n)))
        if a_in:
            parts.append(f"{a_in}asplit={n}" + "".join(f"[ta{i}]" for i in range(n)))
        for i, (s, e) in enumerate(plan.trim.keep):
            seg = []
            if v_in:
                parts.append(f"[tv{i}]trim=start={s}:end={e},setpts=PTS-STARTPTS[sv{i}]")
                seg.append(f"[sv{i}]")
            if a_in:
                parts.append(f"[ta{i}]atrim=start={s}:end={e},asetpts=PTS-STARTPTS[sa{i}]")
                seg.append(f"[sa{i}]")
            streams.append("".join(seg))
        outs = ("[cv]" if v_in else "") + ("[ca]" if a_in else "")
        parts.append("".join(streams) + f"concat=n={n}:v={1 if v_in else 0}:a={1 if a_in else 0}{outs}")
        if v_in:
            v_in = "[cv]"
        if a_in:
            a_in = "[ca]"
    if a_in:
        from mediaenhancer_core.engine.audiostage import python_steps  # noqa: PLC0415

        chain = _audio_chain(plan)
        if not python_steps(plan.audio_steps):  # with Python steps, the second ffmpeg measures
            chain.append(filter_str("ebur128", {"peak": "true", "framelog": "verbose"}, instance="clean"))
        parts.append(a_in + ",".join(chain or ["anull"]) + "[aout]")
    if v_in:
        chain = _steps(plan.video_steps, motion)
        if plan.burn_in:  # last, after scaling: the text is sized for the output picture
            if subtitles is None:
                raise RenderError("the plan burns in subtitles, but none were made; run with --subtitles")
            from mediaenhancer_core.engine.subtitles import burn_in_filter  # noqa: PLC0415

            chain.append(burn_in_filter(subtitles))
        parts.append(v_in + ",".join(chain or ["null"]) + "[vout]")
    return ";".join(parts), bool(v_in)


@dataclass
class MuxSource:
    """Where the mux step takes its streams from."""

    intermediate: Path | None  # the render pass output: cleaned float audio, and the picture if encoded
    intermediate_has_video: bool
    audio: Path | None = None  # the cleaned float audio, when it is not in `intermediate` (Python steps)
    copy_video: tuple[Path, int] | None = None  # (file, stream index) whose picture is copied as is
    copy_audio: tuple[Path, int] | None = None  # (file, stream index) whose sound is copied as is (issue 12)
    metadata_from: Path | None = None  # global metadata (and chapters, unless edited) from this file
    keep_chapters: bool = True
    duration: float = 0.0
    fps: float = 0.0


def render_pass(
    inputs: list[Path],
    graph: str,
    out: OutputSpec,
    tools: FFmpegTools,
    intermediate: Path,
    *,
    has_video: bool,
    has_audio: bool,
    on_progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    path: Path | None = None,
    input_args: list[list[str]] | None = None,
    stage: Any = None,
) -> dict[str, float]:
    """Run ``graph`` (outputs ``[vout]``/``[aout]``; ``[aout]`` ends in ``ebur128@clean``) once.

    ``input_args`` are per-input options (e.g. ``-ss``/``-t``). Returns the loudness
    measured on the cleaned audio.
    """
    threads = ["-threads", str(tools.threads)] if tools.threads else []
    args = [str(tools.ffmpeg), "-y", *threads]
    for i, p in enumerate(inputs):
        args += [*(input_args[i] if input_args else []), "-i", str(p)]
    args += ["-filter_complex", graph]
    if stage is not None:
        return _render_with_stage(
            args,
            stage,
            out,
            tools,
            intermediate,
            has_video=has_video,
            has_audio=has_audio,
            on_progress=on_progress,
            cancel=cancel,
            path=path,
        )
    if has_video:
        args += ["-map", "[vout]", "-c:v", out.video_codec or "libx264", *out.video_args]
    if has_audio:
        args += ["-map", "[aout]", "-c:a", "pcm_f32le"]
    args += ["-map_metadata", "-1", "-f", "nut", str(intermediate)]
    measure = _Loudness()
    run(args, keep=measure.feed, on_progress=on_progress, cancel=cancel, what="render", path=path)
    return measure.get("clean")


def _render_with_stage(
    args: list[str],
    stage: Any,
    out: OutputSpec,
    tools: FFmpegTools,
    intermediate: Path,
    *,
    has_video: bool,
    has_audio: bool,
    on_progress: Callable[[float], None] | None,
    cancel: CancelToken | None,
    path: Path | None,
) -> dict[str, float]:
    """Render pass whose audio goes through the Python stage: ffmpeg (decode, filters, picture) ->
    pipe -> stage -> ffmpeg (ebur128, float intermediate ``<intermediate>.audio.nut``)."""
    import threading  # noqa: PLC0415

    from mediaenhancer_core.engine.audiostage import RATE  # noqa: PLC0415

    channels = stage.channels
    if has_video:
        args += [
            "-map",
            "[vout]",
            "-c:v",
            out.video_codec or "libx264",
            *out.video_args,
            "-an",
            "-map_metadata",
            "-1",
            "-f",
            "nut",
            str(intermediate),
        ]
    args += ["-map", "[aout]", "-c:a", "pcm_f32le", "-ar", str(RATE), "-ac", str(channels), "-f", "f32le", PIPE_OUT]
    audio_file = audio_intermediate(intermediate)
    writer = [
        str(tools.ffmpeg),
        "-y",
        "-f",
        "f32le",
        "-ar",
        str(RATE),
        "-ac",
        str(channels),
        "-i",
        "pipe:0",
        "-af",
        filter_str("ebur128", {"peak": "true", "framelog": "verbose"}, instance="clean"),
        "-c:a",
        "pcm_f32le",
        "-map_metadata",
        "-1",
        "-f",
        "nut",
        str(audio_file),
    ]
    measure = _Loudness()
    failure: list[BaseException] = []

    def measure_side() -> None:
        try:
            run(writer, keep=measure.feed, cancel=cancel, what="audio stage", path=path, write_stdin=stage.write)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure.append(exc)
            stage.abort()

    side = threading.Thread(target=measure_side, name="audio-stage-writer", daemon=True)
    side.start()
    try:
        run(args, on_progress=on_progress, cancel=cancel, what="render", path=path, read_pipe=stage.read)
    except BaseException:
        stage.abort()
        side.join()
        if failure and not isinstance(failure[0], CancelledError):
            raise failure[0] from None
        raise
    side.join()
    if failure:
        raise failure[0]
    return measure.get("clean")


def audio_intermediate(intermediate: Path) -> Path:
    return intermediate.with_name(intermediate.stem + ".audio.nut")


def finalize(
    out: OutputSpec,
    loud: Loudness | None,
    clean: dict[str, float] | None,
    source: MuxSource,
    dest: Path,
    tools: FFmpegTools,
    *,
    on_progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    path: Path | None = None,
) -> AudioAfter | None:
    """The mux step: exact loudness gain (+ true-peak limiter where needed), encode, write atomically.

    With linear gain the result is known from the measurement of the cleaned audio. When the
    limiter is needed, it takes some loudness with the peaks (a lot, on programmes made of
    loud transients): cheap audio-only passes find the gain that lands on the target (secant
    steps; loudness rises with gain), then the output is written once.
    """
    with atomic_output(dest) as tmp:
        if clean is None:
            _mux(out, source, tmp, tools, None, on_progress, cancel, path)
            return None
        cleaned_i = clean.get("I", -70.0)
        cleaned_tp = clean.get("Peak", -math.inf)
        target = loud.target_lufs if loud else cleaned_i
        ceiling = loud.true_peak_dbtp if loud else 0.0
        margin = (
            LOSSLESS_MARGIN_DB
            if out.audio_codec in LOSSLESS
            else LOSSY_MARGIN_BY_QUALITY.get(out.quality, LOSSY_MARGIN_DB)
        )
        effective = ceiling - margin
        silent = cleaned_i <= -69.0 or not math.isfinite(cleaned_tp)
        gain = 0.0 if (silent or loud is None) else target - cleaned_i
        limit_at: float | None = None
        if not silent and loud is not None and cleaned_tp + gain > effective:
            limit_at = effective
        passes = 0
        if limit_at is None:
            _mux(out, source, tmp, tools, (gain, None, False), on_progress, cancel, path)
            result = {"I": cleaned_i + gain, "Peak": cleaned_tp + gain, "LRA": clean.get("LRA", 0.0)}
            passes = 1
        else:
            audio_file = source.audio or source.intermediate
            assert audio_file is not None
            tried: list[tuple[float, float]] = []  # (gain, loudness)
            for _ in range(MAX_SEARCH_PASSES):
                measured = _measure_limited(audio_file, gain, limit_at, out.sample_rate or 48000, tools, cancel, path)
                passes += 1
                level, peak = measured.get("I", -70.0), measured.get("Peak", -math.inf)
                if peak > effective + 0.05:  # resampling overshoot: pull the ceiling down by the excess
                    limit_at -= max(0.1, peak - effective)
                    tried.clear()
                    continue
                tried.append((gain, level))
                off = target - level
                if abs(off) <= LOUDNESS_TOLERANCE / 2:
                    break
                if len(tried) >= 2 and abs(tried[-1][1] - tried[-2][1]) > 0.05:
                    (g0, l0), (g1, l1) = tried[-2], tried[-1]
                    slope = max(0.05, (l1 - l0) / (g1 - g0)) if g1 != g0 else 1.0
                    step = off / slope
                else:
                    step = off
                gain += max(-12.0, min(24.0, step))
            result = _mux(out, source, tmp, tools, (gain, limit_at, True), on_progress, cancel, path)
            passes += 1
        if out.audio_codec not in LOSSLESS and loud is not None and not silent:
            # A lossy encoder adds its own overshoot to peaks that sit near the ceiling: check the file
            # itself, and tighten the limiter by what it added (once or twice; rarely needed).
            for _ in range(2):
                if result.get("Peak", -math.inf) < ceiling - margin - 1.0:
                    break  # far enough below: no codec overshoot reaches the ceiling
                written = _measure_file(tmp, tools, cancel, path).get("Peak", -math.inf)
                if written <= ceiling:
                    result["Peak"] = written
                    break
                limit_at = min(limit_at if limit_at is not None else effective, effective) - (written - ceiling) - 0.2
                result = _mux(out, source, tmp, tools, (gain, limit_at, True), on_progress, cancel, path)
                passes += 1
        peak = result.get("Peak", -120.0)
        level = result.get("I", -70.0)
        warning = None
        if loud is not None and not silent and abs(level - target) > 0.5:
            warning = (
                f"loudness {level:.1f} LUFS misses the {target:g} LUFS target: the peaks allowed by the "
                f"{ceiling:g} dBTP ceiling leave too little programme; raise --true-peak or lower --target-lufs"
            )
        return AudioAfter(
            integrated_lufs=round(level, 2),
            true_peak_dbtp=round(peak, 2) if math.isfinite(peak) else -120.0,
            loudness_range_lu=round(result.get("LRA", 0.0), 2),
            gain_db=round(gain, 2),
            limiter=limit_at is not None,
            limiter_ceiling_dbtp=round(limit_at, 2) if limit_at is not None else None,
            cleaned_lufs=round(cleaned_i, 2),
            cleaned_true_peak=round(cleaned_tp, 2) if math.isfinite(cleaned_tp) else -120.0,
            mux_passes=passes,
            warning=warning,
            limiter_db=round(max(0.0, cleaned_tp + gain - limit_at), 2)
            if limit_at is not None and math.isfinite(cleaned_tp)
            else 0.0,
        )


def _limiter_chain(gain: float, limit_at: float | None, rate: int) -> list[str]:
    chain = [filter_str("volume", {"volume": f"{gain:.3f}dB"})]
    if limit_at is not None:
        chain += [
            filter_str("aresample", {"out_sample_rate": 192000}),
            filter_str(
                "alimiter", {"limit": 10 ** (limit_at / 20.0), "attack": 5, "release": 50, "level": 0, "latency": 1}
            ),
        ]
    chain.append(filter_str("aresample", {"out_sample_rate": rate}))
    return chain


def _measure_file(path_: Path, tools: FFmpegTools, cancel: CancelToken | None, path: Path | None) -> dict[str, float]:
    """True peak and loudness of a written file's sound (decoded: what a player will play)."""
    args = [
        str(tools.ffmpeg),
        "-i",
        str(path_),
        "-map",
        "0:a:0",
        "-af",
        filter_str("ebur128", {"peak": "true", "framelog": "verbose"}, instance="final"),
        "-f",
        "null",
        "-",
    ]
    measure = _Loudness()
    run(args, keep=measure.feed, cancel=cancel, what="output check", path=path)
    return measure.get("final")


def _measure_limited(
    intermediate: Path,
    gain: float,
    limit_at: float,
    rate: int,
    tools: FFmpegTools,
    cancel: CancelToken | None,
    path: Path | None,
) -> dict[str, float]:
    """Loudness and true peak of the cleaned audio after gain and limiter, without writing anything."""
    chain = [
        *_limiter_chain(gain, limit_at, rate),
        filter_str("ebur128", {"peak": "true", "framelog": "verbose"}, instance="final"),
    ]
    args = [str(tools.ffmpeg), "-i", str(intermediate), "-map", "0:a", "-af", ",".join(chain), "-f", "null", "-"]
    measure = _Loudness()
    run(args, keep=measure.feed, cancel=cancel, what="loudness search", path=path)
    return measure.get("final")


def render(
    plan: Plan,
    src: Path,
    info: MediaInfo,
    dest: Path,
    tools: FFmpegTools,
    workdir: Path,
    *,
    motion: Path | None = None,
    subtitles: Path | None = None,
    on_progress: Progress | None = None,
    cancel: CancelToken | None = None,
    stage_workers: int = 1,
) -> RenderResult:
    """Render ``plan``; ``subtitles`` is the SRT file drawn in when ``plan.burn_in``; ``stage_workers``
    threads run the neural denoiser (each holds a block of about 90 MB)."""
    out = plan.output
    encode_video = out.video == "encode" and info.has_video
    copy_video = out.video == "copy" and info.has_video
    if copy_video and plan.trim:
        raise RenderError(f"{src}: trimming needs the video re-encoded; the plan copies it", path=src)
    copy_audio = out.audio == "copy" and info.audio is not None  # a job type that leaves the sound alone
    if copy_audio and plan.trim:
        raise RenderError(f"{src}: trimming needs the audio re-encoded; the plan copies it", path=src)
    has_audio = info.has_audio and out.audio_codec is not None and not copy_audio
    duration = sum(e - s for s, e in plan.trim.keep) if plan.trim else info.duration

    def progress(phase: str) -> Callable[[float], None]:
        return lambda secs: on_progress(phase, min(secs, duration), duration) if on_progress else None

    intermediate = workdir / "render.nut"
    clean: dict[str, float] | None = None
    stage = None
    if has_audio:
        from mediaenhancer_core.engine.audiostage import AudioStage, python_steps  # noqa: PLC0415

        steps = python_steps(plan.audio_steps)
        if steps:
            stage = AudioStage(steps, _stage_channels(info), workers=stage_workers)
    if has_audio or encode_video:
        graph, has_v = _render_graph(plan, info, motion, encode_video, subtitles, render_audio=has_audio)
        clean = render_pass(
            [src],
            graph,
            out,
            tools,
            intermediate,
            has_video=has_v,
            has_audio=has_audio,
            on_progress=progress("render"),
            cancel=cancel,
            path=src,
            stage=stage,
        )
    source = MuxSource(
        intermediate=intermediate if (encode_video or (has_audio and stage is None)) else None,
        audio=audio_intermediate(intermediate) if stage is not None else None,
        intermediate_has_video=encode_video,
        copy_video=(src, info.video.index) if copy_video and info.video else None,
        copy_audio=(src, info.audio.index) if copy_audio and info.audio else None,
        metadata_from=src,
        keep_chapters=plan.trim is None,
        duration=duration,
        fps=(info.video.fps or 30.0) if info.video and out.video != "none" else 0.0,
    )
    after = finalize(
        out,
        plan.loudness,
        clean if has_audio else None,
        source,
        dest,
        tools,
        on_progress=progress("mux"),
        cancel=cancel,
        path=src,
    )
    if after is not None and stage is not None:
        after.stage = stage.report.to_dict()
    return RenderResult(output=dest, duration=round(duration, 3), audio=after)


def _stage_channels(info: MediaInfo) -> int:
    ch = info.audio.channels if info.audio and info.audio.channels else 2
    return max(1, min(8, ch))


def _mux(
    out: OutputSpec,
    source: MuxSource,
    tmp: Path,
    tools: FFmpegTools,
    loudness: tuple[float, float | None, bool] | None,
    on_progress: Callable[[float], None] | None,
    cancel: CancelToken | None,
    path: Path | None,
) -> dict[str, float]:
    args = [str(tools.ffmpeg), "-y"]
    inputs: list[Path] = []
    if source.intermediate is not None:
        inputs.append(source.intermediate)
    audio_in = source.audio or source.intermediate
    if audio_in is not None and audio_in not in inputs:
        inputs.append(audio_in)
    if source.copy_video is not None:
        inputs.append(source.copy_video[0])
    if source.copy_audio is not None and source.copy_audio[0] not in inputs:
        inputs.append(source.copy_audio[0])
    if source.metadata_from is not None and source.metadata_from not in inputs:
        inputs.append(source.metadata_from)
    for p in inputs:
        args += ["-i", str(p)]
    measure = _Loudness()
    # the picture first, as in the input: tools take stream 0 for the video
    if source.intermediate_has_video and source.intermediate is not None:
        args += ["-map", "0:v:0", "-c:v", "copy"]
    elif source.copy_video is not None:
        idx = inputs.index(source.copy_video[0])
        args += ["-map", f"{idx}:{source.copy_video[1]}", "-c:v", "copy"]
        if out.format in ("mp4", "mov") and out.video_codec == "hevc":
            args += ["-tag:v", "hvc1"]
    if source.copy_audio is not None:
        args += ["-map", f"{inputs.index(source.copy_audio[0])}:{source.copy_audio[1]}", "-c:a", "copy"]
    if loudness is not None and audio_in is not None and source.copy_audio is None:
        gain, limit_at, measure_final = loudness
        rate = out.sample_rate or 48000
        chain = _limiter_chain(gain, limit_at, rate)
        if measure_final:
            chain.append(filter_str("ebur128", {"peak": "true", "framelog": "verbose"}, instance="final"))
        args += ["-filter_complex", f"[{inputs.index(audio_in)}:a]" + ",".join(chain) + "[aout]", "-map", "[aout]"]
        args += ["-c:a", out.audio_codec or "aac", *out.audio_args, "-ar", str(rate)]
        if out.channels:
            args += ["-ac", str(out.channels)]
    if source.metadata_from is not None:
        meta = inputs.index(source.metadata_from)
        args += ["-map_metadata", str(meta), "-map_chapters", str(meta) if source.keep_chapters else "-1"]
    else:
        args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    muxer_args = list(out.muxer_args)
    faststart = "+faststart" in muxer_args
    if faststart:
        # Put the index at the front without +faststart's second copy of the whole file: reserve
        # room for it (about 14 bytes per sample, measured; 24 leaves headroom). If the
        # estimate is short, ffmpeg says so and we fall back to +faststart.
        i = muxer_args.index("+faststart")
        del muxer_args[i - 1 : i + 1]
        samples = source.duration * (source.fps + (out.sample_rate or 48000) / 1024.0)
        muxer_args += ["-moov_size", str(int(samples * 24 + 32768))]
    base = list(args)
    args = [*base, *muxer_args, "-f", _muxer(out.format), str(tmp)]
    result = run(args, keep=measure.feed, on_progress=on_progress, cancel=cancel, what="mux", path=path)
    if faststart and any("reserved_moov_size is too small" in line for line in result.tail):
        args = [*base, *out.muxer_args, "-f", _muxer(out.format), str(tmp)]
        run(args, keep=measure.feed, on_progress=on_progress, cancel=cancel, what="mux", path=path)
    return measure.get("final")


def _muxer(fmt: str) -> str:
    return {"mkv": "matroska", "m4a": "ipod", "ogg": "ogg", "opus": "opus"}.get(fmt, fmt)
