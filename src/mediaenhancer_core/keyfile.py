"""Server secrets that may come from settings or are created once in the data folder.

    key = secret_key(settings.url_signing_secret, settings.data_dir, "url-signing.key",
                     setting="MEDIAENHANCER_URL_SIGNING_SECRET")

The setting wins; otherwise a random key is read from (or created, 0600, exactly once even
with several processes racing) ``data_dir/filename``, so every worker process of one server
uses the same key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import ConfigError
from .settings import Secret

__all__ = ["secret_key"]


def secret_key(value: Secret | None, data_dir: Path | None, filename: str, *, setting: str) -> bytes:
    if value:
        return value.reveal().encode("utf-8")
    if data_dir is None:  # pragma: no cover - Settings.load always fills it
        raise ConfigError(f"no data folder; set MEDIAENHANCER_DATA_DIR or {setting}")
    path = Path(data_dir) / filename
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the key ({exc.strerror}); set {setting}", path=path) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the key ({exc.strerror}); set {setting}", path=path) from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
