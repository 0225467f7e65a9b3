"""Choosing the output container, codecs and their settings.

Rules: keep the input's container and codecs where sensible; never write absurd
combinations (no 192 kHz output, no PCM in MP4, Opus always at 48 kHz); map the
quality presets to CRF (video) and bitrate/VBR settings (audio).
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaenhancer_core.choices import QUALITIES
from mediaenhancer_core.engine.plan import OutputSpec
from mediaenhancer_core.engine.probe import MediaInfo
from mediaenhancer_core.errors import PlanError

__all__ = [
    "FORMATS",
    "QUALITIES",
    "output_spec",
    "default_format",
    "format_for_path",
    "format_for_input",
    "encode_spec",
    "Format",
]


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    video: bool  # can hold video
    copy_video: frozenset[str]  # video codecs that may be copied into it
    audio_encoder: str
    default_video_encoder: str | None = None
    muxer_args: tuple[str, ...] = ()


_MP4_VIDEO = frozenset({"h264", "hevc", "av1", "mpeg4", "vp9"})
FORMATS: dict[str, Format] = {
    "mp4": Format("mp4", ".mp4", True, _MP4_VIDEO, "aac", "libx264", ("-movflags", "+faststart")),
    "mov": Format("mov", ".mov", True, _MP4_VIDEO | {"prores", "mjpeg"}, "aac", "libx264", ("-movflags", "+faststart")),
    "mkv": Format(
        "mkv",
        ".mkv",
        True,
        frozenset({"h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "mpeg2video", "prores", "mjpeg", "theora"}),
        "aac",
        "libx264",
    ),
    "webm": Format("webm", ".webm", True, frozenset({"vp8", "vp9", "av1"}), "libopus", "libvpx-vp9"),
    "mp3": Format("mp3", ".mp3", False, frozenset(), "libmp3lame"),
    "m4a": Format("m4a", ".m4a", False, frozenset(), "aac", None, ("-movflags", "+faststart")),
    "wav": Format("wav", ".wav", False, frozenset(), "pcm_s16le"),
    "flac": Format("flac", ".flac", False, frozenset(), "flac"),
    "ogg": Format("ogg", ".ogg", False, frozenset(), "libvorbis"),
    "opus": Format("opus", ".opus", False, frozenset(), "libopus"),
}

_BY_EXTENSION = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "mkv",
    ".webm": "webm",
    ".mp3": "mp3",
    ".m4a": "m4a",
    ".aac": "m4a",
    ".wav": "wav",
    ".wave": "wav",
    ".flac": "flac",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".opus": "opus",
    ".avi": "mp4",
    ".flv": "mp4",
    ".wmv": "mp4",
    ".mpg": "mp4",
    ".mpeg": "mp4",
    ".ts": "mp4",
    ".mts": "mp4",
    ".m2ts": "mp4",
    ".3gp": "mp4",
    ".aif": "flac",
    ".aiff": "flac",
    ".wma": "m4a",
    ".caf": "m4a",
}

# video encoder per source codec (when re-encoding we keep the codec family)
_VIDEO_ENCODER = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "vp8": "libvpx-vp9", "av1": "libsvtav1"}
_CRF = {
    "libx264": {"draft": 28, "standard": 21, "high": 18, "archive": 14},
    "libx265": {"draft": 30, "standard": 25, "high": 22, "archive": 18},
    "libvpx-vp9": {"draft": 40, "standard": 32, "high": 28, "archive": 22},
    "libsvtav1": {"draft": 42, "standard": 34, "high": 28, "archive": 22},
}
_X26X_PRESET = {"draft": "veryfast", "standard": "faster", "high": "medium", "archive": "slow"}
_AAC_KBPS_PER_CH = {"draft": 48, "standard": 80, "high": 112, "archive": 160}
_OPUS_KBPS_PER_CH = {"draft": 32, "standard": 56, "high": 80, "archive": 128}
_MP3_VBR = {"draft": "6", "standard": "3", "high": "1", "archive": "0"}
_VORBIS_Q = {"draft": "3", "standard": "5", "high": "7", "archive": "9"}


def format_for_path(path: str) -> str | None:
    """The output format a file name asks for by its extension, if it names one we write."""
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return next((name for name, f in FORMATS.items() if f.extension == ext), None)


def format_for_input(path: str) -> str | None:
    """The output format an input of this name keeps by default (before probing: None when the
    extension says nothing)."""
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return _BY_EXTENSION.get(ext)


def default_format(info: MediaInfo) -> str:
    ext = "." + info.path.rsplit(".", 1)[-1].lower() if "." in info.path else ""
    fmt = _BY_EXTENSION.get(ext)
    if fmt is None:
        fmt = "mp4" if info.has_video else "m4a"
    if info.has_video and not FORMATS[fmt].video:
        fmt = "mp4"
    return fmt


def _sample_rate(info: MediaInfo, encoder: str) -> int:
    src = (info.audio.sample_rate if info.audio else None) or 48000
    if encoder == "libopus":
        return 48000
    if encoder == "libmp3lame":
        return src if src in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000) else 48000
    if src > 48000:
        return 48000  # nobody needs 96/192 kHz delivery files
    if src < 8000:
        return 8000
    return src


def output_spec(
    info: MediaInfo,
    *,
    fmt: str | None,
    quality: str,
    change_video: bool,
    audio_only: bool,
) -> OutputSpec:
    """Decide the output for ``info``. ``change_video``: the plan alters the picture."""
    if quality not in QUALITIES:
        raise PlanError(f"--quality: unknown quality {quality!r}; use {', '.join(QUALITIES)}")
    name = fmt or default_format(info)
    if name not in FORMATS:
        raise PlanError(f"--format: unknown format {name!r}; use {', '.join(FORMATS)}")
    f = FORMATS[name]
    reasons: list[str] = []

    # ---- video
    video_mode, video_codec, video_args = "none", None, []
    v = info.video
    if v is not None and f.video:
        can_copy = v.codec in f.copy_video
        if audio_only and not can_copy:
            raise PlanError(
                f"{info.path}: --audio-only copies the video, but {v.codec} video cannot go into {name}; "
                f"choose --format {'mkv' if v.codec in FORMATS['mkv'].copy_video else 'mp4'} or drop --audio-only"
            )
        if not change_video and can_copy:
            video_mode, video_codec = "copy", v.codec
            reasons.append(f"video copied ({v.codec}): no picture change planned")
        else:
            video_mode = "encode"
            encoder = _VIDEO_ENCODER.get(v.codec, f.default_video_encoder or "libx264")
            if name == "webm":
                encoder = "libsvtav1" if v.codec == "av1" else "libvpx-vp9"
            elif encoder == "libvpx-vp9" and name in ("mp4", "mov"):
                encoder = "libx264"
            video_codec = encoder
            video_args = _video_args(encoder, quality, v.pix_fmt)
            reasons.append(
                f"video encoded with {encoder} ({quality})"
                + ("" if change_video else f": {v.codec} cannot be copied into {name}")
            )
    elif v is not None and not f.video:
        reasons.append(f"video dropped: {name} holds audio only")

    # ---- audio
    audio_codec, audio_args, rate, channels = None, [], None, None
    a = info.audio
    if a is not None:
        encoder = f.audio_encoder
        if name == "mkv" and a.codec in ("opus", "flac", "vorbis"):
            encoder = {"opus": "libopus", "flac": "flac", "vorbis": "libvorbis"}[a.codec]
        if name in ("mov",) and a.codec.startswith("pcm_"):
            encoder = "pcm_s16le" if a.codec in ("pcm_s16le", "pcm_s16be") else "pcm_s24le"
        if (
            name == "wav"
            and (a.sample_fmt or "").startswith(("s32", "flt", "dbl"))
            or (name == "wav" and a.codec in ("pcm_s24le", "pcm_s32le", "pcm_f32le", "flac"))
        ):
            encoder = "pcm_s24le"
        channels = min(a.channels or 2, 2 if encoder in ("libmp3lame",) else 8)
        rate = _sample_rate(info, encoder)
        audio_codec = encoder
        audio_args = _audio_args(encoder, quality, channels, a)
        reasons.append(f"audio encoded with {encoder} at {rate} Hz")
    return OutputSpec(
        format=name,
        extension=f.extension,
        video=video_mode,
        video_codec=video_codec,
        video_args=video_args,
        audio_codec=audio_codec,
        audio_args=audio_args,
        sample_rate=rate,
        channels=channels,
        muxer_args=list(f.muxer_args),
        quality=quality,
        reason="; ".join(reasons),
    )


def encode_spec(fmt: str, quality: str, *, has_video: bool, sample_rate: int = 48000, channels: int = 2) -> OutputSpec:
    """The output of a newly rendered programme (an export): the format's own encoders, no copies."""
    f = FORMATS[fmt]
    has_video = has_video and f.video
    vcodec = (f.default_video_encoder or "libx264") if has_video else None
    acodec = "pcm_s24le" if f.audio_encoder == "pcm_s16le" else f.audio_encoder
    return OutputSpec(
        format=fmt,
        extension=f.extension,
        video="encode" if has_video else "none",
        video_codec=vcodec,
        video_args=_video_args(vcodec, quality, "yuv420p") if vcodec else [],
        audio_codec=acodec,
        audio_args=_audio_args(acodec, quality, channels, None, deep=True),
        sample_rate=sample_rate,
        channels=channels,
        muxer_args=list(f.muxer_args),
        quality=quality,
        reason="rendered: the format's encoders",
    )


def _video_args(encoder: str, quality: str, pix_fmt: str | None) -> list[str]:
    crf = str(_CRF.get(encoder, _CRF["libx264"])[quality])
    if encoder in ("libx264", "libx265"):
        ten_bit = encoder == "libx265" and pix_fmt is not None and "10" in pix_fmt
        args = ["-preset", _X26X_PRESET[quality], "-crf", crf, "-pix_fmt", "yuv420p10le" if ten_bit else "yuv420p"]
        if encoder == "libx265":
            args += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
        return args
    if encoder == "libvpx-vp9":
        return [
            "-crf",
            crf,
            "-b:v",
            "0",
            "-row-mt",
            "1",
            "-deadline",
            "good",
            "-cpu-used",
            "4" if quality != "archive" else "2",
            "-pix_fmt",
            "yuv420p",
        ]
    if encoder == "libsvtav1":
        return ["-crf", crf, "-preset", "8" if quality in ("draft", "standard") else "5", "-pix_fmt", "yuv420p"]
    return ["-q:v", "3"]


def _audio_args(encoder: str, quality: str, channels: int, a: object, *, deep: bool | None = None) -> list[str]:
    if encoder == "aac":
        return ["-b:a", f"{_AAC_KBPS_PER_CH[quality] * min(channels, 2)}k"]
    if encoder == "libopus":
        return ["-b:a", f"{_OPUS_KBPS_PER_CH[quality] * min(channels, 2)}k"]
    if encoder == "libmp3lame":
        return ["-q:a", _MP3_VBR[quality]]
    if encoder == "libvorbis":
        return ["-q:a", _VORBIS_Q[quality]]
    if encoder == "flac":
        if deep is None:
            src_fmt = getattr(a, "sample_fmt", None) or ""
            deep = src_fmt.startswith(("s32", "flt", "dbl")) or getattr(a, "codec", "") in (
                "pcm_s24le",
                "pcm_s32le",
                "pcm_f32le",
            )
        return ["-sample_fmt", "s32", "-bits_per_raw_sample", "24"] if deep else ["-sample_fmt", "s16"]
    return []
