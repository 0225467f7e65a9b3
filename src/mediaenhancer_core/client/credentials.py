"""Where the CLI keeps its API token: the OS keyring, else a 0600 file.

Tokens are stored per server address. The OS keyring (macOS Keychain, Windows
Credential Locker, Secret Service on Linux desktops) is used when there is one. On
machines without one (headless Linux: keyring's fail backend raises NoKeyringError)
the token goes to ``credentials.json`` in the config folder, created with mode 0600
in a 0700 folder, and the caller is warned once, when that file is created.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CredentialStore", "KEYRING_SERVICE", "CREDENTIALS_FILE"]

KEYRING_SERVICE = "mediaenhancer"
CREDENTIALS_FILE = "credentials.json"


def _default_keyring() -> Any:
    import keyring  # noqa: PLC0415 - lazy: only login/logout/API commands need it

    return keyring


class CredentialStore:
    def __init__(
        self,
        config_dir: Path,
        *,
        warn: Callable[[str], None],
        keyring_module: Any = None,
    ) -> None:
        self.path = config_dir / CREDENTIALS_FILE
        self.warn = warn
        self._keyring = keyring_module

    @property
    def keyring(self) -> Any:
        if self._keyring is None:
            self._keyring = _default_keyring()
        return self._keyring

    @staticmethod
    def _key(server_url: str) -> str:
        return server_url.rstrip("/")

    def get(self, server_url: str) -> tuple[str | None, str | None]:
        """(token, where it came from: "keyring" or the file path), or (None, None)."""
        key = self._key(server_url)
        try:
            token = self.keyring.get_password(KEYRING_SERVICE, key)
        except self._errors():
            token = None
        if token:
            return token, "keyring"
        token = self._read_file().get(key)
        if isinstance(token, str) and token:
            return token, str(self.path)
        return None, None

    def set(self, server_url: str, token: str) -> str:
        """Store the token; return where it went ("keyring" or the file path)."""
        key = self._key(server_url)
        try:
            self.keyring.set_password(KEYRING_SERVICE, key, token)
        except self._errors() as exc:
            reason = exc.__class__.__name__
        else:
            self._remove_from_file(key)  # an older fallback copy must not shadow it
            return "keyring"
        created = not self.path.exists()
        servers = self._read_file()
        servers[key] = token
        self._write_file(servers)
        if created:
            self.warn(
                f"no OS keyring available ({reason}); the token is stored in {self.path} "
                "(readable only by you). Install a keyring backend to keep it there instead."
            )
        return str(self.path)

    def delete(self, server_url: str) -> bool:
        key = self._key(server_url)
        removed = False
        try:
            if self.keyring.get_password(KEYRING_SERVICE, key):
                self.keyring.delete_password(KEYRING_SERVICE, key)
                removed = True
        except self._errors():
            pass
        return self._remove_from_file(key) or removed

    # --- the fallback file ---------------------------------------------------------

    def _errors(self) -> tuple[type[BaseException], ...]:
        errors = getattr(self.keyring, "errors", None)
        base = getattr(errors, "KeyringError", None)
        return (base,) if isinstance(base, type) else (RuntimeError,)

    def _read_file(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        servers = data.get("servers") if isinstance(data, dict) else None
        return dict(servers) if isinstance(servers, dict) else {}

    def _write_file(self, servers: dict[str, Any]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=self.path.parent)  # mkstemp creates 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"servers": servers}, f, indent=2)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _remove_from_file(self, key: str) -> bool:
        servers = self._read_file()
        if key not in servers:
            return False
        del servers[key]
        if servers:
            self._write_file(servers)
        else:
            self.path.unlink(missing_ok=True)
        return True
