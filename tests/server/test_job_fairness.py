"""One user cannot fill the job queue (issue 12): per-user limits by plan on jobs waiting or
running (admission, 429) and on jobs running at once (the workers), and round-robin between users.

Before: 40 queued jobs of one user made another user's job wait behind all of them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from mediaenhancer_core.jobs.runner import JobContext, JobOutcome, JobRunner
from mediaenhancer_core.jobs.service import JobService


class FakeQueue:
    """Records what the runner queues again (nothing runs by itself)."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, float]] = []

    def enqueue(self, job_id, delay: float = 0.0) -> None:
        self.enqueued.append((str(job_id), delay))

    def enqueue_callback(self, *args, **kw) -> None:
        pass


@pytest.fixture
def jobs(database, clock) -> JobService:
    return JobService(database.session, clock=clock)


def _set_plan(core, email: str, plan: str) -> None:
    core.accounts.set_plan(email, plan)


def test_round_robin_between_users(core, jobs, make_account) -> None:
    alice, bob = make_account(), make_account()
    _set_plan(core, alice.email, "professional")  # room for many queued jobs
    flood = [jobs.create(alice.id, "denoise") for _ in range(8)]
    late = jobs.create(bob.id, "denoise")
    order: list[str] = []

    def handler(ctx: JobContext) -> JobOutcome:
        order.append("bob" if ctx.job.user_id == bob.id else "alice")
        return JobOutcome()

    runner = JobRunner(jobs, FakeQueue(), {"denoise": handler}, heartbeat_seconds=0.05)
    for message in [*flood, late]:  # the queue delivers its messages first in, first out
        runner.run(str(message.id))
    assert sorted(order) == ["alice"] * 8 + ["bob"]
    assert order.index("bob") == 1, order  # bob's job ran right after alice's first, not after all eight


def test_a_user_runs_at_most_their_plans_jobs_at_once(core, jobs, make_account) -> None:
    alice = make_account()  # starter: one job at a time
    queued = [jobs.create(alice.id, "denoise") for _ in range(3)]
    started = threading.Semaphore(0)
    release = threading.Event()
    running = {"now": 0, "most": 0}
    lock = threading.Lock()

    def handler(ctx: JobContext) -> JobOutcome:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        started.release()
        release.wait(30)
        with lock:
            running["now"] -= 1
        return JobOutcome()

    queue = FakeQueue()
    runner = JobRunner(jobs, queue, {"denoise": handler}, heartbeat_seconds=0.05)
    first = threading.Thread(target=runner.run, args=(str(queued[0].id),))
    first.start()
    assert started.acquire(timeout=30)
    runner.run(str(queued[1].id))  # a second worker thread gets the next message: alice is at her limit
    assert running["most"] == 1
    assert [job for job, _ in queue.enqueued] == [str(queued[1].id)]  # looked at again later, not lost
    assert jobs.load(queued[1].id).status == "queued"
    release.set()
    first.join(30)
    runner.run(str(queued[1].id))
    assert jobs.load(queued[1].id).status == "succeeded" and running["most"] == 1


def test_another_user_is_not_held_back_by_a_busy_one(core, jobs, make_account) -> None:
    alice, bob = make_account(), make_account()
    a1, a2 = jobs.create(alice.id, "denoise"), jobs.create(alice.id, "denoise")
    b1 = jobs.create(bob.id, "denoise")
    assert jobs.claim(a1.id, "elsewhere", timedelta(seconds=60)) is not None  # alice's one slot is busy
    ran: list = []
    runner = JobRunner(
        jobs, FakeQueue(), {"denoise": lambda ctx: ran.append(ctx.job.id) or JobOutcome()}, heartbeat_seconds=0.05
    )
    runner.run(str(a2.id))  # alice's message arrives first, and bob's job runs on it
    assert ran == [b1.id] and jobs.load(a2.id).status == "queued"


# --- admission through the API --------------------------------------------------------------------------


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env["MEDIAENHANCER_EMBEDDED_WORKERS"] = "0"  # nothing runs: every job stays queued
    return settings_env


def test_jobs_waiting_or_running_are_limited_by_plan(media_core, make_account, media_files) -> None:
    from starlette.testclient import TestClient

    from mediaenhancer_server import create_app

    core = media_core
    account = make_account()
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        with open(media_files["tone"], "rb") as fh:
            media = client.post(
                "/api/media/upload", headers=account.headers, files={"file": ("tone.wav", fh, "audio/wav")}
            ).json()
        limit = 5  # the Starter plan's jobs in flight
        for _ in range(limit):
            ok = client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "denoise"})
            assert ok.status_code == 202, ok.text
        refused = client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "denoise"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_jobs"
        assert int(refused.headers["retry-after"]) > 0
        assert len(client.get("/api/jobs", headers=account.headers).json()["jobs"]) == limit
        first = client.get("/api/jobs", headers=account.headers).json()["jobs"][0]["id"]
        assert client.post(f"/api/jobs/{first}/cancel", headers=account.headers).status_code == 200
        again = client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "denoise"})
        assert again.status_code == 202  # a job that ended freed its place
