"""Rendering results for people (Rich tables, progress bars) and for scripts (JSON)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from mediaenhancer_core.engine.analysis import Analysis
    from mediaenhancer_core.engine.enhance import FileResult, ProgressEvent
    from mediaenhancer_core.engine.plan import Plan
    from mediaenhancer_core.engine.presets import Preset

__all__ = [
    "print_json_lines",
    "analysis_table",
    "results_lines",
    "results_table",
    "plan_panel",
    "presets_table",
    "FileProgress",
]


def _fmt(x: Any, unit: str = "", nd: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}{unit}"
    return f"{x}{unit}"


def print_json_lines(console: Console, objects: Sequence[dict[str, Any]]) -> None:
    for obj in objects:
        console.file.write(json.dumps(obj, default=str) + "\n")
    console.file.flush()


def _spans(spans: Sequence[Sequence[float]], limit: int = 3) -> str:
    if not spans:
        return "none"
    shown = ", ".join(f"{a:.1f}–{b:.1f}s" for a, b in spans[:limit])
    return shown + (f" (+{len(spans) - limit} more)" if len(spans) > limit else "")


def analysis_table(analysis: Analysis) -> Table:
    info = analysis.info
    t = Table(title=Path(info.path).name, show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column("measure", style="bold")
    t.add_column("value")
    t.add_row("duration", f"{info.duration:.2f} s  ({info.format_name}, {info.size / 1e6:.1f} MB)")
    for s in info.streams:
        if s.kind == "video":
            t.add_row("video", f"{s.codec} {s.width}x{s.height} {_fmt(s.fps, ' fps', 2)} {s.pix_fmt or ''}")
        else:
            t.add_row("audio", f"{s.codec} {s.sample_rate} Hz, {s.channels} ch")
    a = analysis.audio
    if a:
        t.add_row("loudness", f"{a.integrated_lufs:.1f} LUFS integrated, LRA {a.loudness_range_lu:.1f} LU")
        t.add_row("peaks", f"{a.true_peak_dbtp:.1f} dBTP true peak, {a.sample_peak_dbfs:.1f} dBFS sample peak")
        t.add_row(
            "noise floor",
            f"{a.noise_floor_lufs:.1f} LUFS ({a.integrated_lufs - a.noise_floor_lufs:.1f} dB below programme)",
        )
        t.add_row("clipping", f"{a.clipped_samples} samples" if a.clipping else "none")
        hum = (
            f"{a.hum_hz} Hz hum, harmonics {', '.join(str(k) for k, *_ in a.hum_harmonics)}"
            if a.hum_hz and a.hum_harmonics
            else f"{a.hum_hz} Hz hum"
            if a.hum_hz
            else "no hum"
        )
        t.add_row("hum / rumble", hum + f"; low end {a.rumble_db:.1f} dB")
        t.add_row("content", f"{a.content}: speech {a.speech_seconds:.1f} s ({a.speech_share * 100:.0f}% of the sound)")
        if a.speech_lufs is not None:
            pauses = (
                f"noise in pauses {a.pause_floor_lufs:.1f} LUFS, {a.speech_to_noise_db:.1f} dB under the speech"
                if a.pause_floor_lufs is not None and a.speech_to_noise_db is not None
                else "no pause long enough to measure"
            )
            spread = f"; spread between segments {a.speech_spread_lu:.1f} LU" if a.speech_spread_lu is not None else ""
            t.add_row("speech", f"{a.speech_lufs:.1f} LUFS; {pauses}{spread}")
        t.add_row(
            "silence", f"{a.silence_share * 100:.0f}% below {a.silence_threshold_db:g} LUFS: {_spans(a.silence_spans)}"
        )
    v = analysis.video
    if v:
        t.add_row(
            "levels",
            f"luma {v.luma_min:.2f}–{v.luma_max:.2f} (10–90%: {v.luma_low:.2f}–{v.luma_high:.2f}), mean {v.brightness:.2f}",
        )
        t.add_row("colour", f"saturation {v.saturation:.2f}, cast U {v.cast_u:+.3f} V {v.cast_v:+.3f}")
        t.add_row("picture noise", f"σ ≈ {v.noise_sigma:.1f} levels")
        t.add_row("black", _spans(v.black_spans))
        t.add_row("frozen", _spans(v.frozen_spans))
    return t


_STATUS_STYLE = {"enhanced": "green", "skipped": "yellow", "planned": "cyan", "failed": "bold red"}


# measured on the input and on the written output by the same meter (analysis.py): loudness, true peak, the
# noise floor in the pauses between speech, speech loudness minus that floor, and the spread of loudness
# between speech segments (P90 - P10)
_FIGURE_ROWS = (
    ("loudness", "integrated_lufs", " LUFS"),
    ("true peak", "true_peak_dbtp", " dBTP"),
    ("pause noise", "pause_floor_lufs", " LUFS"),
    ("speech/noise", "speech_to_noise_db", " dB"),
    ("spread", "speech_spread_lu", " LU"),
)


def _figures(r: FileResult) -> tuple[dict[str, Any], dict[str, Any]]:
    before = (r.before or {}).get("audio_figures") or {}
    after = (((r.after or {}).get("audio") or {}).get("measured")) or {}
    return before, after


# measured on 8 frames of the input and of the written output by the same meter (picture.py), shown only when
# the picture was re-encoded (a copied picture is the input's): noise σ, black and white points, mean luma, all
# in 8-bit levels
_PICTURE_ROWS = (
    ("picture noise σ", "noise_luma"),
    ("black level", "black_point"),
    ("white level", "white_point"),
    ("mean luma", "mean_luma"),
)


def _picture_rows(r: FileResult) -> list[tuple[str, str, str]]:
    pic = ((r.after or {}).get("video")) or {}
    before, after = pic.get("before") or {}, pic.get("after") or {}
    if not (before and after):
        return []
    return [(label, _fmt(before.get(key)), _fmt(after.get(key))) for label, key in _PICTURE_ROWS]


def results_table(results: Sequence[FileResult]) -> Table:
    """Status and figures per file; where each output went (or why not) follows in :func:`results_lines`,
    one line each, so that a path is never cut or broken by the table's width."""
    t = Table(title="Summary", title_justify="left")
    t.add_column("file", no_wrap=True, overflow="ellipsis", min_width=12, max_width=32)  # never broken mid-word
    t.add_column("status", no_wrap=True)
    t.add_column("measured", style="dim", no_wrap=True)
    t.add_column("before", justify="right", no_wrap=True)
    t.add_column("after", justify="right", no_wrap=True)
    for r in results:
        style = _STATUS_STYLE.get(r.status, "")
        before, after = _figures(r)
        # every figure, "–" where it cannot be measured (no pause long enough, too few speech segments)
        rows = (
            [
                (label, _fmt(before.get(key), unit), _fmt(after.get(key), unit) if after else "–")
                for label, key, unit in _FIGURE_ROWS
            ]
            if (before or after)
            else []
        ) + _picture_rows(r)
        rows = rows or [("", "–", "–")]
        for i, (label, b, a) in enumerate(rows):
            first = i == 0
            t.add_row(
                escape(Path(r.input).name) if first else "", f"[{style}]{r.status}[/]" if first else "", label, b, a
            )
        t.add_section()
    return t


def results_lines(results: Sequence[FileResult]) -> list[str]:
    """`NAME → OUTPUT` for each file written, `NAME: reason` for the others (print with soft_wrap)."""
    lines = []
    for r in results:
        name = Path(r.input).name
        if r.error:
            lines.append(f"{name}: {r.error['message']}")
        elif r.status == "enhanced" and r.output:
            lines.append(f"{name} → {r.output}")
        elif r.reason or r.output:
            lines.append(f"{name}: {r.reason or r.output}")
    return lines


def plan_panel(plan: Plan) -> Table:
    t = Table(
        title=f"Plan for {Path(str(plan.input.get('path', ''))).name} (planner: {plan.planner}, preset: {plan.preset})",
        title_justify="left",
    )
    t.add_column("stage")
    t.add_column("filter")
    t.add_column("parameters", overflow="fold")
    t.add_column("why", overflow="fold")
    t.add_column("from")
    for s in plan.audio_steps:
        t.add_row("audio", s.filter, _params(s.params), s.reason, s.source)
    if plan.loudness:
        lo = plan.loudness
        t.add_row(
            "audio",
            "loudness",
            f"{lo.target_lufs:g} LUFS, ceiling {lo.true_peak_dbtp:g} dBTP, {lo.mode}",
            lo.reason,
            "measurement",
        )
    for s in plan.video_steps:
        t.add_row("video", s.filter, _params(s.params), s.reason, s.source)
    if plan.trim:
        t.add_row("edit", "trim", f"{len(plan.trim.keep)} segments", plan.trim.reason, "measurement")
    if plan.burn_in:
        t.add_row("video", "subtitles", "burned in", "--burn-in: the transcript drawn into the picture", "options")
    o = plan.output
    t.add_row(
        "output",
        o.format,
        f"video {o.video}{' ' + o.video_codec if o.video_codec else ''}, audio {o.audio_codec or '–'}",
        o.reason,
        "rules",
    )
    for note in plan.notes:
        t.add_row("note", "", "", note, "")
    return t


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def presets_table(presets: dict[str, Preset], default: str) -> Table:
    t = Table(title="Presets", title_justify="left")
    t.add_column("name")
    t.add_column("loudness", justify="right")
    t.add_column("true peak", justify="right")
    t.add_column("cleanups")
    t.add_column("description", overflow="fold")
    t.add_column("source", overflow="fold")
    for name in sorted(presets):
        p = presets[name]
        cleanups = ", ".join(k for k in ("denoise", "dehum", "derumble", "declip", "video", "sharpen") if getattr(p, k))
        if p.leveler:
            cleanups += f", leveler {p.leveler:g}"
        if p.compression:
            cleanups += f", compression {p.compression:g}"
        cleanups = cleanups.strip(", ") or "none"
        t.add_row(
            name + (" (default)" if name == default else ""),
            f"{p.target_lufs:g} LUFS",
            f"{p.true_peak:g} dBTP",
            cleanups,
            p.description,
            p.source,
        )
    return t


class FileProgress:
    """One Rich progress bar per file, fed from worker threads."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._progress: Any = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: PLC0415

            self._progress = Progress(
                TextColumn("[bold]{task.description}", justify="left"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[phase]}", style="dim"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )

    @contextmanager
    def running(self) -> Iterator[FileProgress]:
        if self._progress is None:
            yield self
            return
        with self._progress:
            yield self

    def start(self, file: str) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._tasks[file] = self._progress.add_task(Path(file).name, total=1000, phase="starting")

    def update(self, event: ProgressEvent) -> None:
        if self._progress is None:
            return
        with self._lock:
            task = self._tasks.get(event.file)
        if task is not None:
            self._progress.update(task, completed=int(event.fraction * 1000), phase=event.phase)

    def finish(self, result: FileResult) -> None:
        if self._progress is None:
            return
        with self._lock:
            task = self._tasks.get(result.input)
        if task is not None:
            self._progress.update(task, completed=1000, phase=result.status)
