"""A small proxy of the media for the model: never the whole file unless asked.

The proxy is a low-bitrate mono excerpt of the sound (16 kHz Opus in Ogg, at most
60 s, placed where the analysis found the most speech or music rather than silence)
and a few small JPEG keyframes spread over the picture (skipping black stretches).
A minute of audio is about 180 kB, a keyframe about 20 kB. Each is made by one
ffmpeg run with an argument list (``mediaenhancer_core.engine.ffmpeg.run``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mediaenhancer_core.ai.gemini import MediaPart
from mediaenhancer_core.engine.analysis import Analysis
from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools, run
from mediaenhancer_core.engine.filtergraph import filter_str

__all__ = [
    "Proxy",
    "build_proxy",
    "excerpt_window",
    "keyframe_times",
    "audio_excerpt",
    "keyframes",
    "full_media",
    "MIME_TYPES",
    "EXCERPT_SECONDS",
    "KEYFRAMES",
    "KEYFRAME_WIDTH",
]

EXCERPT_SECONDS = 60.0
EXCERPT_BITRATE = "24k"
EXCERPT_RATE = 16000
KEYFRAMES = 4
KEYFRAME_WIDTH = 512

MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
}


@dataclass
class Proxy:
    parts: list[MediaPart]
    audio_window: tuple[float, float] | None = None
    frame_times: list[float] = field(default_factory=list)
    full: bool = False

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    def describe(self) -> str:
        if self.full:
            return "the whole file"
        bits = []
        if self.audio_window:
            a, b = self.audio_window
            bits.append(f"a {b - a:.0f} s audio excerpt ({a:.1f}–{b:.1f} s)")
        if self.frame_times:
            bits.append(f"{len(self.frame_times)} keyframes ({', '.join(f'{t:.1f}' for t in self.frame_times)} s)")
        return " and ".join(bits) or "no media"


def excerpt_window(
    duration: float, silence: Sequence[tuple[float, float]], seconds: float = EXCERPT_SECONDS
) -> tuple[float, float]:
    """The ``seconds``-long span holding the least silence (the earliest of equals).

    Candidate starts are the beginning and the moments sound resumes after each pause,
    so the excerpt starts at the start of a phrase.
    """
    if duration <= seconds:
        return 0.0, round(duration, 3)
    latest = duration - seconds
    starts = {0.0, latest} | {min(latest, max(0.0, end - 0.25)) for _, end in silence}

    def quiet(a: float) -> float:
        b = a + seconds
        return sum(max(0.0, min(b, e) - max(a, s)) for s, e in silence)

    best = min(sorted(starts), key=quiet)
    return round(best, 3), round(best + seconds, 3)


def keyframe_times(duration: float, black: Sequence[tuple[float, float]], count: int = KEYFRAMES) -> list[float]:
    """``count`` moments spread over the picture, moved out of black stretches where possible."""
    if duration <= 0 or count < 1:
        return []
    times = []
    for i in range(count):
        t = duration * (i + 0.5) / count
        for s, e in black:
            if s <= t <= e:
                later, earlier = e + 0.1, s - 0.1
                t = later if later < duration else (earlier if earlier > 0 else t)
        times.append(round(min(max(t, 0.0), max(0.0, duration - 0.05)), 3))
    return sorted(set(times))


def audio_excerpt(
    src: Path, tools: FFmpegTools, workdir: Path, window: tuple[float, float], *, cancel: CancelToken | None = None
) -> MediaPart:
    start, end = window
    out = workdir / f"excerpt-{start:.0f}.ogg"
    args = [
        str(tools.ffmpeg),
        "-y",
        "-v",
        "error",
        "-ss",
        f"{start:.3f}",
        "-t",
        f"{end - start:.3f}",
        "-i",
        str(src),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(EXCERPT_RATE),
        "-c:a",
        "libopus",
        "-b:a",
        EXCERPT_BITRATE,
        "-application",
        "voip",
        "-map_metadata",
        "-1",
        "-f",
        "ogg",
        str(out),
    ]
    run(args, cancel=cancel, what="audio excerpt for Gemini", path=src)
    return MediaPart(mime_type="audio/ogg", label=f"audio excerpt {start:.1f}-{end:.1f} s", path=out)


def keyframes(
    src: Path,
    tools: FFmpegTools,
    workdir: Path,
    times: Sequence[float],
    *,
    width: int = KEYFRAME_WIDTH,
    cancel: CancelToken | None = None,
) -> list[MediaPart]:
    """One ffmpeg run, one fast-seeking input per frame, one small JPEG out of each."""
    if not times:
        return []
    args = [str(tools.ffmpeg), "-y", "-v", "error"]
    for t in times:
        args += ["-ss", f"{t:.3f}", "-i", str(src)]
    scale = filter_str("scale", {"w": f"min({width},iw)", "h": -2, "flags": "bilinear"})
    outs = []
    for i, t in enumerate(times):
        out = workdir / f"frame-{i}.jpg"
        outs.append((t, out))
        args += [
            "-map",
            f"{i}:v:0",
            "-frames:v",
            "1",
            "-vf",
            scale,
            "-q:v",
            "6",
            "-f",
            "image2",
            "-update",
            "1",
            str(out),
        ]
    run(args, cancel=cancel, what="keyframes for Gemini", path=src)
    return [
        MediaPart(mime_type="image/jpeg", label=f"keyframe at {t:.1f} s", path=out) for t, out in outs if out.exists()
    ]


def full_media(src: Path) -> MediaPart:
    mime = MIME_TYPES.get(src.suffix.lower(), "application/octet-stream")
    return MediaPart(mime_type=mime, label=f"the whole file {src.name}", path=src)


def build_proxy(
    analysis: Analysis,
    tools: FFmpegTools,
    workdir: Path,
    *,
    full: bool = False,
    audio_only: bool = False,
    excerpt_seconds: float = EXCERPT_SECONDS,
    frames: int = KEYFRAMES,
    cancel: CancelToken | None = None,
) -> Proxy:
    """The proxy of ``analysis.info.path``: an audio excerpt and keyframes, or with ``full`` the file itself."""
    info = analysis.info
    src = Path(info.path)
    if full:
        return Proxy(parts=[full_media(src)], full=True)
    proxy = Proxy(parts=[])
    if info.has_audio:
        silence = analysis.audio.silence_spans if analysis.audio else []
        proxy.audio_window = excerpt_window(info.duration, silence, excerpt_seconds)
        proxy.parts.append(audio_excerpt(src, tools, workdir, proxy.audio_window, cancel=cancel))
    if info.has_video and not audio_only and frames > 0:
        black = analysis.video.black_spans if analysis.video else []
        proxy.frame_times = keyframe_times(info.duration, black, frames)
        proxy.parts += keyframes(src, tools, workdir, proxy.frame_times, cancel=cancel)
    return proxy
