"""Benchmark: a 1 GB upload through the server into S3 beside `aws s3 cp` of the same file, same run.

    .venv/bin/python bench/upload.py [--size-mb 1024] [--rounds 2] [--aws PATH]

Everything runs on loopback: `moto_server` (its own process) is the S3 service; the server is
`mediaenhancer-server` (one process, SQLite, storage_backend = s3); the client is
`mediaenhancer upload FILE` (its own process: the resumable protocol, one request carrying
the whole file). The baseline is `aws s3 cp` of the same file to the same moto server
(awscli from PATH, --aws, or installed into bench/out/awscli-venv from PyPI on first use),
and, for reference, boto3's managed transfer (``upload_file``) in a child process.

The file is a valid WAV (noise), since the server identifies uploads by their content; the
user is on the Professional plan (500 GB, media up to 2 h). Which of the two goes first
alternates each round; every transfer's object is removed after it, and the dirty pages of
the ones before are written out (``sync``) before it starts. The best round of each is
reported: MB/s, the ratio server/aws (issue 4's goal: at least 0.8), and the peak resident
memory (VmHWM) of the server and of the client (goal: under 150 MB each). No assertion:
this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"
MB = 1024 * 1024
BUCKET = "bench-media"
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def vm_hwm(pid: int) -> int:
    """Peak resident set of a live process, in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_wav(path: Path, size: int) -> None:
    """A WAV of noise of about ``size`` bytes: 8 channels of 48 kHz float32 (1.5 MB/s; 1 GB is 12 min)."""
    channels, rate, width = 8, 48_000, 4
    data = size - 44
    data -= data % (channels * width)
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 3, channels, rate, rate * channels * width, channels * width, width * 8)
        + b"data"
        + struct.pack("<I", data)
    )
    block = os.urandom(MB)
    block = bytes(b & 0x3E for b in block[:4096]) * (MB // 4096)  # small floats: no NaN/inf samples
    with open(path, "wb") as fh:
        fh.write(header)
        left = data
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, float]:
    """Wall seconds, peak RSS (ru_maxrss: the kernel's VmHWM at exit), stdout and CPU seconds of a child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
        return elapsed, usage.ru_maxrss * 1024, out.read().decode(), usage.ru_utime + usage.ru_stime


def find_aws(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    found = shutil.which("aws")
    if found:
        return [found]
    venv = OUT / "awscli-venv"
    if not (venv / "bin" / "aws").exists():
        print("== installing awscli from PyPI into bench/out/awscli-venv", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    return [str(venv / "bin" / "aws")]


BOTO3_CHILD = """
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], config=Config(signature_version="s3v4"))
s3.upload_file(sys.argv[2], sys.argv[3], sys.argv[4])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--aws", help="path of the aws command (default: on PATH, else installed into bench/out)")
    ap.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the server, e.g. MEDIAENHANCER_UPLOAD_CONCURRENCY=6 (repeatable)",
    )
    args = ap.parse_args()
    aws = find_aws(args.aws)

    work = Path(tempfile.mkdtemp(prefix="me-bench-upload-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        media = work / "bench.wav"
        make_wav(media, args.size_mb * MB)
        size = media.stat().st_size
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAENHANCER_")}

        s3_port = free_port()
        procs.append(
            subprocess.Popen(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        s3_url = f"http://127.0.0.1:{s3_port}"
        wait_http(s3_url + "/moto-api/")
        aws_env = {**base_env, **KEYS}
        subprocess.run(
            [*aws, "s3api", "create-bucket", "--bucket", BUCKET, "--endpoint-url", s3_url],
            env=aws_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

        port = free_port()
        env = {
            **base_env,
            "MEDIAENHANCER_DATA_DIR": str(work / "data"),
            "MEDIAENHANCER_CONFIG_DIR": str(work / "config"),
            "MEDIAENHANCER_CACHE_DIR": str(work / "cache"),
            "MEDIAENHANCER_STORAGE_BACKEND": "s3",
            "MEDIAENHANCER_S3_ENDPOINT_URL": s3_url,
            "MEDIAENHANCER_S3_BUCKET": BUCKET,
            "MEDIAENHANCER_S3_ACCESS_KEY_ID": KEYS["AWS_ACCESS_KEY_ID"],
            "MEDIAENHANCER_S3_SECRET_ACCESS_KEY": KEYS["AWS_SECRET_ACCESS_KEY"],
            "MEDIAENHANCER_STORAGE_REAP_INTERVAL_SECONDS": "0",
            "MEDIAENHANCER_LOG_LEVEL": "warning",
            "MEDIAENHANCER_SERVER_URL": f"http://127.0.0.1:{port}",
        }
        env.update(dict(item.split("=", 1) for item in args.server_env))
        admin = str(BIN / "mediaenhancer-server")
        subprocess.run(
            [admin, "users", "create", "bench@example.com", "--plan", "professional"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        token = (
            subprocess.run(
                [admin, "tokens", "create", "bench@example.com"], env=env, check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        server = subprocess.Popen(
            [admin, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(server)
        wait_http(f"http://127.0.0.1:{port}/health")
        client_env = {**env, "MEDIAENHANCER_TOKEN": token}

        results: dict[str, list[float]] = {"server": [], "aws": [], "boto3": []}
        client_rss: list[int] = []

        def aws_cp(i: int) -> None:
            moto_before = cpu_seconds(procs[0].pid)
            t, _, _, cpu = run_measured(
                [
                    *aws,
                    "s3",
                    "cp",
                    str(media),
                    f"s3://{BUCKET}/aws-{i}",
                    "--endpoint-url",
                    s3_url,
                    "--only-show-errors",
                ],
                aws_env,
            )
            print(
                f"  aws s3 cp {t:.1f} s wall: aws {cpu:.1f} s CPU, moto {cpu_seconds(procs[0].pid) - moto_before:.1f} s CPU",
                file=sys.stderr,
            )
            results["aws"].append(size / t / 1e6)
            subprocess.run(
                [*aws, "s3", "rm", f"s3://{BUCKET}/aws-{i}", "--endpoint-url", s3_url, "--only-show-errors"],
                env=aws_env,
                check=True,
            )

        def through_server(i: int) -> None:
            cpu_before = cpu_seconds(server.pid), cpu_seconds(procs[0].pid)
            t, rss, out, cpu = run_measured(
                [str(BIN / "mediaenhancer"), "upload", str(media), "--json", "--quiet"], client_env
            )
            cpu_used = [a - b for a, b in zip((cpu_seconds(server.pid), cpu_seconds(procs[0].pid)), cpu_before)]
            print(
                f"  upload {t:.1f} s wall: client {cpu:.1f} s CPU, server {cpu_used[0]:.1f} s CPU, "
                f"moto {cpu_used[1]:.1f} s CPU",
                file=sys.stderr,
            )
            results["server"].append(size / t / 1e6)
            client_rss.append(rss)
            media_id = json.loads(out.splitlines()[0])["media"]["id"]
            subprocess.run(
                [str(BIN / "mediaenhancer"), "media", "rm", media_id],
                env=client_env,
                check=True,
                stdout=subprocess.DEVNULL,
            )

        def boto3_upload_file(i: int) -> None:
            t, _, _, _ = run_measured(
                [sys.executable, "-c", BOTO3_CHILD, s3_url, str(media), BUCKET, f"boto3-{i}"], aws_env
            )
            results["boto3"].append(size / t / 1e6)
            subprocess.run(
                [*aws, "s3", "rm", f"s3://{BUCKET}/boto3-{i}", "--endpoint-url", s3_url, "--only-show-errors"],
                env=aws_env,
                check=True,
            )

        for i in range(args.rounds):
            # Each transfer starts from the same state: its object removed after it, and the
            # dirty pages of earlier ones (moto spools parts to temporary files) written out
            # first, so none pays for another's writeback. Which goes first alternates.
            for run in ((aws_cp, through_server) if i % 2 == 0 else (through_server, aws_cp)) + (boto3_upload_file,):
                os.sync()
                run(i)
            print(
                f"round {i + 1}: server {results['server'][-1]:.0f} MB/s, aws s3 cp {results['aws'][-1]:.0f} MB/s, "
                f"boto3 upload_file {results['boto3'][-1]:.0f} MB/s",
                file=sys.stderr,
            )
        server_rss = vm_hwm(server.pid)
        best = {k: max(v) for k, v in results.items()}
        print(f"file: {size / 1e6:.0f} MB WAV, {args.rounds} round(s), best of each; S3: moto_server on loopback")
        print(f"through mediaenhancer-server : {best['server']:7.1f} MB/s")
        print(
            f"aws s3 cp                    : {best['aws']:7.1f} MB/s   ratio server/aws   = {best['server'] / best['aws']:.2f} (goal >= 0.8)"
        )
        print(
            f"boto3 upload_file            : {best['boto3']:7.1f} MB/s   ratio server/boto3 = {best['server'] / best['boto3']:.2f}"
        )
        print(f"peak RSS: server {server_rss / MB:.0f} MB, client {max(client_rss) / MB:.0f} MB (goal < 150 MB each)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
