"""Server keys in the data folder (issue 12): racing processes on a fresh folder all get the same
complete key, never an empty one; short keys are refused.

Before: 8 of 60 racing trials produced a 0-byte callback-signing.key, so every user's callback
secret was HMAC(b"", user id), which anyone can compute."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from mediaenhancer_core.errors import ConfigError
from mediaenhancer_core.keyfile import MIN_KEY_BYTES, secret_key
from mediaenhancer_core.settings import Secret

PROCESSES = 12
TRIALS = 10


def _racer(data_dir: str, start, results) -> None:  # runs in a child process
    start.wait()
    try:
        key = secret_key(None, Path(data_dir), "callback-signing.key", setting="MEDIAENHANCER_CALLBACK_SIGNING_SECRET")
        results.put(key.decode())
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(f"error: {exc}")


def test_processes_racing_on_a_fresh_data_folder_share_one_complete_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for trial in range(TRIALS):
        data_dir = tmp_path / f"data-{trial}"  # fresh: not even the folder exists
        start = ctx.Barrier(PROCESSES)
        results = ctx.Queue()
        procs = [ctx.Process(target=_racer, args=(str(data_dir), start, results)) for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        keys = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        assert len(set(keys)) == 1, keys
        key = keys[0]
        assert not key.startswith("error") and len(key) == 64, key
        on_disk = data_dir / "callback-signing.key"
        assert on_disk.read_text() == key
        assert stat.S_IMODE(on_disk.stat().st_mode) == 0o600
        assert sorted(p.name for p in data_dir.iterdir()) == ["callback-signing.key"]  # no temporary files left


def test_an_empty_or_short_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "callback-signing.key").write_bytes(b"")
    with pytest.raises(ConfigError, match="shorter than"):
        secret_key(None, tmp_path, "callback-signing.key", setting="MEDIAENHANCER_CALLBACK_SIGNING_SECRET")
    (tmp_path / "callback-signing.key").write_bytes(b"x" * (MIN_KEY_BYTES - 1))
    with pytest.raises(ConfigError, match="delete"):
        secret_key(None, tmp_path, "callback-signing.key", setting="MEDIAENHANCER_CALLBACK_SIGNING_SECRET")


def test_a_short_key_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MEDIAENHANCER_URL_SIGNING_SECRET"):
        secret_key(Secret("short"), tmp_path, "url-signing.key", setting="MEDIAENHANCER_URL_SIGNING_SECRET")
    long = "k" * MIN_KEY_BYTES
    assert secret_key(Secret(long), tmp_path, "url-signing.key", setting="X") == long.encode()
    assert not os.listdir(tmp_path)


def test_a_server_with_an_empty_callback_key_does_not_start(settings, database, clock, tmp_path) -> None:
    from argon2.profiles import CHEAPEST

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.services import Core
    from mediaenhancer_server import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "callback-signing.key").write_bytes(b"")
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST), clock=clock)
    with pytest.raises(ConfigError, match="callback-signing.key"):
        create_app(core=core, prepare_database=False)
