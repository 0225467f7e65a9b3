"""A generated sample clip with the problems Media Enhancer fixes.

``mediaenhancer sample demo.mp4`` writes a short clip made entirely by ffmpeg's
lavfi sources, so a new user can try the tool without any media of their own:
quiet, speech-like audio (a voiced harmonic series with syllable rhythm and
pauses) under hiss and 50 Hz mains hum, and a dim, flat, noisy picture.
"""

from __future__ import annotations

from pathlib import Path

from .errors import PlanError
from .ffmpeg import CancelToken, FFmpegTools, run
from .files import atomic_output

__all__ = ["write_sample", "speech_like_expr"]

_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".m4a": "ipod"}


def speech_like_expr(level: float = 0.06, f0: float = 140.0, pause_every: float = 5.0, pause: float = 1.2) -> str:
    """An aevalsrc expression: harmonics of ``f0`` with a 4 Hz syllable rhythm and regular pauses."""
    harmonics = "+".join(f"{a}*sin(2*PI*{f0 * k:g}*t)" for k, a in ((1, 1.0), (2, 0.7), (3, 0.5), (4, 0.35), (5, 0.25), (7, 0.15), (9, 0.1)))
    return f"{level}*({harmonics})*(0.55+0.45*sin(2*PI*4*t))*gt(mod(t\\,{pause_every:g})\\,{pause:g})"


def write_sample(
    dest: Path,
    tools: FFmpegTools,
    *,
    duration: float = 12.0,
    audio_only: bool = False,
    width: int = 640,
    height: int = 360,
    cancel: CancelToken | None = None,
) -> Path:
    if dest.suffix.lower() not in _MUXERS or (not audio_only and dest.suffix.lower() == ".m4a"):
        raise PlanError(f"{dest}: write the sample as .mp4, .mov or .mkv (or .m4a with --audio-only)", path=dest)
    if not 1.0 <= duration <= 600.0:
        raise PlanError(f"--duration: {duration:g} s is outside 1..600 seconds")
    speech = speech_like_expr()
    audio = (
        f"aevalsrc=exprs='{speech}':s=48000:d={duration}[sp];"
        f"anoisesrc=c=pink:a=0.012:r=48000:d={duration}[hiss];"
        f"sine=f=50:r=48000:d={duration},volume=0.02[hum];"
        "[sp][hiss][hum]amix=inputs=3:normalize=0,aformat=channel_layouts=mono[a]"
    )
    args = [str(tools.ffmpeg), "-y", "-filter_complex", audio]
    if not audio_only:
        video = (
            f"testsrc2=s={width}x{height}:r=30:d={duration},"
            "eq=contrast=0.55:brightness=-0.12:saturation=0.5,noise=alls=12:allf=t,format=yuv420p[v]"
        )
        args += ["-filter_complex", video, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
    args += ["-map", "[a]", "-c:a", "aac", "-b:a", "96k"]
    with atomic_output(dest) as tmp:
        args += ["-f", _MUXERS[dest.suffix.lower()], str(tmp)]
        run(args, what="sample", path=dest, cancel=cancel)
    return dest

