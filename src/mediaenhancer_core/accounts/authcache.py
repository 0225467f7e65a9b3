"""A short-lived in-process cache of who a token belongs to, and of profiles.

Checking a token and reading the profile cost a few database round trips; an
authenticated read (GET /api/auth/me) would spend most of its time there. Entries
live ``ttl`` seconds (setting ``auth_cache_seconds``; 0 turns the cache off) and never
past the token's own expiry. Everything that changes them here (revoking a token,
disabling or deleting an account, editing a profile, changing a plan) drops the
entries at once in this process; other server processes see the change within
``ttl`` seconds.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediaenhancer_core.accounts.users import Principal

__all__ = ["AuthCache"]

MAX_ENTRIES = 10_000


class AuthCache:
    def __init__(self, ttl_seconds: int, *, clock: Callable[[], datetime]) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self.clock = clock
        self._principals: dict[str, tuple[Principal, datetime]] = {}
        self._profiles: dict[uuid.UUID, tuple[dict[str, Any], datetime]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0)

    def principal(self, token_hash: str) -> Principal | None:
        entry = self._principals.get(token_hash)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            self._principals.pop(token_hash, None)
            return None
        return entry[0]

    def put_principal(self, token_hash: str, principal: Principal, token_expires_at: datetime | None) -> None:
        if not self.enabled:
            return
        until = self.clock() + self.ttl
        if token_expires_at is not None:
            until = min(until, token_expires_at)
        with self._lock:
            if len(self._principals) >= MAX_ENTRIES:
                self._principals.clear()
            self._principals[token_hash] = (principal, until)

    def profile(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        entry = self._profiles.get(user_id)
        if entry is None or entry[1] <= self.clock():
            return None
        return dict(entry[0])

    def put_profile(self, user_id: uuid.UUID, profile: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._profiles) >= MAX_ENTRIES:
                self._profiles.clear()
            self._profiles[user_id] = (dict(profile), self.clock() + self.ttl)

    def forget_token(self, token_id: uuid.UUID) -> None:
        with self._lock:
            for key, (principal, _) in list(self._principals.items()):
                if principal.token_id == token_id:
                    del self._principals[key]

    def forget_user(self, user_id: uuid.UUID) -> None:
        with self._lock:
            for key, (principal, _) in list(self._principals.items()):
                if principal.user_id == user_id:
                    del self._principals[key]
            self._profiles.pop(user_id, None)

    def forget_profile(self, user_id: uuid.UUID) -> None:
        with self._lock:
            self._profiles.pop(user_id, None)
