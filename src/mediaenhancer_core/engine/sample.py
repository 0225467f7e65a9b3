"""A sample clip with the problems Media Enhancer fixes.

``mediaenhancer sample demo.mp4`` writes a short clip so a new user can try the tool
without any media of their own: a real voice (a public-domain LJ Speech reading that
comes with the package, looped with pauses) made quiet and put under hiss and 50 Hz
mains hum, and a dim, flat, noisy picture made by ffmpeg's lavfi sources.
"""

from __future__ import annotations

from pathlib import Path

from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools, run
from mediaenhancer_core.errors import PlanError
from mediaenhancer_core.files import atomic_output

__all__ = ["write_sample"]

_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".m4a": "ipod"}


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
    voice = Path(__file__).parent.parent / "data" / "sample-speech.flac"
    audio = (
        f"[0:a]aresample=48000,volume=0.12,atrim=0:{duration},asetpts=PTS-STARTPTS[sp];"
        f"anoisesrc=c=pink:a=0.012:r=48000:d={duration}[hiss];"
        f"sine=f=50:r=48000:d={duration},volume=0.02[hum];"
        "[sp][hiss][hum]amix=inputs=3:normalize=0:duration=shortest,aformat=channel_layouts=mono[a]"
    )
    args = [str(tools.ffmpeg), "-y", "-stream_loop", "-1", "-i", str(voice), "-filter_complex", audio]
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
