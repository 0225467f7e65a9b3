"""Browser sessions for the server's own pages (sign-in, device approval, account).

The cookie holds a random secret; the database keeps its SHA-256, so signing out (or
disabling the account) ends the session everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from mediaenhancer_core.accounts.security import hash_secret, new_secret
from mediaenhancer_core.accounts.users import Principal
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import User, WebSession

__all__ = ["WebSessions"]


class WebSessions:
    def __init__(self, db: Database, *, lifetime: timedelta, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.lifetime = lifetime
        self.clock = clock

    def create(self, principal: Principal) -> str:
        secret = new_secret()
        now = self.clock()
        with self.db.session() as session:
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(
                WebSession(
                    user_id=principal.user_id,
                    token_hash=hash_secret(secret),
                    created_at=now,
                    expires_at=now + self.lifetime,
                )
            )
        return secret

    def resolve(self, secret: str | None) -> Principal | None:
        """The signed-in user of a cookie, or None (unknown, expired, disabled)."""
        if not secret or len(secret) > 200:
            return None
        with self.db.session() as session:
            row = session.execute(
                select(WebSession.user_id, WebSession.expires_at, User.email, User.disabled, User.deleted_at)
                .join(User, User.id == WebSession.user_id)
                .where(WebSession.token_hash == hash_secret(secret))
            ).first()
        if row is None:
            return None
        user_id, expires_at, email, disabled, deleted_at = row
        if expires_at <= self.clock() or disabled or deleted_at is not None:
            return None
        return Principal(user_id=user_id, email=email, method="session")

    def end(self, secret: str | None) -> None:
        if not secret:
            return
        with self.db.session() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == hash_secret(secret)))
