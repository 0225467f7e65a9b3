"""Faults while uploading: S3 unreachable or failing mid-upload (through a proxy on loopback that
drops requests), the database failing after the bytes were stored, and a server killed mid-upload.
Nothing half-done may remain: no media row, no object, no started multipart upload (or the
reaper removes them, which the last tests prove)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.server.conftest import free_port
from tests.server.media_support import s3_client, stored


class S3Proxy:
    """A TCP proxy to the S3 test server that reads each request head and can drop requests:
    ``mode`` "pass", "down" (every connection is closed at once) or "fail-parts" (UploadPart
    requests from part 2 on are dropped, so an upload fails mid-way but aborting it works)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.mode = "pass"
        self.dropped = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.mode == "down":
            client.close()
            return
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int((re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head) or [0, b"0"])[1])
                while len(buf) < length:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                part = re.search(r"partNumber=(\d+)", line)
                if self.mode == "down" or (self.mode == "fail-parts" and part and int(part[1]) >= 2):
                    self.dropped += 1
                    return
                upstream.sendall(head + b"\r\n\r\n" + body)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def proxy(s3_url):
    p = S3Proxy(s3_url)
    yield p
    p.close()


@pytest.fixture
def storage_env(settings_env, s3_url, proxy):
    """S3 through the proxy, two attempts per request, short timeouts (overrides the fixture)."""
    import uuid

    bucket = f"fault-{uuid.uuid4().hex[:20]}"
    s3_client(s3_url).create_bucket(Bucket=bucket)
    settings_env.update(
        {
            "MEDIAENHANCER_STORAGE_BACKEND": "s3",
            "MEDIAENHANCER_S3_ENDPOINT_URL": proxy.url,
            "MEDIAENHANCER_S3_BUCKET": bucket,
            "MEDIAENHANCER_S3_ACCESS_KEY_ID": "testing",
            "MEDIAENHANCER_S3_SECRET_ACCESS_KEY": "testing-secret",
            "MEDIAENHANCER_S3_MAX_ATTEMPTS": "2",
            "MEDIAENHANCER_S3_TIMEOUT_SECONDS": "5",
            "MEDIAENHANCER_UPLOAD_PART_BYTES": str(5 * 1024 * 1024),
            "MEDIAENHANCER_STORAGE_REAP_INTERVAL_SECONDS": "0",
        }
    )
    return settings_env


@pytest.fixture
def core(media_core):
    return media_core


def _in_bucket(s3_url: str, bucket: str) -> tuple[list[str], list[str]]:
    """What the S3 server holds, asked directly (not through the proxy)."""
    s3 = s3_client(s3_url)
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return objects, uploads


def _post(client, account, path: Path):
    with open(path, "rb") as fh:
        return client.post("/api/media/upload", headers=account.headers, files={"file": (path.name, fh, "audio/wav")})


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_s3_failing_mid_upload_aborts_it_answers_503_and_a_retry_succeeds(
    client, core, make_account, long_wav, proxy, s3_url, storage_env
) -> None:
    account = make_account()
    bucket = storage_env["MEDIAENHANCER_S3_BUCKET"]
    proxy.mode = "fail-parts"
    failed = _post(client, account, long_wav)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "storage_unavailable"
    assert proxy.dropped >= 1
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert client.get("/api/users/usage", headers=account.headers).json()["storage"]["used_bytes"] == 0
    assert _in_bucket(s3_url, bucket) == ([], [])  # part 1 was stored, then the upload was aborted

    proxy.mode = "pass"
    retried = _post(client, account, long_wav)
    assert retried.status_code == 201 and retried.json()["file_size"] == long_wav.stat().st_size
    assert len(_in_bucket(s3_url, bucket)[0]) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_s3_unreachable_answers_503_with_nothing_left(
    client, core, make_account, media_files, proxy, s3_url, storage_env
) -> None:
    account = make_account()
    proxy.mode = "down"
    failed = _post(client, account, media_files["tone"])
    assert failed.status_code == 503 and "unreachable" in failed.json()["error"]["message"]
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["storage"] == "failed"
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert _in_bucket(s3_url, storage_env["MEDIAENHANCER_S3_BUCKET"]) == ([], [])
    proxy.mode = "pass"
    assert _post(client, account, media_files["tone"]).status_code == 201
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_database_failing_after_the_bytes_were_stored_leaves_no_object(
    client, core, make_account, media_files, monkeypatch, s3_url, storage_env
) -> None:
    from sqlalchemy.exc import OperationalError

    account = make_account()

    def broken(*args, **kwargs):
        raise OperationalError("UPDATE media_files", {}, Exception("the database went away"))

    monkeypatch.setattr(type(core.library.uploads), "_apply", staticmethod(broken))
    failed = _post(client, account, media_files["tone"])
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "database_unavailable"
    monkeypatch.undo()
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert _in_bucket(s3_url, storage_env["MEDIAENHANCER_S3_BUCKET"]) == ([], [])
    assert stored(core) == ([], [])


# --- a server killed mid-upload, and the reaper --------------------------------------------------


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    code = "from mediaenhancer_server.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("the server did not start")


@pytest.mark.parametrize("kind", ["local", "s3"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_server_killed_mid_upload_leaves_what_the_reaper_removes(
    kind, settings_env, database, s3_url, make_account, long_wav, monkeypatch
) -> None:
    import uuid

    from mediaenhancer_server.cli import app as server_app

    env = dict(settings_env)
    env.pop("MEDIAENHANCER_S3_ENDPOINT_URL", None)
    env.update(
        {
            "MEDIAENHANCER_DATABASE_URL": database.url,
            "MEDIAENHANCER_STORAGE_REAP_INTERVAL_SECONDS": "0",
            "MEDIAENHANCER_UPLOAD_PART_BYTES": str(5 * 1024 * 1024),
            "MEDIAENHANCER_STORAGE_BACKEND": kind,
        }
    )
    if kind == "s3":
        bucket = f"kill-{uuid.uuid4().hex[:20]}"
        s3_client(s3_url).create_bucket(Bucket=bucket)
        env.update(
            {
                "MEDIAENHANCER_S3_ENDPOINT_URL": s3_url,
                "MEDIAENHANCER_S3_BUCKET": bucket,
                "MEDIAENHANCER_S3_ACCESS_KEY_ID": "testing",
                "MEDIAENHANCER_S3_SECRET_ACCESS_KEY": "testing-secret",
            }
        )
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings

    core = Core.open(Settings.load(env))  # what the server sees
    account = make_account()
    port = free_port()
    server = _serve({**os.environ, **env}, port)
    base = f"http://127.0.0.1:{port}"
    try:
        data = long_wav.read_bytes()
        up = httpx.post(
            f"{base}/api/media/uploads", headers=account.headers, json={"filename": "long.wav", "size": len(data)}
        ).json()
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            (
                f"PATCH {up['upload_url']} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {account.token}\r\n"
                f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
        )
        sock.sendall(data[: 8 * 1024 * 1024])  # the rest never comes: the server is killed first
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}{up['upload_url']}", headers=account.headers).json()["offset"] == 0:
            assert time.monotonic() < deadline, "no byte of the upload was stored"
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        sock.close()
    finally:
        if server.poll() is None:
            server.kill()
    assert core.library is not None
    objects, uploads = stored(core)
    assert uploads and not any(k.endswith("/original") for k in objects)  # a started upload, no object
    assert core.library.media.list(account.id).items[0].status == "uploading"

    # an orphan object and an orphan upload (rows gone, storage not): young ones are kept
    stray = f"media/{account.id}/{uuid.uuid4()}/original"
    core.library.storage.put_bytes(stray, b"RIFF0000WAVE", content_type="audio/wav")
    core.library.storage.start_upload(f"media/{account.id}/{uuid.uuid4()}/original", content_type="audio/wav")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    young = runner.invoke(server_app, ["storage", "reap", "--json"])
    assert young.exit_code == 0, young.output
    early = json.loads(young.output)
    assert (early["stale_rows"], early["orphan_objects"]) == (0, 0) and len(stored(core)[0]) == len(objects) + 1
    reaped = runner.invoke(server_app, ["storage", "reap", "--older-than", "0", "--json"])
    assert reaped.exit_code == 0, reaped.output
    report = json.loads(reaped.output)
    assert (report["stale_rows"], report["orphan_objects"]) == (1, 1)
    # moto dates every multipart upload 2010-11-10, so on S3 the orphan one already looked old
    assert early["orphan_uploads"] + report["orphan_uploads"] == 1 and early["orphan_uploads"] == (kind == "s3")
    assert report["freed_bytes"] == len(data) and report["errors"] == []
    assert stored(core) == ([], [])
    assert core.library.media.list(account.id).total == 0
    assert runner.invoke(server_app, ["storage", "reap", "--older-than", "0", "--json"]).output.count('"stale_rows": 0')
    core.close()
