"""What a media file contains: container, duration, streams and codecs.

Uses ``ffprobe`` when the machine has one, else PyAV (whose wheel bundles the
FFmpeg libraries), so probing works after a bare ``pip install``. Both produce the
same :class:`MediaInfo`.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.ffmpeg import (
    REFUSED_FORMAT,
    FFmpegTools,
    ProbeTimeout,
    open_av,
    probe_argv,
    refused_format,
    run_probe,
)
from mediaenhancer_core.engine.sniff import sniff_file
from mediaenhancer_core.errors import (
    CorruptMediaError,
    EmptyInputError,
    InputError,
    InputNotFoundError,
    InputUnreadableError,
    NoStreamsError,
    NotMediaError,
)

__all__ = ["StreamInfo", "MediaInfo", "probe", "check_input"]

IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "gif", "bmp_pipe", "tiff_pipe"}
IMAGE_CODECS = {"png", "mjpeg", "bmp", "gif", "webp", "tiff", "jpegls"}


@dataclass
class StreamInfo:
    index: int
    kind: str  # "audio" or "video"
    codec: str
    bit_rate: int | None = None
    # audio
    sample_rate: int | None = None
    channels: int | None = None
    channel_layout: str | None = None
    sample_fmt: str | None = None
    # video
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pix_fmt: str | None = None
    rotation: int = 0
    duration: float | None = None


@dataclass
class MediaInfo:
    path: str
    format_name: str
    duration: float
    size: int
    bit_rate: int | None = None
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        streams = [StreamInfo(**s) for s in data.get("streams", [])]
        return cls(**{**data, "streams": streams})


def check_input(path: Path) -> None:
    """Fail early, with a clear message, on a path that cannot be media."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputNotFoundError(f"{path}: no such file; check the path", path=path) from None
    except PermissionError:
        raise InputUnreadableError(f"{path}: permission denied; make the file readable (chmod +r)", path=path) from None
    except OSError as exc:
        raise InputUnreadableError(f"{path}: cannot read ({exc.strerror})", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a folder; pass the files in it, or use --recursive", path=path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file; pass a media file", path=path)
    try:
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
    except PermissionError:
        raise InputUnreadableError(f"{path}: permission denied; make the file readable (chmod +r)", path=path) from None
    except OSError as exc:
        raise InputUnreadableError(f"{path}: cannot read ({exc.strerror})", path=path) from None
    if st.st_size == 0:
        raise EmptyInputError(f"{path}: the file is empty (0 bytes); re-export or re-copy it", path=path)


def probe(path: Path, tools: FFmpegTools | None) -> MediaInfo:
    """Probe ``path``; raises an :class:`InputError` subclass for bad input."""
    path = Path(path)
    check_input(path)
    family = sniff_file(path)
    if family == "wav" and _wav_truncated(path):
        raise CorruptMediaError(
            f"{path}: truncated wav file (its header promises more audio than the file holds); re-export or re-copy it",
            path=path,
        )
    try:
        if tools is not None and tools.ffprobe is not None:
            info = _probe_ffprobe(path, tools.ffprobe)
        else:
            info = _probe_pyav(path)
    except _ProbeFailed as exc:
        if family is None:
            raise NotMediaError(
                f"{path}: not a media file ({exc.reason}); pass an audio or video file", path=path
            ) from None
        raise CorruptMediaError(
            f"{path}: damaged {family} file ({exc.reason}); re-export or re-download it", path=path
        ) from None

    if info.format_name in IMAGE_FORMATS or (
        info.video and not info.audio and info.video.codec in IMAGE_CODECS and info.duration <= 0.1
    ):
        raise NoStreamsError(f"{path}: is an image, not audio or video; pass an audio or video file", path=path)
    if not info.streams:
        raise NoStreamsError(
            f"{path}: has neither an audio nor a video stream; pass a file with sound or picture", path=path
        )
    if info.duration <= 0:
        raise CorruptMediaError(f"{path}: has no playable duration; re-export or re-download it", path=path)
    return info


def _wav_truncated(path: Path) -> bool:
    """A RIFF/WAVE file whose data chunk claims more bytes than the file holds."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(12)[8:12] != b"WAVE":
            return False
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            head = fh.read(8)
            length = int.from_bytes(head[4:8], "little")
            if head[:4] == b"data":
                # 0 and 0xFFFFFFFF mark a stream whose length was never written
                return 0 < length < 0xFFFFFFFF and pos + 8 + length > size
            pos += 8 + length + (length & 1)
    return False


class _ProbeFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fps(value: Any) -> float | None:
    try:
        frac = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return float(frac) if frac > 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _probe_ffprobe(path: Path, ffprobe: Path) -> MediaInfo:
    argv = probe_argv(ffprobe, str(path), "-v", "error", "-show_format", "-show_streams", "-of", "json")
    try:
        proc = run_probe(argv, timeout=120)
    except ProbeTimeout:
        raise _ProbeFailed("probing timed out") from None
    if proc.returncode != 0:
        lines = [ln.split("] ", 1)[-1] for ln in proc.stderr.strip().splitlines() if ln.strip()]
        if refused_format(lines):
            raise _ProbeFailed(REFUSED_FORMAT)
        raise _ProbeFailed(
            lines[-1].replace(f"file:{path}: ", "").replace(f"{path}: ", "") if lines else "ffprobe failed"
        )
    data = json.loads(proc.stdout or "{}")
    fmt = data.get("format") or {}
    if not fmt:
        raise _ProbeFailed("no container found")
    streams: list[StreamInfo] = []
    for s in data.get("streams", []):
        kind = s.get("codec_type")
        disposition = s.get("disposition") or {}
        if kind not in ("audio", "video") or disposition.get("attached_pic"):
            continue
        rotation = 0
        for side in s.get("side_data_list", []) or []:
            if "rotation" in side:
                rotation = int(float(side["rotation"]))
        if "rotate" in (s.get("tags") or {}):
            rotation = int(float(s["tags"]["rotate"]))
        streams.append(
            StreamInfo(
                index=int(s["index"]),
                kind=kind,
                codec=s.get("codec_name") or "unknown",
                bit_rate=_int(s.get("bit_rate")),
                sample_rate=_int(s.get("sample_rate")),
                channels=_int(s.get("channels")),
                channel_layout=s.get("channel_layout"),
                sample_fmt=s.get("sample_fmt"),
                width=_int(s.get("width")),
                height=_int(s.get("height")),
                fps=_fps(s.get("avg_frame_rate")) or _fps(s.get("r_frame_rate")) if kind == "video" else None,
                pix_fmt=s.get("pix_fmt"),
                rotation=rotation,
                duration=_float(s.get("duration")),
            )
        )
    duration = _float(fmt.get("duration")) or max((s.duration or 0.0 for s in streams), default=0.0)
    return MediaInfo(
        path=str(path),
        format_name=fmt.get("format_name", "unknown"),
        duration=duration,
        size=_int(fmt.get("size")) or path.stat().st_size,
        bit_rate=_int(fmt.get("bit_rate")),
        streams=streams,
    )


def _probe_pyav(path: Path) -> MediaInfo:
    import av  # noqa: PLC0415 - lazy: ~100 ms import, only without ffprobe

    try:
        container = open_av(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _ProbeFailed(str(reason)) from None
    with container:
        streams: list[StreamInfo] = []
        for s in container.streams:
            if s.type not in ("audio", "video"):
                continue
            if s.disposition & av.stream.Disposition.attached_pic:
                continue
            ctx = s.codec_context
            duration = float(s.duration * s.time_base) if s.duration is not None and s.time_base else None
            if s.type == "audio":
                layout = getattr(ctx, "layout", None)
                streams.append(
                    StreamInfo(
                        index=s.index,
                        kind="audio",
                        codec=ctx.codec.canonical_name,
                        bit_rate=ctx.bit_rate or None,
                        sample_rate=ctx.sample_rate or None,
                        channels=ctx.channels or None,
                        channel_layout=layout.name if layout is not None else None,
                        sample_fmt=ctx.format.name if ctx.format is not None else None,
                        duration=duration,
                    )
                )
            else:
                rate = s.average_rate or s.guessed_rate
                streams.append(
                    StreamInfo(
                        index=s.index,
                        kind="video",
                        codec=ctx.codec.canonical_name,
                        bit_rate=ctx.bit_rate or None,
                        width=ctx.width or None,
                        height=ctx.height or None,
                        fps=float(rate) if rate else None,
                        pix_fmt=ctx.format.name if ctx.format is not None else None,
                        rotation=_pyav_rotation(s),
                        duration=duration,
                    )
                )
        total = (
            container.duration / 1_000_000
            if container.duration
            else max((s.duration or 0.0 for s in streams), default=0.0)
        )
        return MediaInfo(
            path=str(path),
            format_name=container.format.name,
            duration=float(total),
            size=path.stat().st_size,
            bit_rate=container.bit_rate or None,
            streams=streams,
        )


def _pyav_rotation(stream: Any) -> int:
    rotate = (stream.metadata or {}).get("rotate")
    if rotate is not None:
        try:
            return int(float(rotate))
        except ValueError:
            return 0
    return 0
