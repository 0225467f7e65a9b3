"""Enhancing one file: probe, ONE analysis pass, a plan, ONE render pass.

:func:`enhance_file` never raises for a bad input: it returns a
:class:`FileResult` with ``status`` ``enhanced``, ``skipped``, ``planned``
(``--dry-run``) or ``failed`` and the error, so a batch goes on with the other
files. Interrupts (Ctrl-C) and cancellation do propagate, after ffmpeg is stopped
and temporary files are removed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mediaenhancer_core.engine.analysis import Analysis, AudioMeasurements, analyze
from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools
from mediaenhancer_core.engine.formats import FORMATS, default_format, format_for_path
from mediaenhancer_core.engine.plan import Plan
from mediaenhancer_core.engine.planner import EnhanceOptions, MeasurementPlanner, Planner
from mediaenhancer_core.engine.probe import MediaInfo, probe
from mediaenhancer_core.engine.render import render
from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir
from mediaenhancer_core.errors import CancelledError, MediaEnhancerError, OutputError, OutputSameAsInputError, PlanError
from mediaenhancer_core.files import atomic_copy

if TYPE_CHECKING:
    from mediaenhancer_core.engine.subtitles import Transcript


class SubtitleJob(Protocol):
    """What ``enhance --subtitles`` hands the engine (``ai.transcribe.SubtitleJob`` is the one there is):
    a transcript of the output-to-be, and the subtitle files written beside the output. The engine
    never imports ``ai/``; Gemini stays behind this interface."""

    def transcript(
        self,
        src: Path,
        analysis: Analysis | None,
        plan: Plan,
        tools: FFmpegTools,
        *,
        temp_dir: Path | None = None,
        cancel: CancelToken | None = None,
    ) -> Transcript: ...

    def write(self, transcript: Transcript, dest: Path) -> dict[str, Path]: ...


__all__ = [
    "EnhanceJob",
    "FileResult",
    "enhance_file",
    "analyze_file",
    "default_output_path",
    "ProgressEvent",
    "check_output_name",
    "audio_figures",
]

ENHANCED_MARK = ".enhanced"


@dataclass
class ProgressEvent:
    file: str
    phase: str  # probe, analysis, render, mux, done
    done: float  # seconds of media processed in this phase
    total: float  # seconds of media in this phase
    fraction: float  # overall 0..1 for the file


@dataclass
class EnhanceJob:
    """What to do with each file of a batch."""

    options: EnhanceOptions
    output: Path | None = None  # -o (single input only)
    out_dir: Path | None = None
    relative_to: Path | None = None  # keep sub-folders under out_dir for --recursive
    dry_run: bool = False
    plan_file: Path | None = None
    save_plan: Path | None = None
    force: bool = False
    skip_if_within: float | None = None
    subtitles: SubtitleJob | None = None  # --subtitles: transcribe (Gemini) and write NAME.enhanced.srt/.vtt


@dataclass
class FileResult:
    input: str
    status: str  # enhanced | skipped | planned | failed
    output: str | None = None
    reason: str | None = None
    error: dict[str, str] | None = None
    exit_error: MediaEnhancerError | None = field(default=None, repr=False)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    subtitles: dict[str, str] | None = None  # format -> path of the subtitle files written
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "status": self.status,
            "output": self.output,
            "reason": self.reason,
            "error": self.error,
            "before": self.before,
            "after": self.after,
            "plan": self.plan,
            "subtitles": self.subtitles,
            "seconds": round(self.seconds, 3),
        }


def default_output_path(src: Path, fmt: str, out_dir: Path | None, relative_to: Path | None) -> Path:
    ext = FORMATS[fmt].extension
    name = f"{src.stem}{ENHANCED_MARK}{ext}"
    if out_dir is None:
        return src.with_name(name)
    if relative_to is not None:
        try:
            sub = src.parent.resolve().relative_to(relative_to.resolve())
            return out_dir / sub / name
        except ValueError:
            pass
    return out_dir / name


def check_output_name(output: Path, fmt: str, chosen_by: str = "--format") -> None:
    """Refuse an output whose name asks for another format than the one written (``-o out.wav``
    with ``--format mp3`` would put MP3 data in a .wav file). Names we do not know (``.m4v``) pass."""
    named = format_for_path(str(output))
    if named is not None and named != fmt:
        ext = FORMATS[fmt].extension
        raise PlanError(
            f"{output}: {chosen_by} writes {fmt.upper()} ({ext}), but the name ends in {FORMATS[named].extension}; "
            f"name the output {Path(output).with_suffix(ext).name} or choose --format {named}",
            path=output,
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


# phase weights for the overall fraction of one file
class _PhaseProgress(Protocol):
    """How far one phase is: ``done`` of the phase's own total, or of the file's duration."""

    def __call__(self, done: float, phase_total: float | None = None) -> None: ...


_WEIGHTS = {"analysis": (0.0, 0.35), "render": (0.35, 0.55), "mux": (0.90, 0.10)}
_WEIGHTS_AUDIO_ONLY = {"analysis": (0.0, 0.35), "render": (0.35, 0.45), "mux": (0.80, 0.20)}


def enhance_file(
    src: Path,
    job: EnhanceJob,
    tools: FFmpegTools,
    *,
    planner: Planner | None = None,
    temp_dir: Path | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    claim: Callable[[Path], bool] | None = None,
) -> FileResult:
    started = time.monotonic()
    src = Path(src)
    result = FileResult(input=str(src), status="failed")
    planner = planner or MeasurementPlanner()
    workdir: Path | None = None
    try:
        info = probe(src, tools)
        plan: Plan | None = Plan.load(job.plan_file) if job.plan_file else None
        if plan is not None:
            fmt = plan.output.format
        elif job.options.format:
            fmt = job.options.format
        elif job.output is not None:
            found = format_for_path(str(job.output))
            if found is None:
                raise PlanError(
                    f"{job.output}: unknown output extension; use one of "
                    f"{', '.join(f.extension for f in FORMATS.values())} or pass --format"
                )
            fmt = found
        else:
            fmt = default_format(info)
        if job.output is not None:
            check_output_name(job.output, fmt, "the plan" if plan is not None else "--format")
        dest = job.output or default_output_path(src, fmt, job.out_dir, job.relative_to)
        result.output = str(dest)
        if _same_file(src, dest):
            raise OutputSameAsInputError(
                f"{dest}: the output would overwrite the input; choose another name with -o or a folder with --out-dir",
                path=dest,
            )
        if job.save_plan is not None and _same_file(src, Path(job.save_plan)):
            raise OutputSameAsInputError(
                f"{job.save_plan}: --save-plan would overwrite the input; choose another name", path=job.save_plan
            )
        if claim is not None and not claim(dest):
            raise OutputError(
                f"{dest}: another input of this batch is written here too; use --recursive to mirror "
                "sub-folders, or enhance them separately",
                path=dest,
            )
        skipped: str | None = None  # why the render is skipped (--save-plan still plans, and writes the plan)
        if dest.exists() and not job.force and not job.dry_run:
            if dest.stat().st_mtime >= src.stat().st_mtime:
                skipped = "output exists and is newer than the input (use --force to redo)"
                if job.save_plan is None:
                    result.status, result.reason = "skipped", skipped
                    return result
        options = _with_format(job.options, fmt, tools)
        weights = _WEIGHTS_AUDIO_ONLY if (options.audio_only or not info.has_video) else _WEIGHTS

        def report(phase: str) -> _PhaseProgress:
            base, span = weights.get(phase, (0.0, 1.0))
            total = info.duration

            def cb(done: float, phase_total: float | None = None) -> None:
                if on_progress is None:
                    return
                t = phase_total or total
                frac = base + span * (min(done, t) / t if t > 0 else 0.0)
                on_progress(ProgressEvent(str(src), phase, done, t, min(1.0, frac)))

            return cb

        workdir = make_workdir("mediaenhancer-", temp_dir)
        analysis: Analysis | None = None
        if plan is None or plan.stabilize:
            analysis = analyze(
                src,
                info,
                tools,
                audio=plan is None,
                video=(plan is None and not options.audio_only) or bool(plan and plan.stabilize),
                stabilize=options.stabilize if plan is None else True,
                workdir=workdir,
                on_progress=report("analysis"),
                cancel=cancel,
            )
            if plan is None:
                result.before = analysis.to_dict()
                if analysis.audio is not None:
                    result.before["audio_figures"] = audio_figures(analysis.audio)
        if plan is None:
            assert analysis is not None
            if job.skip_if_within is not None and analysis.audio is not None and not job.dry_run and skipped is None:
                a = analysis.audio
                off = abs(a.integrated_lufs - options.target)
                if off <= job.skip_if_within and a.true_peak_dbtp <= options.ceiling and fmt == default_format(info):
                    if job.save_plan:  # the plan it would have rendered, as --save-plan promises
                        planner.plan(analysis, options).save(job.save_plan)
                    atomic_copy(src, dest)
                    result.status = "skipped"
                    result.reason = (
                        f"already within {job.skip_if_within:g} LU of {options.target:g} LUFS "
                        f"({a.integrated_lufs} LUFS, {a.true_peak_dbtp} dBTP): copied unchanged"
                    )
                    return result
            plan = planner.plan(analysis, options)
        result.plan = plan.to_dict()
        if job.save_plan:
            plan.save(job.save_plan)
        if skipped is not None:
            result.status, result.reason = "skipped", f"{skipped}; plan written to {job.save_plan}"
            return result
        if job.dry_run:
            result.status, result.reason = (
                "planned",
                "--dry-run: nothing rendered" + (" or transcribed" if job.subtitles else ""),
            )
            return result
        if plan.burn_in and job.subtitles is None:
            raise PlanError(f"{src}: the plan burns in subtitles; add --subtitles (or drop burn_in from the plan)")
        if plan.output.video == "copy" and plan.trim:
            raise PlanError(f"{src}: the plan trims silence but copies the video; drop trim or re-encode")
        motion = (
            Path(analysis.video.stabilization_file)
            if analysis and analysis.video and analysis.video.stabilization_file
            else None
        )

        def render_progress(phase: str, done: float, total: float) -> None:
            report(phase)(done, total)

        transcript = burn = None
        if job.subtitles is not None:  # before rendering: a Gemini failure fails the file before anything is written
            from mediaenhancer_core.engine.subtitles import write_burn_in_file  # noqa: PLC0415

            transcript = job.subtitles.transcript(src, analysis, plan, tools, temp_dir=workdir, cancel=cancel)
            burn = write_burn_in_file(transcript, workdir) if plan.burn_in else None
        rendered = render(
            plan,
            src,
            info,
            dest,
            tools,
            workdir,
            motion=motion,
            subtitles=burn,
            on_progress=render_progress,
            cancel=cancel,
        )
        if transcript is not None and job.subtitles is not None:
            result.subtitles = {fmt: str(p) for fmt, p in job.subtitles.write(transcript, dest).items()}
        out_info = probe(dest, tools)
        after_audio = rendered.audio.to_dict() if rendered.audio else None
        check_audio = after_audio is not None and out_info.has_audio
        check_picture = _picture_wanted(analysis, plan, out_info)
        checked = None
        if check_audio or check_picture:
            # the figures shown beside the input's: measured on the written file by the same meters, in
            # one decode of it (the sound, and the frames sampled for the picture figures). Where the
            # output keeps the input's timeline (nothing trimmed; the sound is never delayed), its figures
            # are taken over the input's speech turns: the same turns compared, and no second pass of the
            # voice detector (0.4 s of CPU a minute)
            known = analysis.audio.speech_spans if analysis is not None and analysis.audio is not None else None
            checked = analyze(
                dest,
                out_info,
                tools,
                audio=check_audio,
                video=False,
                picture=check_picture,
                workdir=workdir,
                cancel=cancel,
                what="output check",
                speech_spans=known if plan.trim is None else None,
            )
        if after_audio is not None and checked is not None and checked.audio is not None:
            after_audio["measured"] = audio_figures(checked.audio)
        result.after = {
            "duration": out_info.duration,
            "format": out_info.format_name,
            "size": out_info.size,
            "streams": [{k: v for k, v in s.__dict__.items() if v is not None} for s in out_info.streams],
            "audio": after_audio,
            "video": _picture_after(analysis, checked) if check_picture else None,
        }
        result.status = "enhanced"
        if on_progress:
            on_progress(ProgressEvent(str(src), "done", info.duration, info.duration, 1.0))
        return result
    except CancelledError:
        raise
    except MediaEnhancerError as exc:
        result.status = "failed"
        result.error = {"code": exc.code, "message": exc.message}
        result.exit_error = exc
        return result
    finally:
        if workdir is not None:
            remove_workdir(workdir)
        result.seconds = time.monotonic() - started


def _picture_wanted(analysis: Analysis | None, plan: Plan, out_info: MediaInfo) -> bool:
    """The picture is measured on the output beside the input (issue 14): only when it was re-encoded
    and the input's was measured."""
    return (
        analysis is not None
        and analysis.video is not None
        and analysis.video.picture is not None
        and out_info.video is not None
        and plan.output.video == "encode"
    )


def _picture_after(analysis: Analysis | None, checked: Analysis | None) -> dict[str, Any] | None:
    from mediaenhancer_core.engine.picture import picture_report  # noqa: PLC0415

    if analysis is None or analysis.video is None or checked is None:
        return None
    return picture_report(analysis.video.picture, checked.picture)


FIGURES = (
    "integrated_lufs",
    "true_peak_dbtp",
    "loudness_range_lu",
    "speech_lufs",
    "pause_floor_lufs",
    "speech_to_noise_db",
    "speech_spread_lu",
    "noise_floor_lufs",
    "content",
    "speech_seconds",
)


def audio_figures(a: AudioMeasurements) -> dict[str, Any]:
    """The figures a summary shows before and after: loudness, peaks, noise in the pauses, speech to noise,
    spread between speech segments (all from one meter, :func:`analyze`)."""
    return {k: getattr(a, k) for k in FIGURES}


def _with_format(options: EnhanceOptions, fmt: str, tools: FFmpegTools) -> EnhanceOptions:
    from dataclasses import replace  # noqa: PLC0415

    from mediaenhancer_core.engine.picture_plan import fft_affordable  # noqa: PLC0415

    return replace(options, format=fmt, fast_fftdnoiz=fft_affordable(tools.version))


def analyze_file(
    src: Path,
    tools: FFmpegTools,
    *,
    audio: bool = True,
    video: bool = True,
    temp_dir: Path | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
) -> Analysis:
    """Probe and measure one file (raises on bad input)."""
    info: MediaInfo = probe(Path(src), tools)

    def cb(done: float) -> None:
        if on_progress:
            total = info.duration
            on_progress(ProgressEvent(str(src), "analysis", done, total, min(1.0, done / total if total else 0.0)))

    return analyze(Path(src), info, tools, audio=audio, video=video, on_progress=cb, cancel=cancel)
