"""Personal API tokens: shown once, stored as SHA-256, named, revocable, optional expiry.

A token looks like ``me_`` + 43 URL-safe characters (256 random bits). Checking one is
a lookup by its hash, so the secret is never compared byte by byte; ``last_used_at``
is written at most once a minute per token to keep authenticated reads cheap.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import Session

from mediaenhancer_core.accounts.authcache import AuthCache
from mediaenhancer_core.accounts.security import constant_time_equals, hash_secret, new_secret
from mediaenhancer_core.accounts.users import Principal
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import ApiToken, User
from mediaenhancer_core.errors import AccountDisabledError, NotFoundError, UnauthorizedError, ValidationError

__all__ = ["ApiTokens", "TOKEN_PREFIX", "looks_like_api_token"]

log = logging.getLogger("mediaenhancer.tokens")
TOKEN_PREFIX = "me_"
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_TOKENS_PER_USER = 100


_LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.user_id,
        ApiToken.token_hash,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.email,
        User.disabled,
        User.deleted_at,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def looks_like_api_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 200


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError("name: give the token a name, e.g. the machine it is for", field="name")
    if len(name) > 100 or any(ord(ch) < 32 for ch in name):
        raise ValidationError("name: use at most 100 printable characters", field="name")
    return name


class LastUsedWriter:
    """Writes ``last_used_at`` best effort, off the request: one background thread, the newest time
    per token, and a failure (SQLite write-locked, PostgreSQL gone) only logged. A request never
    waits for this write or fails because of it (before issue 12 a locked SQLite file made an
    authenticated GET wait 10 s and answer 500)."""

    IDLE_SECONDS = 2.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: dict[uuid.UUID, datetime] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def record(self, token_id: uuid.UUID, when: datetime) -> None:
        with self._lock:
            self._pending[token_id] = when
            if self._closed:
                return  # shutting down: close() writes what is pending in its own thread
            if self._thread is None or not self._thread.is_alive():  # none, or it ended idle
                self._thread = threading.Thread(target=self._run, name="mediaenhancer-last-used", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self) -> None:
        """Write what is pending now, in the caller's thread (tests, shutdown)."""
        with self._write_lock:  # a flush also waits for the background thread's write in progress
            with self._lock:
                pending, self._pending = self._pending, {}
            self._write(pending)

    def _write(self, pending: dict[uuid.UUID, datetime]) -> None:
        for token_id, when in pending.items():
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=when))
            except Exception as exc:  # noqa: BLE001 - best effort: the next use records it again
                log.info("last_used_at not recorded (%s)", type(exc).__name__)

    def close(self) -> None:
        """Stop the background thread and write what is pending (server shutdown, Core.close).
        Call it before the database's engine is disposed: a write after that would open a
        connection nobody closes."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=15)
        self.flush()
        with self._lock:
            self._closed = False  # an app started again (tests, reload) records through a new thread

    def _run(self) -> None:
        # the thread lives while there is work: idle for IDLE_SECONDS, it ends (record() starts
        # another), so no thread outlives its server holding the engine
        while True:
            if not self._wake.wait(timeout=self.IDLE_SECONDS):
                with self._lock:  # idle: end, unless a record() came in just now
                    if not self._pending:
                        self._thread = None
                        return
            self._wake.clear()
            self.flush()
            if self._closed:
                return


class ApiTokens:
    def __init__(self, db: Database, *, clock: Callable[[], datetime], cache: AuthCache | None = None) -> None:
        self.db = db
        self.clock = clock
        self.cache = cache or AuthCache(0, clock=clock)
        self.last_used = LastUsedWriter(db)

    def create(
        self,
        user_id: uuid.UUID,
        name: str,
        *,
        expires_in: timedelta | None = None,
        source: str = "api",
        session: Session | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token for the user: the row, and the secret (which is never stored)."""
        name = _clean_name(name)
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValidationError("expires_in_days: must be 1 or more", field="expires_in_days")
        secret = new_secret(TOKEN_PREFIX)
        now = self.clock()
        row = ApiToken(
            user_id=user_id,
            name=name,
            token_hash=hash_secret(secret),
            prefix=secret[:8],
            source=source,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        if session is not None:
            self._add(session, row)
        else:
            with self.db.session() as own:
                self._add(own, row)
        return row, secret

    def _add(self, session: Session, row: ApiToken) -> None:
        active = session.scalars(
            select(ApiToken.id).where(ApiToken.user_id == row.user_id, ApiToken.revoked_at.is_(None))
        ).all()
        if len(active) >= MAX_TOKENS_PER_USER:
            raise ValidationError(
                f"you have {MAX_TOKENS_PER_USER} tokens; revoke some with `mediaenhancer tokens revoke ID`",
                field="name",
            )
        session.add(row)
        session.flush()

    def authenticate(self, secret: str) -> Principal:
        """The principal behind a bearer token, or UnauthorizedError / AccountDisabledError."""
        if not looks_like_api_token(secret):
            raise UnauthorizedError("invalid API token; create one with `mediaenhancer login`")
        digest = hash_secret(secret)
        cached = self.cache.principal(digest)
        if cached is not None:
            return cached
        now = self.clock()
        # Core rows, not ORM objects: this runs on every uncached request.
        with self.db.engine.connect() as conn:
            row = conn.execute(_LOOKUP, {"digest": digest}).first()
        if row is None or not constant_time_equals(row.token_hash, digest):
            raise UnauthorizedError("invalid API token; create one with `mediaenhancer login`")
        if row.revoked_at is not None:
            raise UnauthorizedError("this API token was revoked; sign in again with `mediaenhancer login`")
        if row.expires_at is not None and row.expires_at <= now:
            raise UnauthorizedError("this API token has expired; sign in again with `mediaenhancer login`")
        if row.deleted_at is not None:
            raise UnauthorizedError("this account no longer exists")
        if row.disabled:
            raise AccountDisabledError("this account is disabled; contact the administrator")
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            self.last_used.record(row.id, now)
        principal = Principal(user_id=row.user_id, email=row.email, method="token", token_id=row.id)
        self.cache.put_principal(digest, principal, row.expires_at)
        return principal

    def cached(self, secret: str) -> Principal | None:
        """The principal of a token if the cache knows it (no database access)."""
        return self.cache.principal(hash_secret(secret)) if looks_like_api_token(secret) else None

    def list(self, user_id: uuid.UUID) -> list[ApiToken]:
        """The user's tokens that are not revoked, newest first (expired ones included, marked)."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(ApiToken)
                    .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                    .order_by(ApiToken.created_at.desc(), ApiToken.id)
                )
            )

    def revoke(self, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
        """Revoke one of the user's tokens; someone else's token is 'not found'."""
        with self.db.session() as session:
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(ApiToken)
                    .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=self.clock())
                ),
            )
            if not result.rowcount:
                raise NotFoundError(f"no token {token_id}; list yours with `mediaenhancer tokens list`")
        self.cache.forget_token(token_id)

    def to_dict(self, token: ApiToken) -> dict[str, Any]:
        now = self.clock()
        return {
            "id": str(token.id),
            "name": token.name,
            "prefix": token.prefix,
            "source": token.source,
            "created_at": token.created_at.isoformat(),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
            "expired": token.expires_at is not None and token.expires_at <= now,
        }
