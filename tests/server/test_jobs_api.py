"""Server-side jobs end to end: enhance and export through the API, run by the embedded worker
(threads of the app, SQLite queue), on SQLite and PostgreSQL; isolation, validation, quotas,
cancel, callbacks; and a worker process killed mid-job whose job another worker finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from mediaenhancer_core.jobs.callbacks import user_secret
from tests import media as M

SERVER = str(Path(sys.executable).with_name("mediaenhancer-server"))


@pytest.fixture
def storage_kind() -> str:
    return "local"  # the storage backends have their own tests; jobs only read and write through them


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env.update(
        {
            "MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "0.3",
            "MEDIAENHANCER_JOB_RETRY_BASE_SECONDS": "0.2",
            "MEDIAENHANCER_EMBEDDED_WORKERS": "2",
            "MEDIAENHANCER_CALLBACK_ALLOW_PRIVATE": "true",
        }
    )
    return settings_env


def _upload(client, account, path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        r = client.post(
            "/api/media/upload", headers=account.headers, files={"file": (path.name, fh, "application/octet-stream")}
        )
    assert r.status_code == 201, r.text
    return r.json()


def _wait(
    client,
    account,
    job_id: str,
    *,
    timeout: float = 120.0,
    until: tuple[str, ...] = ("succeeded", "failed", "canceled"),
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}", headers=account.headers).json()
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _download(client, url: str, dest: Path) -> Path:
    r = client.get(url) if url.startswith("http://testserver/") else httpx.get(url)
    assert r.status_code == 200
    dest.write_bytes(r.content)
    return dest


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    from tests.audio_meters import noisy_speech  # a real voice: the engine denoises speech only

    return noisy_speech(tmp_path / "talk.wav", hum_hz=50)


def test_enhance_job_runs_the_engine_and_stores_a_linked_result(client, core, make_account, speech, tmp_path) -> None:
    account = make_account()
    media = _upload(client, account, speech)
    r = client.post(
        f"/api/media/{media['id']}/enhance",
        headers=account.headers,
        json={"type": "auto", "preset": "podcast", "options": {"format": "flac"}},
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "succeeded")
    job = _wait(client, account, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100 and job["result_media_id"]
    result = job["result"]
    assert {"plan", "before", "after", "output"} <= set(result)
    assert {s["filter"] for s in result["plan"]["audio_steps"]} >= {"deepfilternet", "bandreject"}
    out = client.get(f"/api/media/{job['result_media_id']}", headers=account.headers).json()
    assert out["source_media_id"] == media["id"] and out["audio_codec"] == "flac"
    path = _download(client, out["download_url"], tmp_path / "out.flac")
    assert abs(M.loudness(path) - -16.0) <= 0.5
    listed = client.get("/api/jobs", headers=account.headers).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_jobs_belong_to_their_user_and_requests_are_checked(client, core, make_account, speech) -> None:
    alice, bob = make_account(), make_account()
    media = _upload(client, alice, speech)
    for body, code in [
        ({"type": "teleport"}, 422),
        ({"type": "upscale"}, 422),
        ({}, 422),
        ({"type": "auto", "options": {"quality": "ultra"}}, 422),
        (
            {"type": "auto", "plan": {"version": 1, "audio_steps": [{"filter": "amovie", "params": {}}], "output": {}}},
            422,
        ),
        ({"type": "transcribe"}, 403),
    ]:  # the free plan has no AI features
        r = client.post(f"/api/media/{media['id']}/enhance", headers=alice.headers, json=body)
        assert r.status_code == code, (body, r.text)
        assert "error" in r.json()
    assert (
        client.post(f"/api/media/{media['id']}/enhance", headers=bob.headers, json={"type": "auto"}).status_code == 404
    )
    pending = client.post(
        "/api/media/uploads", headers=alice.headers, json={"filename": "later.wav", "size": 1000}
    ).json()
    for path, body in [
        (f"/api/media/{pending['id']}/enhance", {"type": "auto"}),
        ("/api/projects", {"name": "Early", "segments": [{"media_id": pending["id"]}]}),
    ]:
        early = client.post(path, headers=alice.headers, json=body)  # still uploading: not usable yet
        assert early.status_code == 409 and "not ready" in early.json()["error"]["message"], early.text
    job = client.post(f"/api/media/{media['id']}/enhance", headers=alice.headers, json={"type": "denoise"}).json()
    assert client.get(f"/api/jobs/{job['id']}", headers=bob.headers).status_code == 404
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers=bob.headers).status_code == 404
    assert client.get("/api/jobs", headers=bob.headers).json()["jobs"] == []
    assert client.get(f"/api/jobs/{job['id']}").status_code == 401
    assert _wait(client, alice, job["id"])["status"] == "succeeded"


def test_cancel_stops_a_running_job_and_stores_nothing(client, core, make_account, tmp_path) -> None:
    account = make_account()
    clip = M.make_video(tmp_path / "long.mp4", 12.0, size="320x240", level=0.03)
    media = _upload(client, account, clip)
    before = client.get("/api/media", headers=account.headers).json()["total"]
    job = client.post(
        f"/api/media/{media['id']}/enhance",
        headers=account.headers,
        json={"type": "upscale", "options": {"resolution": "2160p", "quality": "archive"}},
    ).json()
    assert _wait(client, account, job["id"], until=("running", "succeeded", "failed"))["status"] == "running"
    time.sleep(1.0)
    r = client.post(f"/api/jobs/{job['id']}/cancel", headers=account.headers)
    assert r.status_code == 200 and r.json()["cancel_requested"]
    t = time.monotonic()
    done = _wait(client, account, job["id"], timeout=30)
    assert done["status"] == "canceled" and time.monotonic() - t < 10
    assert client.get("/api/media", headers=account.headers).json()["total"] == before
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers=account.headers).status_code == 409


def _project(client, account, media_ids: list[str]) -> str:
    segments = [
        {
            "media_id": media_ids[0],
            "start": 0.5,
            "end": 1.5,
            "transformations": {"titles": [{"text": "One", "start": 0, "duration": 0.5}]},
        },
        {"media_id": media_ids[1], "start": 0.0, "end": 1.0, "transformations": {"volume": 0.5, "flip": "h"}},
    ]
    r = client.post("/api/projects", headers=account.headers, json={"name": "Cut", "segments": segments})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_export_renders_the_project_and_counts_only_when_it_succeeds(
    client, core, make_account, tmp_path, tiny_plan
) -> None:
    account = make_account()
    a = _upload(client, account, M.make_video(tmp_path / "a.mp4", 2.0, level=0.03))
    b = _upload(client, account, M.make_video(tmp_path / "b.mp4", 2.0, size="160x120", level=0.03))
    project = _project(client, account, [a["id"], b["id"]])
    tiny_plan(account.email, exports=1)
    r = client.post(
        f"/api/projects/{project}/export",
        headers=account.headers,
        json={"format": "mp4", "resolution": "720p", "quality": "draft"},
    )
    assert r.status_code == 202, r.text
    export_id, job_id = r.json()["export_id"], r.json()["job"]["id"]
    assert client.get("/api/users/usage", headers=account.headers).json()["exports"]["used"] == 0
    job = _wait(client, account, job_id)
    assert job["status"] == "succeeded", job
    exp = client.get(f"/api/exports/{export_id}", headers=account.headers).json()
    assert exp["status"] == "succeeded" and exp["download_url"] and exp["result_media_id"] == job["result_media_id"]
    out = _download(client, exp["download_url"], tmp_path / "export.mp4")
    info = M.probe(out)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (960, 720)  # 4:3 from the first segment, 720 lines
    assert abs(float(info["format"]["duration"]) - 2.0) <= 0.1
    assert client.get("/api/users/usage", headers=account.headers).json()["exports"]["used"] == 1
    again = client.post(f"/api/projects/{project}/export", headers=account.headers, json={"format": "mp4"})
    assert again.status_code == 402 and "exports a month" in again.json()["error"]["message"]
    assert client.get(f"/api/exports/{export_id}", headers=make_account().headers).status_code == 404


def test_exports_in_flight_count_and_a_canceled_one_frees_its_place(
    client, core, make_account, tmp_path, tiny_plan
) -> None:
    account = make_account()
    a = _upload(client, account, M.make_video(tmp_path / "a.mp4", 2.0, level=0.03))
    project = client.post(
        "/api/projects", headers=account.headers, json={"name": "P", "segments": [{"media_id": a["id"]}]}
    ).json()["id"]
    tiny_plan(account.email, exports=1)
    client.app.state.jobs.queue.enqueue = lambda jid, delay=0.0: None  # nothing runs: the first stays queued
    first = client.post(f"/api/projects/{project}/export", headers=account.headers, json={"quality": "draft"})
    assert first.status_code == 202
    second = client.post(f"/api/projects/{project}/export", headers=account.headers, json={"quality": "draft"})
    assert second.status_code == 402, second.text  # the queued one already takes the month's only export
    canceled = client.post(f"/api/jobs/{first.json()['job']['id']}/cancel", headers=account.headers).json()
    assert canceled["status"] == "canceled"
    exp = client.get(f"/api/exports/{first.json()['export_id']}", headers=account.headers).json()
    assert exp["status"] == "canceled"
    assert (
        client.post(f"/api/projects/{project}/export", headers=account.headers, json={"quality": "draft"}).status_code
        == 202
    )


def test_a_failed_export_is_not_counted(client, core, make_account, tmp_path) -> None:
    account = make_account()
    a = _upload(client, account, M.make_video(tmp_path / "a.mp4", 2.0, level=0.03))
    # titles are checked by the rules the export renders by, when the project is saved
    bad_title = {"titles": [{"text": "x", "color": "red;drawbox"}]}
    r = client.post(
        "/api/projects",
        headers=account.headers,
        json={"name": "Bad", "segments": [{"media_id": a["id"], "transformations": bad_title}]},
    )
    assert r.status_code == 422 and "color" in r.json()["error"]["message"]
    # a media file deleted from storage behind the library's back: the export fails, and is not counted
    r = client.post(
        "/api/projects", headers=account.headers, json={"name": "Gone", "segments": [{"media_id": a["id"]}]}
    )
    project = r.json()["id"]
    row = core.library.media.get(account.id, __import__("uuid").UUID(a["id"]))
    core.library.storage.delete(row.storage_key)
    res = client.post(f"/api/projects/{project}/export", headers=account.headers, json={"quality": "draft"}).json()
    job = _wait(client, account, res["job"]["id"])
    assert job["status"] == "failed", job
    exp = client.get(f"/api/exports/{res['export_id']}", headers=account.headers).json()
    assert exp["status"] == "failed" and exp["download_url"] is None
    assert client.get("/api/users/usage", headers=account.headers).json()["exports"]["used"] == 0


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self) -> None:
        type(self).received.append((self.rfile.read(int(self.headers["Content-Length"])), dict(self.headers)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_registered_callback_gets_a_signed_post_when_the_job_ends(client, core, make_account, speech) -> None:
    account = make_account()
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/done"
        r = client.put("/api/users/callback", headers=account.headers, json={"url": url})
        assert r.status_code == 200 and r.json()["url"] == url
        secret = r.json()["signing_secret"]
        media = _upload(client, account, speech)
        job = client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "denoise"}).json()
        assert _wait(client, account, job["id"])["status"] == "succeeded"
        deadline = time.monotonic() + 20
        while not _Hook.received and time.monotonic() < deadline:
            time.sleep(0.1)
        body, headers = _Hook.received[0]
        assert Webhook(secret).verify(body, headers)["job"]["id"] == job["id"]  # any Standard Webhooks library
        assert headers["webhook-id"] == job["id"]
        assert secret == user_secret(client.app.state.jobs.server_key, account.id)
        data = json.loads(body)
        assert data["job"]["id"] == job["id"] and data["job"]["status"] == "succeeded"
        assert client.put("/api/users/callback", headers=account.headers, json={"url": "ftp://x"}).status_code == 422
    finally:
        server.shutdown()
        server.server_close()


# --- a worker killed mid-job --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("queue", ["embedded", "redis"])
def test_a_killed_workers_job_is_finished_by_another_worker(
    queue, database, storage_env, make_account, tmp_path
) -> None:
    from argon2.profiles import CHEAPEST
    from starlette.testclient import TestClient

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.jobs.queue import JobQueue
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    env = {
        **os.environ,
        **storage_env,
        "MEDIAENHANCER_DATABASE_URL": database.url,
        "MEDIAENHANCER_JOB_LEASE_SECONDS": "3",
        "MEDIAENHANCER_JOB_SWEEP_SECONDS": "1",
        "MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "0.5",
        "MEDIAENHANCER_QUEUE": queue,
        "MEDIAENHANCER_QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}",
    }
    if queue == "redis":
        url = os.environ.get("MEDIAENHANCER_TEST_REDIS_URL")
        if not url:
            from tests.server.conftest import need_service

            need_service("MEDIAENHANCER_TEST_REDIS_URL is not set; scripts/test starts Redis")
        env["MEDIAENHANCER_REDIS_URL"] = url
    settings = Settings.load({**env, "MEDIAENHANCER_EMBEDDED_WORKERS": "0"})  # the app only queues
    JobQueue(settings).flush()
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST))
    account = make_account()
    try:
        with TestClient(create_app(core=core, prepare_database=False)) as client:
            clip = M.make_video(tmp_path / "clip.mp4", 8.0, size="320x240", level=0.03)
            media = _upload(client, account, clip)
            job = client.post(
                f"/api/media/{media['id']}/enhance",
                headers=account.headers,
                json={"type": "upscale", "options": {"resolution": "1080p", "quality": "high"}},
            ).json()
            first = subprocess.Popen(
                [SERVER, "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            second = None
            try:
                running = _wait(client, account, job["id"], timeout=60, until=("running", "succeeded", "failed"))
                assert running["status"] == "running", running
                time.sleep(1.0)
                os.killpg(first.pid, signal.SIGKILL)  # the worker and its ffmpeg die without a word
                first.wait(10)
                second = subprocess.Popen(
                    [SERVER, "worker"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                done = _wait(client, account, job["id"], timeout=240)
            finally:
                for proc in (first, second):
                    if proc is not None and proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                        try:
                            proc.wait(20)
                        except subprocess.TimeoutExpired:
                            os.killpg(proc.pid, signal.SIGKILL)
            assert done["status"] == "succeeded", done
            assert done["attempts"] == 2
            out = client.get(f"/api/media/{done['result_media_id']}", headers=account.headers).json()
            assert (out["width"], out["height"]) == (1440, 1080)
            names = [m["filename"] for m in client.get("/api/media", headers=account.headers).json()["media"]]
            assert len(names) == 2, names  # the source and one result: the killed attempt left nothing behind
    finally:
        core.library.close()


def test_listing_exports_takes_three_queries_however_many_there_are(client, core, make_account, tmp_path) -> None:
    from datetime import timedelta

    from sqlalchemy import event

    from mediaenhancer_core.db.models import Export, Job, Project
    from mediaenhancer_core.db.types import utcnow

    account, other = make_account(), make_account()
    mine = _upload(client, account, M.make_video(tmp_path / "a.mp4", 1.0, level=0.03))
    theirs = _upload(client, other, M.make_video(tmp_path / "b.mp4", 1.0, level=0.03))

    def add(n: int, user: uuid.UUID, result: str) -> None:
        with core.db.session() as s:
            project = Project(user_id=user, name="p")
            s.add(project)
            s.flush()
            for i in range(n):
                running = i % 2 == 1
                job = Job(
                    user_id=user,
                    type="export",
                    status="running" if running else "succeeded",
                    progress=40,
                    lease_owner="elsewhere" if running else None,
                    lease_expires_at=utcnow() + timedelta(hours=1) if running else None,
                )
                s.add(job)
                s.flush()
                s.add(
                    Export(
                        user_id=user,
                        project_id=project.id,
                        job_id=job.id,
                        format="mp4",
                        status="running" if running else "succeeded",
                        result_media_id=None if running else uuid.UUID(result),
                    )
                )

    def listed() -> tuple[list[dict[str, Any]], int]:
        queries = []

        def count(*_: Any) -> None:
            queries.append(1)

        event.listen(core.db.engine, "before_cursor_execute", count)
        try:
            r = client.get("/api/exports", headers=account.headers)
        finally:
            event.remove(core.db.engine, "before_cursor_execute", count)
        assert r.status_code == 200, r.text
        return r.json()["exports"], len(queries)

    add(2, account.id, mine["id"])
    few, few_queries = listed()
    add(8, account.id, mine["id"])
    add(3, other.id, theirs["id"])
    add(1, account.id, theirs["id"])  # a result that is not this user's file is never shown
    many, many_queries = listed()
    assert len(few) == 2 and len(many) == 11
    assert many_queries == few_queries  # no query per export
    running = [e for e in many if e["status"] == "running"]
    assert len(running) == 5 and all(e["progress"] == 40 and e["job"]["status"] == "running" for e in running)
    done = [e for e in many if e["status"] == "succeeded"]
    assert sum(1 for e in done if e["download_url"] and e["result_media_id"] == mine["id"]) == 5
    foreign = [e for e in done if e["result_media_id"] == theirs["id"]]
    assert len(foreign) == 1 and foreign[0]["download_url"] is None
    assert foreign[0]["error"] == "the exported file was deleted"
