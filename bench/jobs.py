#!/usr/bin/env python3
"""Benchmarks of server-side jobs (issue 6), ratios against baselines measured in the same run.

    .venv/bin/python bench/jobs.py [--only workers,export]

1. workers: 8 `denoise` jobs (45 s stereo takes) on two `mediaenhancer-server worker` processes
   against one, through a real server (embedded SQLite queue, local storage), from the first
   POST to the last job done.                                        goal: speed-up >= 1.6
2. export : a 5-segment project rendered by `mediaenhancer export --no-enhance` against the
   equivalent hand-written ffmpeg command (one concat filtergraph, same encoders).  goal <= 1.25
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
OUT = ROOT / "bench" / "out"
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def takes(n: int, seconds: int) -> list[Path]:
    from tests.media import audio_graph

    folder = OUT / "takes"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        f = folder / f"take{i}-{seconds}s.wav"
        if not f.exists():
            subprocess.run(
                [
                    FFMPEG,
                    "-v",
                    "error",
                    "-y",
                    "-filter_complex",
                    audio_graph(seconds, level=0.02, noise=0.006, channels=2),
                    "-map",
                    "[a]",
                    "-c:a",
                    "pcm_s16le",
                    str(f),
                ],
                check=True,
            )
        files.append(f)
    return files


def run_workers(n_workers: int, files: list[Path]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "MEDIAENHANCER_DATA_DIR": f"{tmp}/data",
            "MEDIAENHANCER_CONFIG_DIR": f"{tmp}/config",
            "MEDIAENHANCER_CACHE_DIR": f"{tmp}/cache",
            "MEDIAENHANCER_EMBEDDED_WORKERS": "0",
            "MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "1",
            "MEDIAENHANCER_LOG_LEVEL": "warning",
        }
        server = str(VENV / "mediaenhancer-server")
        subprocess.run(
            [server, "users", "create", "bench@example.com", "--password-stdin"],
            input="bench password 123\n",
            text=True,
            env=env,
            check=True,
            capture_output=True,
        )
        token = (
            subprocess.run(
                [server, "tokens", "create", "bench@example.com"], text=True, env=env, check=True, capture_output=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        api = subprocess.Popen(
            [server, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        workers: list[subprocess.Popen] = []
        try:
            url = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                for _ in range(100):
                    try:
                        if client.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                ids = []
                for f in files:
                    with open(f, "rb") as fh:
                        ids.append(client.post("/api/media/upload", files={"file": (f.name, fh)}).json()["id"])
                workers = [
                    subprocess.Popen([server, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for _ in range(n_workers)
                ]
                time.sleep(2.0)  # let the workers start before the clock does
                t = time.perf_counter()
                jobs = [
                    client.post(
                        f"/api/media/{i}/enhance", json={"type": "denoise", "options": {"format": "flac"}}
                    ).json()["id"]
                    for i in ids
                ]
                while True:
                    states = [client.get(f"/api/jobs/{j}").json()["status"] for j in jobs]
                    if all(s in ("succeeded", "failed", "canceled") for s in states):
                        break
                    time.sleep(0.2)
                elapsed = time.perf_counter() - t
                assert set(states) == {"succeeded"}, states
                return elapsed
        finally:
            for p in [*workers, api]:
                p.send_signal(signal.SIGTERM)
            for p in [*workers, api]:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()


def bench_workers() -> dict:
    files = takes(8, 45)
    one = run_workers(1, files)
    two = run_workers(2, files)
    return {
        "test": "8 jobs: 2 workers speed-up over 1",
        "ours_s": two,
        "baseline_s": one,
        "ratio": one / two,
        "goal": ">= 1.6",
        "ok": one / two >= 1.6,
    }


def bench_export(runs: int = 3) -> dict:
    from tests.media import make_video

    folder = OUT / "export5"
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(5):
        f = folder / f"clip{i}.mp4"
        if not f.exists():
            make_video(
                f,
                20.0,
                size="1280x720",
                level=0.03,
                noise=0.004,
                video_args=("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"),
            )
        clips.append(f)
    spans = [(2.0, 10.0), (0.0, 6.0), (5.0, 15.0), (1.0, 7.0), (3.0, 11.0)]
    project = {
        "name": "bench",
        "segments": [{"media": str(c), "start": a, "end": b} for c, (a, b) in zip(clips, spans)],
        "output": {"format": "mp4", "quality": "standard", "enhance": False},
    }
    pfile = folder / "project.json"
    pfile.write_text(json.dumps(project))
    with tempfile.TemporaryDirectory() as tmp:
        ours = [str(VENV / "mediaenhancer"), "export", str(pfile), "-o", f"{tmp}/ours.mp4", "--force", "-q"]
        inputs: list[str] = []
        graph = []
        for i, (c, (a, b)) in enumerate(zip(clips, spans)):
            inputs += ["-ss", str(a), "-t", str(b - a), "-i", str(c)]
            graph.append(
                f"[{i}:v]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,"
                f"setsar=1,fps=30,format=yuv420p[v{i}];[{i}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]"
            )
        graph.append("".join(f"[v{i}][a{i}]" for i in range(5)) + "concat=n=5:v=1:a=1[v][a]")
        by_hand = [
            FFMPEG,
            "-v",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            ";".join(graph),
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "faster",
            "-crf",
            "21",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "160k",
            "-movflags",
            "+faststart",
            f"{tmp}/hand.mp4",
        ]

        def timed(cmd: list[str]) -> float:
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - t

        a, b = [], []
        for _ in range(runs):
            a.append(timed(ours))
            b.append(timed(by_hand))
    ra, rb = sorted(a)[len(a) // 2], sorted(b)[len(b) // 2]
    return {
        "test": "5-segment export vs hand-written ffmpeg",
        "ours_s": ra,
        "baseline_s": rb,
        "ratio": ra / rb,
        "goal": "<= 1.25",
        "ok": ra / rb <= 1.25,
    }


BENCHES = {"workers": bench_workers, "export": bench_export}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(BENCHES))
    args = ap.parse_args()
    results = []
    for name in args.only.split(","):
        r = BENCHES[name]()
        results.append(r)
        print(
            f"{r['test']:<50} ours {r['ours_s']:7.2f} s  baseline {r['baseline_s']:7.2f} s  ratio {r['ratio']:5.2f}  "
            f"goal {r['goal']:<8} {'ok' if r['ok'] else 'MISSED'}",
            flush=True,
        )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
