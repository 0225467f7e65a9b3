"""The server's files are its own (issue 12): the database, the queue file, the keys and the media
of the local storage backend are created 0600 and their folders 0700, whatever the umask.

Before: the database file and media came out 0644 (readable by every local user)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from argon2.profiles import CHEAPEST
from starlette.testclient import TestClient

from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.services import Core
from mediaenhancer_core.settings import Settings
from mediaenhancer_server import create_app


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_queue_keys_and_media_are_private(settings_env, media_files, loose_umask, tmp_path) -> None:
    settings_env["MEDIAENHANCER_DATA_DIR"] = str(tmp_path / "fresh" / "data")  # nothing exists yet
    settings_env["MEDIAENHANCER_EMBEDDED_WORKERS"] = "0"
    settings = Settings.load(settings_env)
    core = Core.open(settings, passwords=Passwords(CHEAPEST))
    with TestClient(create_app(core=core)) as client:
        user = core.accounts.create_user("files@example.com", "correct horse battery")
        _, token = core.tokens.create(user.id, "t")
        with open(media_files["clip"], "rb") as fh:
            answer = client.post(
                "/api/media/upload",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("clip.mp4", fh, "video/mp4")},
            )
        assert answer.status_code == 201, answer.text
    core.close()
    data = settings.data_dir
    files = [p for p in data.rglob("*") if p.is_file()]
    folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    names = {p.name for p in files}
    assert {"mediaenhancer.db", "queue.sqlite3", "callback-signing.key", "url-signing.key"} <= names, names
    assert any(p.suffix == "" and "media" in p.parts for p in files)  # the stored upload itself
    assert {str(p.relative_to(data)): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}
    assert {str(p.relative_to(data)): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
