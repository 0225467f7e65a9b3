"""Exporting a project: ordered segments of media, edited and enhanced, in one render pass.

A project is an edit list (the seed editor's model): ordered segments, each a span of a
media file with per-segment operations (volume, rotate, flip, title text overlays), plus
extra audio tracks mixed under (music under speech, optionally ducked). It comes from a
TOML/JSON file for ``mediaenhancer export`` or from the database for the server.

Rendering: every segment is its own ``-ss/-t`` input (so each span is decoded once, in
order, whatever the order of the segments), fitted to one frame size and rate, and the
segments are concatenated; the extra tracks are mixed under; the enhancement plan of
each source (measured once per file) cleans its segments; then the mux step sets the
loudness exactly, as for ``enhance``.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.analysis import Analysis, analyze
from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools
from mediaenhancer_core.engine.filtergraph import filter_str
from mediaenhancer_core.engine.filters import exportable
from mediaenhancer_core.engine.formats import FORMATS, QUALITIES, encode_spec
from mediaenhancer_core.engine.picture_plan import fft_affordable
from mediaenhancer_core.engine.plan import FilterStep, Loudness
from mediaenhancer_core.engine.planner import RESOLUTIONS, EnhanceOptions, MeasurementPlanner, ffmpeg_only
from mediaenhancer_core.engine.presets import Preset
from mediaenhancer_core.engine.probe import MediaInfo, probe
from mediaenhancer_core.engine.render import AudioAfter, MuxSource, audio_filters, finalize, render_pass
from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir
from mediaenhancer_core.errors import ProjectError

__all__ = [
    "Title",
    "Segment",
    "AudioTrack",
    "ExportOptions",
    "Project",
    "ExportResult",
    "export_project",
    "load_project",
    "parse_title",
]

_COLOR = re.compile(r"^(#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?|[a-zA-Z]{3,20})$")
_POSITIONS = {
    "top": ("(w-text_w)/2", "h*0.08"),
    "center": ("(w-text_w)/2", "(h-text_h)/2"),
    "bottom": ("(w-text_w)/2", "h-text_h-h*0.08"),
    "top-left": ("w*0.05", "h*0.08"),
    "top-right": ("w-text_w-w*0.05", "h*0.08"),
    "bottom-left": ("w*0.05", "h-text_h-h*0.08"),
    "bottom-right": ("w-text_w-w*0.05", "h-text_h-h*0.08"),
}
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


@dataclass
class Title:
    text: str
    start: float = 0.0
    duration: float = 3.0
    color: str = "white"
    size: int = 48
    position: str = "bottom"


@dataclass
class Segment:
    media: str  # a path (CLI) or a media id (server), resolved before rendering
    start: float = 0.0
    end: float | None = None
    volume_db: float = 0.0
    rotate: int = 0
    flip: str | None = None  # "h", "v" or "hv"
    titles: list[Title] = field(default_factory=list)


@dataclass
class AudioTrack:
    media: str
    volume_db: float = -18.0
    start: float | None = 0.0  # seconds into the programme; None: right after the previous track
    loop: bool = False
    duck: bool = True  # lower it further while the programme speaks
    source_start: float = 0.0  # the span of the media file used (ignored when looping)
    source_end: float | None = None


@dataclass
class ExportOptions:
    format: str = "mp4"
    resolution: str | None = None
    fps: float | None = None
    quality: str = "standard"
    enhance: bool = True


@dataclass
class Project:
    name: str
    segments: list[Segment]
    audio_tracks: list[AudioTrack] = field(default_factory=list)
    output: ExportOptions = field(default_factory=ExportOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "project") -> Project:
        return _parse_project(data, source)


@dataclass
class ExportResult:
    output: str
    duration: float
    width: int | None
    height: int | None
    fps: float | None
    segments: int
    audio: AudioAfter | None
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["audio"] = self.audio.to_dict() if self.audio else None
        return d


# --------------------------------------------------------------------------- parsing


def _num(data: Mapping[str, Any], key: str, where: str, default: float | None, lo: float, hi: float) -> float | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProjectError(f"{where}.{key}: must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ProjectError(f"{where}.{key}: {value:g} is outside {lo:g}..{hi:g}")
    return float(value)


def _keys(data: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProjectError(f"{where}: must be a table/object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ProjectError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    return data


def parse_title(data: Any, where: str) -> Title:
    """A title overlay, checked (text, colour, size, position, times); raises ProjectError naming the field."""
    return _parse_title(data, where)


def _parse_title(data: Any, where: str) -> Title:
    d = _keys(data, {"text", "start", "duration", "color", "size", "position"}, where)
    text = d.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        raise ProjectError(f"{where}.text: a non-empty string of at most 200 characters is required")
    color = str(d.get("color", "white"))
    if not _COLOR.match(color):
        raise ProjectError(f"{where}.color: use a colour name (white, yellow...) or #RRGGBB, got {color!r}")
    position = str(d.get("position", "bottom"))
    if position not in _POSITIONS:
        raise ProjectError(f"{where}.position: use one of {', '.join(_POSITIONS)}, got {position!r}")
    size = d.get("size", 48)
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 400:
        raise ProjectError(f"{where}.size: a whole number from 8 to 400, got {size!r}")
    return Title(
        text=text,
        start=_num(d, "start", where, 0.0, 0.0, 86400.0) or 0.0,
        duration=_num(d, "duration", where, 3.0, 0.05, 86400.0) or 3.0,
        color=color,
        size=size,
        position=position,
    )


def _parse_segment(data: Any, where: str) -> Segment:
    d = _keys(data, {"media", "start", "end", "volume", "volume_db", "rotate", "flip", "titles"}, where)
    media = d.get("media")
    if not isinstance(media, str) or not media:
        raise ProjectError(f"{where}.media: required (a file path, or a media id on the server)")
    start = _num(d, "start", where, 0.0, 0.0, 86400.0) or 0.0
    end = _num(d, "end", where, None, 0.0, 86400.0)
    if end is not None and end <= start:
        raise ProjectError(f"{where}.end: must be greater than start ({start:g})")
    if "volume" in d and "volume_db" in d:
        raise ProjectError(f"{where}: give volume (a factor) or volume_db, not both")
    if "volume" in d:
        factor = _num(d, "volume", where, 1.0, 0.0, 8.0) or 0.0
        volume_db = 20 * math.log10(factor) if factor > 0 else -120.0
    else:
        volume_db = _num(d, "volume_db", where, 0.0, -120.0, 24.0) or 0.0
    rotate = d.get("rotate", 0)
    if rotate not in (0, 90, 180, 270, -90):
        raise ProjectError(f"{where}.rotate: use 0, 90, 180 or 270, got {rotate!r}")
    flip = d.get("flip")
    flip = {"horizontal": "h", "vertical": "v", "both": "hv"}.get(flip, flip) if isinstance(flip, str) else flip
    if flip not in (None, "h", "v", "hv"):
        raise ProjectError(f"{where}.flip: use h, v, hv (or horizontal, vertical, both), got {d.get('flip')!r}")
    titles = d.get("titles", [])
    if not isinstance(titles, list):
        raise ProjectError(f"{where}.titles: must be a list")
    return Segment(
        media=media,
        start=start,
        end=end,
        volume_db=round(volume_db, 3),
        rotate=int(rotate) % 360,
        flip=flip,
        titles=[_parse_title(t, f"{where}.titles[{i}]") for i, t in enumerate(titles)],
    )


def _parse_project(data: Any, source: str) -> Project:
    d = _keys(data, {"name", "segments", "audio", "audio_tracks", "output"}, source)
    segs = d.get("segments")
    if not isinstance(segs, list) or not segs:
        raise ProjectError(f"{source}: segments: at least one segment is required")
    if len(segs) > 500:
        raise ProjectError(f"{source}: segments: at most 500 segments")
    tracks_raw = d.get("audio_tracks", d.get("audio", []))
    if not isinstance(tracks_raw, list):
        raise ProjectError(f"{source}: audio_tracks: must be a list")
    tracks = []
    for i, t in enumerate(tracks_raw):
        where = f"audio_tracks[{i}]"
        td = _keys(t, {"media", "volume_db", "start", "loop", "duck", "source_start", "source_end"}, where)
        if not isinstance(td.get("media"), str) or not td.get("media"):
            raise ProjectError(f"{where}.media: required")
        tracks.append(
            AudioTrack(
                media=td["media"],
                volume_db=_num(td, "volume_db", where, -18.0, -60.0, 12.0) or 0.0,
                start=_num(td, "start", where, 0.0, 0.0, 86400.0) or 0.0,
                loop=bool(td.get("loop", False)),
                duck=bool(td.get("duck", True)),
                source_start=_num(td, "source_start", where, 0.0, 0.0, 86400.0) or 0.0,
                source_end=_num(td, "source_end", where, None, 0.0, 86400.0),
            )
        )
    out = _keys(d.get("output", {}), {"format", "resolution", "fps", "quality", "enhance"}, "output")
    fmt = str(out.get("format", "mp4"))
    if fmt not in FORMATS:
        raise ProjectError(f"output.format: use one of {', '.join(FORMATS)}, got {fmt!r}")
    resolution = out.get("resolution")
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ProjectError(f"output.resolution: use one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    quality = str(out.get("quality", "standard"))
    if quality not in QUALITIES:
        raise ProjectError(f"output.quality: use one of {', '.join(QUALITIES)}, got {quality!r}")
    return Project(
        name=str(d.get("name", "export"))[:200],
        segments=[_parse_segment(s, f"segments[{i}]") for i, s in enumerate(segs)],
        audio_tracks=tracks,
        output=ExportOptions(
            format=fmt,
            resolution=resolution,
            fps=_num(out, "fps", "output", None, 1.0, 240.0),
            quality=quality,
            enhance=bool(out.get("enhance", True)),
        ),
    )


def load_project(path: Path) -> Project:
    """Read a project file (TOML or JSON); media paths are made relative to its folder."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: project file not found; check the path", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot read project file ({exc})", path=path) from None
    try:
        data = json.loads(text) if Path(path).suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(
            f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'TOML'} ({exc})", path=path
        ) from None
    project = _parse_project(data, str(path))
    base = Path(path).resolve().parent
    for seg in project.segments:
        seg.media = str((base / seg.media) if not Path(seg.media).is_absolute() else Path(seg.media))
    for track in project.audio_tracks:
        track.media = str((base / track.media) if not Path(track.media).is_absolute() else Path(track.media))
    return project


# --------------------------------------------------------------------------- rendering


def _font(font_file: Path | None) -> str | None:
    if font_file is not None:
        if not Path(font_file).is_file():
            raise ProjectError(f"font file {font_file} not found; set MEDIAENHANCER_FONT_FILE to a .ttf file")
        return str(font_file)
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None  # ffmpeg's fontconfig default


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def export_project(
    project: Project,
    dest: Path,
    tools: FFmpegTools,
    *,
    preset: Preset,
    resolve: Callable[[str], Path] | None = None,
    font_file: Path | None = None,
    temp_dir: Path | None = None,
    on_progress: Callable[[str, float, float], None] | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Render ``project`` to ``dest`` (written atomically). ``resolve`` maps segment media to files."""
    resolve = resolve or (lambda m: Path(m))
    opts = project.output
    notes: list[str] = []
    infos: dict[str, MediaInfo] = {}
    for _where, media in [(f"segments[{i}]", s.media) for i, s in enumerate(project.segments)] + [
        (f"audio_tracks[{i}]", t.media) for i, t in enumerate(project.audio_tracks)
    ]:
        if media not in infos:
            path = resolve(media)
            infos[media] = probe(path, tools)

    # spans
    spans: list[tuple[float, float]] = []
    for i, seg in enumerate(project.segments):
        info = infos[seg.media]
        end = info.duration if seg.end is None else min(seg.end, info.duration)
        if seg.start >= info.duration - 0.01 or end - seg.start < 0.04:
            raise ProjectError(
                f"segments[{i}]: {seg.start:g}–{(seg.end if seg.end is not None else info.duration):g} s is outside "
                f"{Path(info.path).name} ({info.duration:.2f} s long)"
            )
        spans.append((seg.start, end))
    total = sum(e - s for s, e in spans)

    # picture geometry from the first segment that has a picture
    has_video = FORMATS[opts.format].video and any(infos[s.media].has_video for s in project.segments)
    width = height = None
    fps = opts.fps
    if has_video:
        first = next(s for s in project.segments if infos[s.media].has_video)
        v = infos[first.media].video
        assert v is not None
        w, h = (v.width or 1280), (v.height or 720)
        if abs(v.rotation) % 180 == 90:
            w, h = h, w
        if first.rotate in (90, 270):
            w, h = h, w
        if opts.resolution:
            height = RESOLUTIONS[opts.resolution]
            width = _even(height * w / h)
        else:
            width, height = _even(w), _even(h)
        fps = fps or v.fps or 30.0
    out = encode_spec(opts.format, opts.quality, has_video=has_video)

    # enhancement: one plan per distinct source, from one analysis pass each
    work = make_workdir("mediaenhancer-export-", temp_dir)
    try:
        plans: dict[str, tuple[list[FilterStep], list[FilterStep]]] = {}
        loud: Loudness | None = None
        if opts.enhance:
            planner = MeasurementPlanner()
            used: dict[str, tuple[float, float]] = {}
            for seg, (a, b) in zip(project.segments, spans, strict=True):  # measure only the parts that are used
                lo, hi = used.get(seg.media, (a, b))
                used[seg.media] = (min(lo, a), max(hi, b))
            for media in sorted(used):
                info = infos[media]
                analysis: Analysis = analyze(
                    resolve(media), info, tools, video=has_video, workdir=work, span=used[media], cancel=cancel
                )
                p = planner.plan(
                    analysis,
                    EnhanceOptions(
                        preset=preset,
                        format="mkv" if info.has_video else "flac",
                        fast_fftdnoiz=fft_affordable(tools.version),
                    ),
                )
                # the picture steps the registry lets exports run (no scaling, frame rate or stabilising: the export
                # fits every segment itself), so unsharp is only the mild one after the denoise
                video_steps = [st for st in p.video_steps if exportable(st.filter)]
                # exports run ffmpeg filters only: the neural denoiser's afftdn fallback, no leveler
                plans[media] = (ffmpeg_only(p.audio_steps, analysis.audio), video_steps)
            loud = Loudness(target_lufs=preset.target_lufs, true_peak_dbtp=preset.true_peak, reason="export loudness")
            notes.append(f"enhanced with preset {preset.name}: {preset.target_lufs:g} LUFS, {preset.true_peak:g} dBTP")
        font = _font(font_file)

        inputs: list[tuple[list[str], Path]] = []
        parts: list[str] = []
        concat_in: list[str] = []
        for i, (seg, (s, e)) in enumerate(zip(project.segments, spans, strict=True)):
            info = infos[seg.media]
            dur = e - s
            idx = len(inputs)
            inputs.append((["-ss", f"{s:.6f}", "-t", f"{dur:.6f}"], resolve(seg.media)))
            a_steps, v_steps = plans.get(seg.media, ([], []))
            if has_video:
                chain: list[str] = []
                if info.has_video:
                    chain = [filter_str(st.filter, st.params) for st in v_steps]
                    chain += {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}.get(
                        seg.rotate, []
                    )
                    if seg.flip:
                        chain += [{"h": "hflip", "v": "vflip"}[c] for c in seg.flip]
                    chain += [
                        filter_str(
                            "scale",
                            {"w": width, "h": height, "force_original_aspect_ratio": "decrease", "flags": "lanczos"},
                        ),
                        filter_str(
                            "pad", {"w": width, "h": height, "x": "(ow-iw)/2", "y": "(oh-ih)/2", "color": "black"}
                        ),
                        "setsar=1",
                        filter_str("fps", {"fps": round(fps or 30.0, 3)}),
                        "format=yuv420p",
                    ]
                    head = f"[{idx}:{info.video.index}]"  # type: ignore[union-attr]
                else:
                    head = ""
                    chain = [
                        filter_str(
                            "color",
                            {"c": "black", "s": f"{width}x{height}", "r": round(fps or 30.0, 3), "d": f"{dur:.6f}"},
                        ),
                        "format=yuv420p",
                    ]
                for t in seg.titles:
                    x, y = _POSITIONS[t.position]
                    params: dict[str, Any] = {
                        "text": t.text,
                        "expansion": "none",
                        "fontcolor": t.color,
                        "fontsize": t.size,
                        "x": x,
                        "y": y,
                        "borderw": max(1, t.size // 16),
                        "bordercolor": "black@0.6",
                        "enable": f"between(t,{t.start:g},{t.start + t.duration:g})",
                    }
                    if font:
                        params = {"fontfile": font, **params}
                    chain.append(filter_str("drawtext", params))
                parts.append(f"{head}{','.join(chain)}[sv{i}]")
                concat_in.append(f"[sv{i}]")
            if info.has_audio:
                achain = [
                    filter_str("aresample", {"out_sample_rate": 48000}),
                    *audio_filters(a_steps),
                    filter_str("aformat", {"sample_fmts": "fltp", "channel_layouts": "stereo"}),
                    filter_str("volume", {"volume": f"{seg.volume_db:.3f}dB"}),
                ]
                parts.append(f"[{idx}:{info.audio.index}]{','.join(achain)}[sa{i}]")  # type: ignore[union-attr]
            else:
                parts.append(f"aevalsrc=0|0:s=48000:d={dur:.6f},aformat=sample_fmts=fltp:channel_layouts=stereo[sa{i}]")
            concat_in.append(f"[sa{i}]")
        n = len(project.segments)
        outs = ("[cv]" if has_video else "") + "[ca]"
        parts.append("".join(concat_in) + f"concat=n={n}:v={1 if has_video else 0}:a=1{outs}")
        main = "[ca]"
        after = 0.0  # where the previous track ended, for tracks placed one after the other
        for k, track in enumerate(project.audio_tracks):
            tinfo = infos[track.media]
            if not tinfo.has_audio:
                raise ProjectError(f"audio_tracks[{k}]: {Path(tinfo.path).name} has no sound")
            idx = len(inputs)
            src_end = min(track.source_end, tinfo.duration) if track.source_end is not None else tinfo.duration
            length = max(0.05, src_end - track.source_start)
            at = after if track.start is None else track.start
            after = at + length
            if track.loop:
                inputs.append((["-stream_loop", "-1"], resolve(track.media)))
            else:
                inputs.append((["-ss", f"{track.source_start:.6f}", "-t", f"{length:.6f}"], resolve(track.media)))
            delay_ms = int(round(at * 1000))
            tchain = [
                filter_str("aresample", {"out_sample_rate": 48000}),
                filter_str("aformat", {"sample_fmts": "fltp", "channel_layouts": "stereo"}),
                filter_str("volume", {"volume": f"{track.volume_db:.3f}dB"}),
                filter_str("atrim", {"duration": f"{max(0.05, total - at):.6f}"}),
                filter_str("adelay", {"delays": delay_ms, "all": 1}),
            ]
            parts.append(f"[{idx}:{tinfo.audio.index}]{','.join(tchain)}[t{k}]")  # type: ignore[union-attr]
            bed = f"[t{k}]"
            if track.duck:
                parts.append(f"{main}asplit=2[m{k}][sc{k}]")
                parts.append(
                    f"[t{k}][sc{k}]"
                    + filter_str("sidechaincompress", {"threshold": 0.03, "ratio": 6, "attack": 20, "release": 400})
                    + f"[d{k}]"
                )
                main, bed = f"[m{k}]", f"[d{k}]"
            parts.append(f"{main}{bed}amix=inputs=2:duration=first:normalize=0[mix{k}]")
            main = f"[mix{k}]"
        parts.append(
            f"{main}" + filter_str("ebur128", {"peak": "true", "framelog": "verbose"}, instance="clean") + "[aout]"
        )
        if has_video:
            parts.append("[cv]null[vout]")

        def progress(phase: str) -> Callable[[float], None]:
            return lambda secs: on_progress(phase, min(secs, total), total) if on_progress else None

        intermediate = work / "export.nut"
        clean = render_pass(
            [p for _, p in inputs],
            ";".join(parts),
            out,
            tools,
            intermediate,
            has_video=has_video,
            has_audio=True,
            on_progress=progress("render"),
            cancel=cancel,
            path=dest,
            input_args=[a for a, _ in inputs],
        )
        source = MuxSource(intermediate=intermediate, intermediate_has_video=has_video, duration=total, fps=fps or 0.0)
        audio_after = finalize(
            out, loud, clean, source, dest, tools, on_progress=progress("mux"), cancel=cancel, path=dest
        )
    finally:
        remove_workdir(work)
    return ExportResult(
        output=str(dest),
        duration=round(total, 3),
        width=width,
        height=height,
        fps=round(fps, 3) if fps else None,
        segments=len(project.segments),
        audio=audio_after,
        notes=notes,
    )
