"""What an uploaded file is, found from its content (never its name), and its thumbnail.

:func:`identify` probes a path or URL (ffprobe reads S3 objects through a presigned
URL with HTTP range requests, so nothing is downloaded whole) and says whether the file
is a video, an audio file or an image, with its MIME type, duration, resolution and
codecs. :func:`identify_window` gives the same answer from the first and last bytes of
an upload, or none. :func:`thumbnail_jpeg` grabs one frame as a small JPEG.

The first bytes were already sniffed while uploading (:mod:`.sniff`): a file whose first
bytes match no known container is :class:`NotMediaError`; one that does but cannot be
probed is :class:`CorruptMediaError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.ffmpeg import (
    REFUSED_FORMAT,
    FFmpegTools,
    ProbeTimeout,
    guard_inputs,
    open_av,
    probe_argv,
    refused_format,
    run_probe,
)
from mediaenhancer_core.engine.probe import IMAGE_CODECS, IMAGE_FORMATS
from mediaenhancer_core.engine.workdirs import workdir
from mediaenhancer_core.errors import CorruptMediaError, InputError, NoStreamsError, NotMediaError, RenderError
from mediaenhancer_core.library.bytewindow import ByteWindow, serve

__all__ = ["MediaFacts", "identify", "identify_window", "thumbnail_jpeg", "mime_type_for"]

PROBE_TIMEOUT = 120

_MIME = {
    ("mp4", "video"): "video/mp4",
    ("mp4", "audio"): "audio/mp4",
    ("m4a", "audio"): "audio/mp4",
    ("m4a", "video"): "video/mp4",
    ("mov", "video"): "video/quicktime",
    ("mov", "audio"): "audio/mp4",
    ("matroska", "video"): "video/x-matroska",
    ("matroska", "audio"): "audio/x-matroska",
    ("webm", "video"): "video/webm",
    ("webm", "audio"): "audio/webm",
    ("ogg", "video"): "video/ogg",
    ("ogg", "audio"): "audio/ogg",
    ("wav", "audio"): "audio/wav",
    ("flac", "audio"): "audio/flac",
    ("mp3", "audio"): "audio/mpeg",
    ("aac", "audio"): "audio/aac",
    ("aiff", "audio"): "audio/aiff",
    ("amr", "audio"): "audio/amr",
    ("caf", "audio"): "audio/x-caf",
    ("avi", "video"): "video/x-msvideo",
    ("mpegts", "video"): "video/mp2t",
    ("mpegts", "audio"): "audio/mp2t",
    ("mpegps", "video"): "video/mpeg",
    ("flv", "video"): "video/x-flv",
    ("asf", "video"): "video/x-ms-asf",
    ("asf", "audio"): "audio/x-ms-wma",
}
_IMAGE_MIME = {
    "png": "image/png",
    "mjpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "av1": "image/avif",
    "hevc": "image/heic",
}


@dataclass
class MediaFacts:
    file_type: str  # video, audio or image
    mime_type: str
    format_name: str
    duration: float | None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def mime_type_for(family: str | None, file_type: str, format_name: str, codec: str | None) -> str:
    if file_type == "image":
        return _IMAGE_MIME.get(codec or "", "image/" + (codec or "octet-stream"))
    if family == "matroska" and "webm" in format_name and codec in (None, "vp8", "vp9", "av1", "opus", "vorbis"):
        family = "webm"
    return _MIME.get(
        (family or "", file_type), f"{file_type}/octet-stream" if file_type != "video" else "video/octet-stream"
    )


def _num(value: Any, kind: type = float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN


def _ffprobe(source: str, ffprobe: Path, *, clean: bool = False) -> dict[str, Any]:
    """ffprobe's JSON. ``clean``: any error ffprobe reports, even one it read past, is a failure."""
    argv = probe_argv(ffprobe, source, "-v", "error", "-show_format", "-show_streams", "-of", "json")
    try:
        proc = run_probe(argv, timeout=PROBE_TIMEOUT)
    except ProbeTimeout:
        raise _Unreadable("probing timed out") from None
    if proc.returncode != 0 or (clean and proc.stderr.strip()):
        lines = [ln.split("] ", 1)[-1] for ln in proc.stderr.strip().splitlines() if ln.strip()]
        if refused_format(lines):
            raise _Unreadable(REFUSED_FORMAT)
        raise _Unreadable(_unnamed(lines[-1], source)[:200] if lines else "ffprobe failed")
    data = json.loads(proc.stdout or "{}")
    if not data.get("format"):
        raise _Unreadable("no container found")
    return data


def _unnamed(line: str, source: str) -> str:
    """An ffprobe message without the source's name in front (as given, or as ``file:PATH``)."""
    for name in (f"file:{source}", source):
        line = line.replace(f"{name}: ", "")
    return line


def _pyav(source: str) -> dict[str, Any]:
    import av  # noqa: PLC0415 - only without ffprobe

    try:
        container = open_av(source, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise _Unreadable(str(getattr(exc, "strerror", None) or exc)) from None
    with container:
        streams = []
        for s in container.streams:
            if s.type not in ("audio", "video"):
                continue
            ctx = s.codec_context
            streams.append(
                {
                    "codec_type": s.type,
                    "codec_name": ctx.name,
                    "width": getattr(ctx, "width", None),
                    "height": getattr(ctx, "height", None),
                    "sample_rate": getattr(ctx, "sample_rate", None),
                    "channels": getattr(ctx, "channels", None),
                    "duration": float(s.duration * s.time_base) if s.duration is not None and s.time_base else None,
                    "disposition": {"attached_pic": int(bool(s.disposition & av.stream.Disposition.attached_pic))},
                }
            )
        duration = container.duration / 1_000_000 if container.duration else None
        return {
            "format": {"format_name": container.format.name, "duration": duration, "bit_rate": container.bit_rate},
            "streams": streams,
        }


class _Unreadable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def identify(source: str, tools: FFmpegTools | None, *, family: str | None, name: str = "the upload") -> MediaFacts:
    """Probe ``source`` (a path or URL). ``family`` is what its first bytes were sniffed as."""
    try:
        data = _ffprobe(source, tools.ffprobe) if tools is not None and tools.ffprobe is not None else _pyav(source)
    except _Unreadable as exc:
        if family is None:
            raise NotMediaError(f"{name} is not audio, video or an image ({exc.reason}); upload a media file") from None
        raise CorruptMediaError(
            f"{name} looks like {family} but cannot be read ({exc.reason}); re-export it and upload again"
        ) from None
    return _facts(data, family, name)


def identify_window(
    window: ByteWindow, tools: FFmpegTools | None, *, family: str | None, name: str = "the upload"
) -> MediaFacts | None:
    """:func:`identify` from the first and last bytes of a file (:mod:`.bytewindow`), or None
    when ffprobe needed a byte outside them, reported any error, or the file would be refused:
    then the stored file is probed, and gives the answer (or the refusal) it always gave."""
    if tools is None or tools.ffprobe is None:
        return None
    with serve(window) as served:
        try:
            data = _ffprobe(served.url, tools.ffprobe, clean=True)
        except _Unreadable:
            return None
    if served.refused:
        return None
    try:
        return _facts(data, family, name)
    except InputError:
        return None


def _facts(data: dict[str, Any], family: str | None, name: str) -> MediaFacts:
    fmt = data["format"]
    format_name = str(fmt.get("format_name") or "unknown")
    streams = [
        s
        for s in data.get("streams", [])
        if s.get("codec_type") in ("audio", "video") and not (s.get("disposition") or {}).get("attached_pic")
    ]
    video = next((s for s in streams if s["codec_type"] == "video"), None)
    audio = next((s for s in streams if s["codec_type"] == "audio"), None)
    duration = _num(fmt.get("duration")) or max((_num(s.get("duration")) or 0.0 for s in streams), default=0.0)
    if video is None and audio is None:
        raise NoStreamsError(f"{name} has neither sound nor picture; upload an audio, video or image file")
    is_image = (
        video is not None
        and audio is None
        and (
            format_name in IMAGE_FORMATS
            or family == "image"
            or (video.get("codec_name") in IMAGE_CODECS and (duration or 0.0) <= 0.1)
        )
    )
    file_type = "image" if is_image else "video" if video is not None else "audio"
    if file_type != "image" and not duration:
        raise CorruptMediaError(f"{name} has no playable duration; re-export it and upload again")
    codec = (video or audio or {}).get("codec_name")
    details: dict[str, Any] = {"format": format_name, "bit_rate": _num(fmt.get("bit_rate"), int)}
    if video is not None:
        rate = str(video.get("avg_frame_rate") or video.get("r_frame_rate") or "")
        if "/" in rate:
            num, _, den = rate.partition("/")
            fps = _num(num) / _num(den) if _num(den) else None
            details["fps"] = round(fps, 3) if fps else None
        details["pix_fmt"] = video.get("pix_fmt")
    if audio is not None:
        details["sample_rate"] = _num(audio.get("sample_rate"), int)
        details["channels"] = _num(audio.get("channels"), int)
    return MediaFacts(
        file_type=file_type,
        mime_type=mime_type_for(family, file_type, format_name, codec),
        format_name=format_name,
        duration=None if file_type == "image" else round(float(duration), 3),
        width=_num(video.get("width"), int) if video else None,
        height=_num(video.get("height"), int) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        details={k: v for k, v in details.items() if v is not None},
    )


def thumbnail_jpeg(
    source: str, tools: FFmpegTools, facts: MediaFacts, *, width: int, temp_dir: Path | None = None
) -> bytes:
    """One frame of a video (a second in, or a third of a short clip) or the image, scaled to
    ``width`` (never up), as JPEG bytes."""
    seek = [] if facts.file_type == "image" else ["-ss", f"{min(1.0, (facts.duration or 0.0) / 3):.3f}"]
    with workdir("mediaenhancer-thumb-", temp_dir) as folder:
        out = Path(folder) / "thumbnail.jpg"
        argv = guard_inputs(
            [
                str(tools.ffmpeg),
                "-nostdin",
                "-v",
                "error",
                *seek,
                "-i",
                source,
                "-frames:v",
                "1",
                "-vf",
                f"scale='min({width},iw)':-2",
                "-f",
                "image2",
                "-c:v",
                "mjpeg",
                "-q:v",
                "4",
                "-y",
                str(out),
            ]
        )
        try:
            proc = run_probe(argv, timeout=PROBE_TIMEOUT)
        except ProbeTimeout:
            raise RenderError("making the thumbnail timed out") from None
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            last = proc.stderr.strip().splitlines()[-1:] or ["no frame"]
            raise RenderError(f"making the thumbnail failed ({last[0][:200]})")
        return out.read_bytes()
