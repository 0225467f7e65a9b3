"""Server secrets that may come from settings or are created once in the data folder.

    key = secret_key(settings.url_signing_secret, settings.data_dir, "url-signing.key",
                     setting="MEDIAENHANCER_URL_SIGNING_SECRET")

The setting wins; otherwise a random key is read from (or created in) ``data_dir/filename``,
so every worker process of one server uses the same key.

Creating it is safe against racing processes on a fresh data folder: the key is written and
fsynced to a temporary file of its own (0600), then *linked* into place with ``os.link``, which
fails when the name exists. So the file under the final name is always complete: a process
never sees it empty or half written, and the first link wins for everyone. (Before issue 12 the
file was created with O_EXCL and then written, and a racing reader could take the empty file:
every user's callback secret became HMAC(b"", uid), which anyone can compute.)

A key shorter than :data:`MIN_KEY_BYTES` is refused, from the file or from the setting.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mediaenhancer_core.errors import ConfigError
from mediaenhancer_core.privatefs import make_dirs
from mediaenhancer_core.settings import Secret

__all__ = ["secret_key", "MIN_KEY_BYTES"]

MIN_KEY_BYTES = 32


def _checked(key: bytes, where: str, setting: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{where}: the key is {len(key)} bytes, shorter than {MIN_KEY_BYTES}; "
            f"set {setting} to a random value of at least {MIN_KEY_BYTES} characters"
            + ("" if where == setting else f", or delete {where} to have a new one made")
        )
    return key


def secret_key(value: Secret | None, data_dir: Path | None, filename: str, *, setting: str) -> bytes:
    if value:
        return _checked(value.reveal().encode("utf-8"), setting, setting)
    if data_dir is None:  # pragma: no cover - Settings.load always fills it
        raise ConfigError(f"no data folder; set MEDIAENHANCER_DATA_DIR or {setting}")
    path = Path(data_dir) / filename
    key = _read(path, setting)
    if key is None:
        key = _create(path, setting)
    return _checked(key, str(path), setting)


def _read(path: Path, setting: str) -> bytes | None:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the key ({exc.strerror}); set {setting}", path=path) from None


def _create(path: Path, setting: str) -> bytes:
    """Write a new key beside ``path`` and link it into place; the key that won (ours or another
    process's) is returned."""
    key = secrets.token_hex(32).encode()
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        make_dirs(path.parent)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)  # atomic, and never replaces: the first complete key wins
        except FileExistsError:
            pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the key ({exc.strerror}); set {setting}", path=path) from None
    finally:
        try:
            temp.unlink()
        except OSError:
            pass
    won = _read(path, setting)
    if won is None:  # pragma: no cover - removed between our link and our read
        raise ConfigError(f"{path}: the key disappeared while it was created; start again", path=path)
    return won
