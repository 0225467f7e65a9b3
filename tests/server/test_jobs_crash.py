"""A worker killed with SIGKILL mid-job (issue 12, item 7): its ffmpeg dies with it (it used to
keep running, reparented to init, next to the retry), and the job's work folder it could not
remove is removed when the next worker starts, while that worker's own folders are kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests import media as M
from tests.test_workdirs import _alive, _gone_within, _wait_for_child

SERVER = str(Path(sys.executable).with_name("mediaenhancer-server"))


@pytest.fixture
def storage_kind() -> str:
    return "local"


def _folders(temp: Path) -> list[Path]:
    return sorted(p for p in temp.iterdir() if p.name.startswith("mediaenhancer-")) if temp.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_worker_killed_mid_job_leaves_no_ffmpeg_and_the_next_one_removes_its_folder(
    database, storage_env, make_account, tmp_path
) -> None:
    from argon2.profiles import CHEAPEST
    from starlette.testclient import TestClient

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.jobs.queue import JobQueue
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    temp = tmp_path / "worker-temp"
    env = {
        **os.environ,
        **storage_env,
        "MEDIAENHANCER_DATABASE_URL": database.url,
        "MEDIAENHANCER_TEMP_DIR": str(temp),
        "MEDIAENHANCER_JOB_LEASE_SECONDS": "60",
        "MEDIAENHANCER_JOB_SWEEP_SECONDS": "1",
        "MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "0.5",
        "MEDIAENHANCER_QUEUE": "embedded",
        "MEDIAENHANCER_QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}",
    }
    settings = Settings.load({**env, "MEDIAENHANCER_EMBEDDED_WORKERS": "0"})  # the app only queues
    JobQueue(settings).flush()
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST))
    account = make_account()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with TestClient(create_app(core=core, prepare_database=False)) as client:
            clip = M.make_video(tmp_path / "clip.mp4", 10.0, size="320x240", level=0.03)
            with open(clip, "rb") as fh:
                media = client.post(
                    "/api/media/upload", headers=account.headers, files={"file": ("clip.mp4", fh, "video/mp4")}
                ).json()
            job = client.post(
                f"/api/media/{media['id']}/enhance",
                headers=account.headers,
                json={"type": "upscale", "options": {"resolution": "1080p", "quality": "archive"}},
            ).json()
            first = subprocess.Popen([SERVER, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            workers.append(first)
            ffmpeg = _wait_for_child(first.pid, "ffmpeg", timeout=120, also="render.nut")
            (left,) = _folders(temp)
            assert left.name.startswith(f"mediaenhancer-job-{job['id'].replace('-', '')[:8]}")

            first.send_signal(signal.SIGKILL)  # the worker only, as the OOM killer would: not its group
            first.wait(10)
            stayed = not _gone_within(ffmpeg, 5)
            if stayed:
                os.kill(ffmpeg, signal.SIGKILL)
            assert not stayed, "the killed worker's ffmpeg kept running"
            assert _folders(temp) == [left]  # nobody could remove it yet

            # a folder some live process owns must survive the next worker's start
            from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir

            live = make_workdir("mediaenhancer-thumb-", temp)
            second = subprocess.Popen([SERVER, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            workers.append(second)
            deadline = time.monotonic() + 60
            while left.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not left.exists(), "the next worker did not remove the dead job's folder"
            assert live.is_dir()
            remove_workdir(live)
            assert _alive(second.pid)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        core.library.close()
