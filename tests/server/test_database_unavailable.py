"""A database that cannot answer (issue 12): 503 ``database_unavailable`` with Retry-After, never
a 500; ``last_used_at`` is written best effort (a locked database does not hold up a read);
``/ready`` tells the truth; the CLI's API client retries such 503s with backoff.

Before: with SQLite write-locked, a token last used over 60 s ago got 500 after 10 s even on a
GET while /ready said ready; with PostgreSQL stopped, every authenticated route answered 500
once the 10 s auth cache expired."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from argon2.profiles import CHEAPEST
from starlette.testclient import TestClient

import mediaenhancer_core.db as dbmod
from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.client.api import ApiClient
from mediaenhancer_core.db import Database
from mediaenhancer_core.errors import DatabaseError
from mediaenhancer_core.services import Core
from mediaenhancer_server import create_app

from .conftest import free_port, need_service


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert int(response.headers["retry-after"]) >= 1


# --- SQLite, write-locked by another process ----------------------------------------------------


def test_a_write_locked_sqlite_database(settings, sqlite_template, tmp_path, clock, monkeypatch) -> None:
    monkeypatch.setattr(dbmod, "SQLITE_BUSY_TIMEOUT_MS", 300)  # the wait before giving up on a write
    path = tmp_path / "locked.db"
    shutil.copyfile(sqlite_template, path)
    core = Core.open(settings, db=Database(f"sqlite:///{path}"), passwords=Passwords(CHEAPEST), clock=clock)
    user = core.accounts.create_user("locked@example.com", "correct horse battery")
    _, token = core.tokens.create(user.id, "t")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        assert client.get("/api/auth/me", headers=headers).status_code == 200
        assert client.get("/ready").status_code == 200
        clock.advance(120)  # past the auth cache and the last_used_at resolution: a write is due
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            read = client.get("/api/auth/me", headers=headers)
            assert read.status_code == 200, read.text  # reads go on; last_used_at waits for a later use
            ready = client.get("/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] == "failed"
            _assert_unavailable(client.post("/api/tokens", json={"name": "x"}, headers=headers))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.get("/ready").status_code == 200
        assert client.post("/api/tokens", json={"name": "x"}, headers=headers).status_code == 201
    core.close()


# --- PostgreSQL, stopped ------------------------------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[dict[str, object]]:
    """A throwaway PostgreSQL cluster this test may stop (scripts/test's is shared)."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not bins or shutil.which("runuser") is None:
        need_service("PostgreSQL is not installed (apt-get install postgresql)")
    pg_bin = bins[-1].parent
    home = Path(tempfile.mkdtemp(prefix="mediaenhancer-pg-"))  # pytest's tmp folders are 0700: postgres cannot enter
    home.chmod(0o755)
    data = home / "pg"
    data.mkdir()
    shutil.chown(data, "postgres")
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=60)

    run(str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    start = [
        str(pg_bin / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(data / "log"),
        "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
        "start",
    ]
    run(*start)
    state = {"url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", "running": True}

    def stop() -> None:
        run(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        state["running"] = False

    state["stop"] = stop
    state["start"] = lambda: (run(*start), state.__setitem__("running", True))
    try:
        yield state
    finally:
        if state["running"]:
            stop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_stopped_postgresql(own_postgres, settings, clock) -> None:
    db = Database(str(own_postgres["url"]), pool_size=2)
    db.upgrade()
    core = Core.open(settings, db=db, passwords=Passwords(CHEAPEST), clock=clock)
    user = core.accounts.create_user("pg@example.com", "correct horse battery")
    _, token = core.tokens.create(user.id, "t")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        assert client.get("/api/auth/me", headers=headers).status_code == 200
        assert client.get("/ready").status_code == 200
        own_postgres["stop"]()
        clock.advance(120)  # the auth cache has expired: every request needs the database
        for path in ("/api/auth/me", "/api/users/profile", "/api/tokens", "/api/projects", "/api/jobs"):
            _assert_unavailable(client.get(path, headers=headers))
        _assert_unavailable(client.post("/api/tokens", json={"name": "x"}, headers=headers))
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "failed"
        own_postgres["start"]()
        deadline = time.monotonic() + 20
        while client.get("/api/auth/me", headers=headers).status_code != 200:  # the pool reconnects by itself
            assert time.monotonic() < deadline, "the server did not recover once PostgreSQL was back"
            time.sleep(0.2)
        assert client.get("/ready").status_code == 200
    core.close()


def test_a_database_at_a_closed_port_is_unavailable_not_an_error(settings, clock) -> None:
    db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", pool_size=1)
    with pytest.raises(DatabaseError):
        db.ping()
    with pytest.raises(DatabaseError):
        with db.session() as session:
            session.execute(dbmod.text("SELECT 1"))
    db.dispose()


# --- the CLI's client retries --------------------------------------------------------------------------


def test_the_api_client_retries_a_503_with_backoff() -> None:
    answers = [503, 503, 200]
    seen: list[int] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers[len(seen)]
        seen.append(status)
        if status == 503:
            return httpx.Response(
                503, headers={"Retry-After": "2"}, json={"error": {"code": "database_unavailable", "message": "down"}}
            )
        return httpx.Response(200, json={"ok": True})

    with ApiClient(
        "http://server.test", "me_" + "x" * 43, transport=httpx.MockTransport(handler), sleep=waits.append
    ) as client:
        assert client.get("/api/auth/me") == {"ok": True}
    assert seen == [503, 503, 200] and waits == [2.0, 2.0]


def test_the_api_client_gives_up_after_its_retries_and_reports_the_database() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            503,
            headers={"Retry-After": "1"},
            json={"error": {"code": "database_unavailable", "message": "the database is down"}},
        )

    waits: list[float] = []
    with (
        ApiClient(
            "http://server.test", "me_" + "x" * 43, transport=httpx.MockTransport(handler), sleep=waits.append
        ) as client,
        pytest.raises(DatabaseError, match="database is down"),
    ):
        client.get("/api/auth/me")
    assert len(calls) == 4 and waits == [1.0, 2.0, 4.0]  # backoff grows past a short Retry-After


def test_a_503_without_retry_after_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"error": {"code": "billing_not_configured", "message": "no Stripe key"}})

    with (
        ApiClient(
            "http://server.test", "me_" + "x" * 43, transport=httpx.MockTransport(handler), sleep=lambda s: None
        ) as client,
        pytest.raises(Exception, match="no Stripe key"),
    ):
        client.get("/api/subscriptions/current")
    assert len(calls) == 1
