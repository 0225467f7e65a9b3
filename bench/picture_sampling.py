#!/usr/bin/env python3
"""Cost of picture.measure_picture's frame sampling on a long file (issue 14).

    .venv/bin/python bench/picture_sampling.py [--seconds 120] [--runs 3]

Reads the same 8 frames two ways and prints each as a ratio against a baseline measured in the
same run (`ffmpeg -i clip -frames:v 1 -f null -`, one decoded frame: the cost of starting ffmpeg
and opening the file):

- select : one ffmpeg decodes the whole file and a `select` filter keeps 8 frames (the old way);
- seek   : one ffmpeg opens the file once per frame with `-ss` before `-i` (a keyframe seek and a
           decode up to the frame) and concatenates the 8 frames.
The figures measured from both must agree (they are the same frames up to a keyframe interval).

Measured 2026-12-05 (2 shared cores, ffmpeg 9 bundled): 60 s 720p at 10 fps with a 25 s keyframe
interval, seek/select = 2.4-2.6; 120 s 720p 30 fps, GOP 250: select 115x the baseline, seek 153x,
seek/select = 1.33. The seek variant does not win (each seek decodes from the previous keyframe on
one thread, 8 inputs at once), so picture.py keeps the select pass.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from mediaenhancer_core.engine import picture  # noqa: E402
from mediaenhancer_core.engine.ffmpeg import locate_ffmpeg  # noqa: E402


def seek_frames(clip: Path, ff: str, *, width: int, height: int, duration: float, count: int = 8) -> list:
    """The seek variant: one ffmpeg, one input per frame with -ss (and -t 0.5) before -i."""
    args = [ff, "-v", "error"]
    chains = []
    for k in range(count):
        args += ["-threads", "1", "-ss", f"{duration * (k + 0.5) / count:.6f}", "-t", "0.5", "-i", str(clip)]
        chains.append(
            f"[{k}:v:0]trim=end_frame=1,setpts=PTS-STARTPTS,scale={width}:{height}:flags=area,format=yuv420p[f{k}]"
        )
    graph = ";".join(chains) + ";" + "".join(f"[f{k}]" for k in range(count)) + f"concat=n={count}:v=1:a=0[out]"
    out = subprocess.run(
        [*args, "-filter_complex", graph, "-map", "[out]", "-f", "rawvideo", "-"], capture_output=True, check=True
    ).stdout
    data = np.frombuffer(out, dtype=np.uint8)
    size = width * height * 3 // 2
    frames = []
    for k in range(len(data) // size):
        f = data[k * size : (k + 1) * size]
        frames.append(
            (
                f[: width * height].reshape(height, width),
                f[width * height : width * height * 5 // 4].reshape(height // 2, width // 2),
                f[width * height * 5 // 4 :].reshape(height // 2, width // 2),
            )
        )
    return frames


def _opt(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def main(argv: list[str]) -> int:
    seconds = float(_opt(argv, "--seconds", "120"))
    runs = int(_opt(argv, "--runs", "3"))
    gop = int(_opt(argv, "--gop", "250"))  # x264's default keyframe interval (frames at 30 fps)
    tools = locate_ffmpeg()
    ff = str(tools.ffmpeg)
    with tempfile.TemporaryDirectory(prefix="me-bench-sampling-") as tmp:
        clip = Path(tmp) / "long.mp4"
        src = ROOT / "tests" / "data" / "media" / "video-indoor-steady.mp4"
        subprocess.run(
            [
                ff,
                "-v",
                "error",
                "-y",
                "-stream_loop",
                "-1",
                "-i",
                str(src),
                "-t",
                str(seconds),
                "-an",
                "-vf",
                "fps=30,scale=1280:720,noise=alls=10:allf=t",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                str(gop),
                str(clip),
            ],
            check=True,
        )
        kw = {"width": 1280, "height": 720, "duration": seconds}
        times: dict[str, list[float]] = {"baseline": [], "select": [], "seek": []}
        stats = {}
        for _ in range(runs):
            t0 = time.monotonic()
            subprocess.run([ff, "-v", "error", "-i", str(clip), "-frames:v", "1", "-f", "null", "-"], check=True)
            times["baseline"].append(time.monotonic() - t0)
            for how in ("select", "seek"):
                t0 = time.monotonic()
                frames = seek_frames(clip, ff, **kw) if how == "seek" else picture.read_frames(clip, tools, **kw)
                times[how].append(time.monotonic() - t0)
                stats[how] = [picture.frame_stats(*f)["noise_luma"] for f in frames]
    base = statistics.median(times["baseline"])
    for how in ("select", "seek"):
        print(
            f"{how:7} {seconds:g} s 720p, 8 frames: {statistics.median(times[how]) / base:6.1f}x the baseline "
            f"(noise σ of the frames: {', '.join(f'{s:.2f}' for s in stats[how])})"
        )
    print(f"seek / select = {statistics.median(times['seek']) / statistics.median(times['select']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
