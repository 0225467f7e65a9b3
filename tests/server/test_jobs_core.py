"""The job machinery without media: leases, retries, cancellation, recovery, queues, callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mediaenhancer_core.engine.ffmpeg import run
from mediaenhancer_core.errors import ConflictError, NotFoundError, PlanError, StorageError, ValidationError
from mediaenhancer_core.jobs.callbacks import CallbackSender, check_callback_url, sign, user_secret, verify
from mediaenhancer_core.jobs.queue import JobQueue
from mediaenhancer_core.jobs.runner import JobContext, JobOutcome, JobRunner
from mediaenhancer_core.jobs.service import JobService
from mediaenhancer_core.settings import Settings

from .conftest import need_service

LEASE = timedelta(seconds=30)


@pytest.fixture
def jobs(database, clock) -> JobService:
    return JobService(database.session, clock=clock)


@pytest.fixture
def user(make_account):
    return make_account()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, ctx: JobContext) -> JobOutcome:
        with self.lock:
            self.calls.append(str(ctx.job.id))
        ctx.report(0.5)
        return JobOutcome(result={"attempt": ctx.attempt})


def runner_for(jobs: JobService, settings: Settings, handlers, **kw) -> JobRunner:
    queue = JobQueue(settings, immediate=True)
    kw.setdefault("retry_base_seconds", 0.01)
    return JobRunner(jobs, queue, handlers, heartbeat_seconds=0.05, **kw)


def test_a_job_is_claimed_by_exactly_one_worker(jobs: JobService, user) -> None:
    job = jobs.create(user.id, "denoise")
    winners = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        if jobs.claim(job.id, f"worker-{i}", LEASE) is not None:
            winners.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert jobs.claim(job.id, "late", LEASE) is None  # a live lease keeps everyone else out
    view = jobs.load(job.id)
    assert view.status == "running" and view.attempts == 1


def test_a_dead_workers_job_is_taken_over_and_finished(jobs: JobService, user, settings, clock) -> None:
    job = jobs.create(user.id, "auto")
    assert jobs.claim(job.id, "worker-that-died", LEASE) is not None
    rec = Recorder()
    runner = runner_for(jobs, settings, {"auto": rec})
    runner.run(str(job.id))
    assert rec.calls == []  # the lease is still alive: nothing runs twice at once
    clock.advance(LEASE.total_seconds() + 1)
    again, failed = jobs.expired()
    assert again == [job.id] and failed == []
    runner.run(str(job.id))
    view = jobs.load(job.id)
    assert view.status == "succeeded" and view.attempts == 2 and view.result == {"attempt": 2}
    assert view.progress == 100 and rec.calls == [str(job.id)]


def test_a_job_whose_workers_keep_dying_fails_after_its_attempts(jobs: JobService, user, clock) -> None:
    job = jobs.create(user.id, "auto", max_attempts=2)
    for i in range(2):
        assert jobs.claim(job.id, f"w{i}", LEASE) is not None
        clock.advance(LEASE.total_seconds() + 1)
        jobs.expired()
    view = jobs.load(job.id)
    assert view.status == "failed" and "stopped 2 times" in view.error
    assert jobs.claim(job.id, "w3", LEASE) is None


def test_transient_failures_are_retried_with_backoff_then_succeed(jobs: JobService, user, settings) -> None:
    job = jobs.create(user.id, "denoise", max_attempts=3)
    attempts = []

    def flaky(ctx: JobContext) -> JobOutcome:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise StorageError("the bucket is unreachable")
        return JobOutcome(result={"done": True})

    delays = []
    runner = runner_for(jobs, settings, {"denoise": flaky}, retry_base_seconds=2.0)
    runner.queue.enqueue = lambda jid, delay=0.0: delays.append(delay)  # type: ignore[method-assign]
    for _ in range(3):
        runner.run(str(job.id))
    assert attempts == [1, 2, 3]
    assert 1.5 <= delays[0] <= 2.5 and 3.0 <= delays[1] <= 5.0  # exponential backoff with jitter
    assert jobs.load(job.id).status == "succeeded"


def test_transient_failures_give_up_after_max_attempts(jobs: JobService, user, settings) -> None:
    job = jobs.create(user.id, "denoise", max_attempts=2)

    def down(ctx: JobContext) -> JobOutcome:
        raise StorageError("the bucket is unreachable")

    runner = runner_for(jobs, settings, {"denoise": down})
    runner.queue.enqueue = lambda jid, delay=0.0: None  # type: ignore[method-assign]
    runner.run(str(job.id))
    runner.run(str(job.id))
    view = jobs.load(job.id)
    assert view.status == "failed" and "after 2 attempts" in view.error


def test_bad_input_fails_at_once(jobs: JobService, user, settings) -> None:
    job = jobs.create(user.id, "denoise")

    def bad(ctx: JobContext) -> JobOutcome:
        raise PlanError("plan: filter 'movie' is not allowed")

    runner_for(jobs, settings, {"denoise": bad}).run(str(job.id))
    view = jobs.load(job.id)
    assert view.status == "failed" and view.attempts == 1 and "not allowed" in view.error


def test_cancel_stops_the_running_ffmpeg(jobs: JobService, user, settings, tools) -> None:
    job = jobs.create(user.id, "auto")
    started = threading.Event()
    stopped_after = {}

    def slow(ctx: JobContext) -> JobOutcome:
        started.set()
        t = time.monotonic()
        try:
            # a 60 s real-time render: only a cancel ends it early
            run(
                [str(tools.ffmpeg), "-re", "-f", "lavfi", "-i", "sine=d=60", "-f", "null", "-"],
                cancel=ctx.cancel,
                what="render",
            )
        finally:
            stopped_after["s"] = time.monotonic() - t
        return JobOutcome()

    runner = runner_for(jobs, settings, {"auto": slow})
    thread = threading.Thread(target=runner.run, args=(str(job.id),))
    thread.start()
    assert started.wait(10)
    time.sleep(0.3)
    assert jobs.request_cancel(user.id, job.id).cancel_requested
    thread.join(15)
    assert not thread.is_alive()
    assert stopped_after["s"] < 5
    view = jobs.load(job.id)
    assert view.status == "canceled" and view.error == "canceled by the user"


def test_queued_jobs_cancel_at_once_and_finished_ones_refuse(jobs: JobService, user, make_account) -> None:
    job = jobs.create(user.id, "auto")
    assert jobs.request_cancel(user.id, job.id).status == "canceled"
    with pytest.raises(ConflictError):
        jobs.request_cancel(user.id, job.id)
    other = make_account()
    with pytest.raises(NotFoundError):
        jobs.request_cancel(other.id, job.id)
    with pytest.raises(NotFoundError):
        jobs.get(other.id, job.id)
    assert jobs.list(other.id) == []
    with pytest.raises(ValidationError):
        jobs.create(user.id, "teleport")


def _consume(kind: str, settings: Settings, jobs: JobService, user, **env) -> None:
    queue = JobQueue(settings)
    queue.flush()
    rec = Recorder()
    runner = JobRunner(jobs, queue, {"auto": rec}, heartbeat_seconds=0.2)
    queue.attach(run_job=runner.run, deliver=lambda j, a: None)
    created = [jobs.create(user.id, "auto") for _ in range(4)]
    for job in created:
        queue.enqueue(job.id)
        queue.enqueue(job.id)  # a duplicate message must not run the job twice
    queue.start_consumer(2)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(jobs.load(j.id).status == "succeeded" for j in created):
            time.sleep(0.1)
    finally:
        queue.stop_consumer()
    assert all(jobs.load(j.id).status == "succeeded" for j in created), kind
    assert sorted(rec.calls) == sorted(str(j.id) for j in created)  # each exactly once


def test_embedded_sqlite_queue_runs_jobs_in_threads(jobs: JobService, user, settings) -> None:
    _consume("embedded", settings, jobs, user)


@pytest.mark.redis
def test_redis_queue_runs_jobs(jobs: JobService, user, settings_env) -> None:
    url = os.environ.get("MEDIAENHANCER_TEST_REDIS_URL")
    if not url:
        need_service("MEDIAENHANCER_TEST_REDIS_URL is not set; scripts/test starts Redis")
    settings = Settings.load(
        {
            **settings_env,
            "MEDIAENHANCER_QUEUE": "redis",
            "MEDIAENHANCER_REDIS_URL": url,
            "MEDIAENHANCER_QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}",
        }
    )
    _consume("redis", settings, jobs, user)


# --- callbacks ----------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((body, dict(self.headers)))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_callbacks_are_signed_and_retried_until_delivered(jobs: JobService, user, settings) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.answers, _Receiver.received = [500, 503], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        job = jobs.create(user.id, "auto", callback_url=url)
        assert jobs.claim(job.id, "w", LEASE)
        jobs.finish(job.id, "w", "succeeded", result={})
        scheduled = []
        key = b"k" * 32
        sender = CallbackSender(
            jobs, key, lambda jid, attempt, delay: scheduled.append((attempt, delay)), allow_private=True
        )
        assert sender.deliver(str(job.id), 1) is False
        assert sender.deliver(str(job.id), 2) is False
        assert sender.deliver(str(job.id), 3) is True
        assert scheduled == [(2, 5.0), (3, 10.0)]
        body, headers = _Receiver.received[-1]
        secret = user_secret(key, user.id)
        # Standard Webhooks, checked by hand: base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" with the key
        # inside whsec_
        assert secret.startswith("whsec_") and headers["webhook-id"] == str(job.id)
        mac = hmac.new(
            base64.b64decode(secret.removeprefix("whsec_")),
            f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body,
            hashlib.sha256,
        )
        assert "v1," + base64.b64encode(mac.digest()).decode() in headers["webhook-signature"].split()
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert verify(secret, body, headers)
        assert not verify(secret, body + b" ", headers)  # tampered
        assert not verify(user_secret(key, uuid.uuid4()), body, headers)  # another user's
        stale = sign(secret, str(job.id), body, int(time.time()) - 3600)
        assert not verify(secret, body, stale)
        data = json.loads(body)
        assert data["job"]["id"] == str(job.id) and data["job"]["status"] == "succeeded"
    finally:
        server.shutdown()
        server.server_close()


def test_callback_urls_into_special_ranges_are_refused() -> None:
    for addr in ("100.100.100.200", "169.254.169.254", "::ffff:10.0.0.1", "fd00::1", "0.0.0.0", "192.0.2.1"):
        with pytest.raises(ValidationError, match="private or local"):
            check_callback_url("https://hooks.example.com/x", resolve=lambda h, a=addr: [a])
    # the address that was checked is the one to connect to (no second lookup to rebind)
    assert check_callback_url("https://hooks.example.com/x", resolve=lambda h: ["93.184.216.34"]) == "93.184.216.34"


def test_callback_urls_into_private_networks_are_refused() -> None:
    with pytest.raises(ValidationError, match="private or local"):
        check_callback_url("http://127.0.0.1:8080/x")
    with pytest.raises(ValidationError, match="private or local"):
        check_callback_url("https://hooks.example.com/x", resolve=lambda h: ["10.0.0.7"])
    with pytest.raises(ValidationError, match="http"):
        check_callback_url("file:///etc/passwd")
    with pytest.raises(ValidationError, match="credentials"):
        check_callback_url("https://u:p@hooks.example.com/x", resolve=lambda h: ["93.184.216.34"])
    assert check_callback_url("https://hooks.example.com/x", resolve=lambda h: ["93.184.216.34"])


def test_a_stopping_worker_gives_its_running_job_back(jobs: JobService, user, settings, tools) -> None:
    job = jobs.create(user.id, "auto")
    started = threading.Event()

    def slow(ctx: JobContext) -> JobOutcome:
        started.set()
        run(
            [str(tools.ffmpeg), "-re", "-f", "lavfi", "-i", "sine=d=60", "-f", "null", "-"],
            cancel=ctx.cancel,
            what="render",
        )
        return JobOutcome()

    requeued = []
    runner = runner_for(jobs, settings, {"auto": slow})
    runner.queue.enqueue = lambda jid, delay=0.0: requeued.append(jid)  # type: ignore[method-assign]
    thread = threading.Thread(target=runner.run, args=(str(job.id),))
    thread.start()
    assert started.wait(10)
    time.sleep(0.3)
    runner.stop()  # a deploy, not the user
    thread.join(15)
    view = jobs.load(job.id)
    assert view.status == "queued" and not view.cancel_requested and view.attempts == 1
    assert requeued == [job.id]


def test_lost_queue_messages_are_replaced_by_the_sweep(jobs: JobService, user, settings, clock) -> None:
    job = jobs.create(user.id, "auto")  # committed, but its message never reached the queue
    requeued = []
    runner = runner_for(jobs, settings, {"auto": Recorder()}, lease_seconds=30)
    runner.queue.enqueue = lambda jid, delay=0.0: requeued.append(jid)  # type: ignore[method-assign]
    runner.sweep()
    assert requeued == []  # young: its message may still be on its way
    clock.advance(31)
    runner.sweep()
    assert requeued == [job.id]


def test_a_failed_jobs_error_code_comes_back_to_the_client() -> None:
    from mediaenhancer_core.client.remote import job_error
    from mediaenhancer_core.errors import QuotaExceededError, RenderError
    from mediaenhancer_core.exit_codes import ExitCode, exit_code_for

    quota = job_error(
        {
            "id": "j",
            "status": "failed",
            "error": "the Starter plan allows 50 exports a month",
            "result": {"error_code": "quota_exceeded"},
        }
    )
    assert isinstance(quota, QuotaExceededError) and exit_code_for(quota) == ExitCode.QUOTA_EXCEEDED
    assert isinstance(job_error({"id": "j", "status": "failed", "error": "x", "result": None}), RenderError)
    assert job_error({"id": "j", "status": "succeeded"}) is None


def test_a_transcription_job_is_saved_as_srt_and_vtt_beside_its_source(tmp_path) -> None:
    from mediaenhancer_core.client.remote import save_outputs

    job = {
        "id": "j",
        "status": "succeeded",
        "result": {"transcript": {"srt": "1\n00:00:00,000 --> 00:00:01,000\nHi\n", "vtt": "WEBVTT\n\nHi\n"}},
    }
    source = tmp_path / "talk.wav"
    assert save_outputs(None, str(source), job, None) == tmp_path / "talk.srt"  # type: ignore[arg-type]
    assert (tmp_path / "talk.srt").read_text().startswith("1\n") and (tmp_path / "talk.vtt").read_text().startswith(
        "WEBVTT"
    )
    media_id = str(uuid.uuid4())
    out = tmp_path / "subs"
    out.mkdir()
    assert save_outputs(None, media_id, job, None, out_dir=out) == out / f"{media_id[:8]}.srt"  # type: ignore[arg-type]
    assert (out / f"{media_id[:8]}.vtt").exists()
    # nothing to save: no transcript and no result file
    assert save_outputs(None, str(tmp_path / "other.wav"), {"id": "k", "result": None}, None) is None  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subs", "talk.srt", "talk.vtt"]


def test_job_settings_are_checked(settings_env) -> None:
    from mediaenhancer_core.errors import ConfigError

    for env, pattern in [
        ({"MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "40"}, "at most half"),
        ({"MEDIAENHANCER_JOB_MAX_ATTEMPTS": "0"}, "1 or more"),
        ({"MEDIAENHANCER_QUEUE": "rabbit"}, "unknown queue"),
        ({"MEDIAENHANCER_QUEUE": "redis"}, "needs MEDIAENHANCER_REDIS_URL"),
        ({"MEDIAENHANCER_JOB_LEASE_SECONDS": "-1"}, "more than 0"),
    ]:
        with pytest.raises(ConfigError, match=pattern):
            Settings.load({**settings_env, **env})


def test_the_embedded_queue_runs_without_the_redis_client(settings_env) -> None:
    """The server and worker keep redis-py out of memory with the embedded queue; huey must still
    import and queue work then (a huey release that needs redis at import would stop the server)."""
    import subprocess
    import sys

    code = """
import json, os, sys
from mediaenhancer_core.settings import Settings
from mediaenhancer_server.cli import _without_redis_unless_used
settings = Settings.load(json.loads(sys.argv[1]))
_without_redis_unless_used(settings)
from mediaenhancer_core.jobs.queue import JobQueue
queue = JobQueue(settings)
ran = []
queue.attach(run_job=ran.append, deliver=lambda job_id, attempt: None)
queue.huey.immediate = True  # the task runs in this process, through huey's own machinery
job_id = "00000000-0000-4000-8000-000000000001"
queue.enqueue(job_id)
print(json.dumps({"ran": [str(j) for j in ran], "redis_loaded": sys.modules.get("redis") is not None}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(settings_env)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"ran": ["00000000-0000-4000-8000-000000000001"], "redis_loaded": False}
