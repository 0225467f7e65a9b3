"""Benchmark: authenticated GET /api/auth/me beside a bare Starlette endpoint, same run.

    .venv/bin/python bench/auth_me.py [--duration 10] [--rounds 3] [--connections 16] [--backend sqlite|postgresql|both]

Both servers run as one uvicorn process (one worker) on loopback; the load generator is
`wrk` (apt-get install wrk; the script installs it when run as root) with one thread, so
on a 2-core machine the server and the load share the cores the same way for both
targets. PostgreSQL: MEDIAENHANCER_BENCH_DATABASE_URL, else MEDIAENHANCER_TEST_DATABASE_URL,
else a throwaway cluster started here (needs the postgresql package and root).

The two targets are loaded in alternating rounds and the medians reported, so other load
on the machine falls on both alike. Prints requests/s, p50 and p99 latency for each
target and the ratio ours/bare (issue 3's goal: at least 0.5), and the same server with
its auth cache off (MEDIAENHANCER_AUTH_CACHE_SECONDS=0: every request asks the database). No assertion: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def server(args: list[str], env: dict[str, str], health: str) -> Iterator[None]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for(health, proc)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return found


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load(wrk: str, url: str, token: str | None, duration: int, connections: int) -> dict[str, float]:
    args = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if token:
        args[1:1] = ["-H", f"Authorization: Bearer {token}"]
    subprocess.run([*args[:-1], "-d2s", url], check=True, stdout=subprocess.DEVNULL)  # warm-up
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} error answers; is the token valid?\n{out}")
    return {"rps": rps, "p50": _ms(*p50.groups()), "p99": _ms(*p99.groups())}  # type: ignore[union-attr]


@contextmanager
def postgres_url() -> Iterator[str]:
    url = os.environ.get("MEDIAENHANCER_BENCH_DATABASE_URL") or os.environ.get("MEDIAENHANCER_TEST_DATABASE_URL")
    if url:
        yield url
        return
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not pg_bin or os.geteuid() != 0:
        raise SystemExit(
            "no PostgreSQL: set MEDIAENHANCER_BENCH_DATABASE_URL, or run as root with postgresql installed"
        )
    bin_dir = pg_bin[-1]
    data = Path(tempfile.mkdtemp(prefix="me-bench-pg-"))
    data.chmod(0o755)
    shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log"),
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(data, ignore_errors=True)


def prepare(database_url: str) -> str:
    """A migrated database with one user; returns that user's API token."""
    sys.path.insert(0, str(ROOT / "src"))
    import uuid

    from mediaenhancer_core.db import Database
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load({"MEDIAENHANCER_CONFIG_DIR": tmp, "MEDIAENHANCER_DATA_DIR": tmp})
    db = Database(database_url)
    db.upgrade()
    core = Core.open(settings, db=db)
    user = core.accounts.create_user(f"bench-{uuid.uuid4().hex[:8]}@example.com")
    _, token = core.tokens.create(user.id, "bench")
    core.close()
    return token


def run(backend: str, database_url: str, wrk: str, duration: int, connections: int, rounds: int) -> None:
    token = prepare(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAENHANCER_")}
    tmp = tempfile.mkdtemp(prefix="me-bench-")
    env.update(MEDIAENHANCER_DATABASE_URL=database_url, MEDIAENHANCER_CONFIG_DIR=tmp, MEDIAENHANCER_DATA_DIR=tmp)
    bin_dir = Path(PY).parent
    bare_port, our_port, nocache_port = free_port(), free_port(), free_port()
    targets = {
        "bare Starlette": (f"http://127.0.0.1:{bare_port}/api/auth/me", None),
        "mediaenhancer": (f"http://127.0.0.1:{our_port}/api/auth/me", token),
        "  (cache off)": (f"http://127.0.0.1:{nocache_port}/api/auth/me", token),
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    bare_cmd = [
        PY,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--port",
        str(bare_port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    ours = str(bin_dir / "mediaenhancer-server")
    nocache_env = {**env, "MEDIAENHANCER_AUTH_CACHE_SECONDS": "0"}
    with (
        server(bare_cmd, env, targets["bare Starlette"][0]),
        server([ours, "--port", str(our_port)], env, f"http://127.0.0.1:{our_port}/health"),
        server([ours, "--port", str(nocache_port)], nocache_env, f"http://127.0.0.1:{nocache_port}/health"),
    ):
        for _ in range(rounds):  # alternate, so a busy neighbour on the machine hits both alike
            for name, (url, auth) in targets.items():
                samples[name].append(load(wrk, url, auth, duration, connections))
    shutil.rmtree(tmp, ignore_errors=True)
    results = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        for name, runs in samples.items()
    }
    print(
        f"\n{backend}: GET /api/auth/me, {connections} connections, median of {rounds} alternating {duration} s runs, "
        "1 uvicorn worker each, wrk -t1"
    )
    print(f"  {'target':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in results.items():
        print(f"  {name:<16}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}")
    ratio = results["mediaenhancer"]["rps"] / results["bare Starlette"]["rps"]
    uncached = results["  (cache off)"]["rps"] / results["bare Starlette"]["rps"]
    print(f"  ratio (authenticated / bare): {ratio:.2f}  (goal >= 0.50); with auth_cache_seconds=0: {uncached:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    wrk = ensure_wrk()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.db", wrk, args.duration, args.connections, args.rounds)
    if args.backend in ("postgresql", "both"):
        with postgres_url() as url:
            run("PostgreSQL", url, wrk, args.duration, args.connections, args.rounds)


if __name__ == "__main__":
    main()
