"""Usage records outlive the rows users delete (issue 12): deleting a project, which deletes its
exports, used to reset the month's export count (2 used -> 0), so the plan's limit could be
bypassed. The count now comes from the usage records; migration 0005 gives every export that
succeeded before it a record. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import Export, UsageEvent, User
from tests import media as M
from tests.server.test_jobs_api import _upload, _wait


def _project(client, account, media_ids: list[str]) -> str:
    r = client.post(
        "/api/projects",
        headers=account.headers,
        json={"name": "Cut", "segments": [{"media_id": media_ids[0], "start": 0.0, "end": 1.0}]},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env.update({"MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "0.3", "MEDIAENHANCER_EMBEDDED_WORKERS": "1"})
    return settings_env


def test_deleting_the_project_keeps_the_months_exports_counted(client, core, make_account, tmp_path, tiny_plan) -> None:
    account = make_account()
    a = _upload(client, account, M.make_video(tmp_path / "a.mp4", 2.0, level=0.03))
    project = _project(client, account, [a["id"]])
    tiny_plan(account.email, exports=1)
    r = client.post(
        f"/api/projects/{project}/export", headers=account.headers, json={"format": "mp4", "quality": "draft"}
    )
    assert r.status_code == 202, r.text
    assert _wait(client, account, r.json()["job"]["id"])["status"] == "succeeded"
    assert client.get("/api/users/usage", headers=account.headers).json()["exports"]["used"] == 1
    assert client.delete(f"/api/projects/{project}", headers=account.headers).status_code == 204
    assert client.get("/api/users/usage", headers=account.headers).json()["exports"]["used"] == 1
    fresh = _project(client, account, [a["id"]])
    again = client.post(f"/api/projects/{fresh}/export", headers=account.headers, json={"format": "mp4"})
    assert again.status_code == 402, again.text


def test_migration_0005_gives_earlier_exports_their_records(backend, fresh_database_url) -> None:
    db = Database(fresh_database_url(backend))
    db.upgrade("0004_jobs_ai")
    user_id, project_id = uuid.uuid4(), uuid.uuid4()
    done = datetime.now(UTC).replace(microsecond=0)
    with db.session() as s:
        s.execute(
            text("INSERT INTO users (id, email, disabled) VALUES (:id, 'old@example.com', false)"),
            {"id": user_id if backend == "postgresql" else user_id.hex},
        )
    with db.engine.begin() as conn:
        uid = user_id if backend == "postgresql" else user_id.hex
        pid = project_id if backend == "postgresql" else project_id.hex
        conn.execute(
            text("INSERT INTO projects (id, user_id, name, status, settings) VALUES (:p, :u, 'P', 'draft', '{}')"),
            {"p": pid, "u": uid},
        )
        for status in ("succeeded", "succeeded", "failed"):
            eid = uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO exports (id, user_id, project_id, format, status, progress, completed_at) "
                    "VALUES (:e, :u, :p, 'mp4', :s, 100, :t)"
                ),
                {
                    "e": eid if backend == "postgresql" else eid.hex,
                    "u": uid,
                    "p": pid,
                    "s": status,
                    "t": done if backend == "postgresql" else done.replace(tzinfo=None),
                },
            )
    db.upgrade()
    with db.session() as s:
        s.execute(text("DELETE FROM projects"))  # the user deletes the project: its exports go with it
    with db.session() as s:
        assert s.scalar(select(Export.id)) is None
        records = s.scalars(select(UsageEvent).where(UsageEvent.kind == "export_succeeded")).all()
        assert len(records) == 2 and all(r.export_id is not None for r in records)
        assert {r.created_at for r in records} == {done}
        assert s.get(User, user_id).email_verified_at is not None  # existing accounts count as verified
    db.dispose()
