"""Sign-in throttling, kept in the database so every server worker shares the counters.

Two fixed windows per attempt: one per account and client address (a guessing attack
on one account), one per client address across accounts (password spraying). When a
counter reaches its limit, sign-in answers :class:`RateLimitedError` until its window
ends, even with the right password. A successful sign-in clears the account counter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db.models import SignInThrottle
from .errors import RateLimitedError

__all__ = ["SignInLimiter"]


class SignInLimiter:
    def __init__(
        self,
        *,
        max_failures: int,
        ip_max_failures: int,
        window_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.max_failures = max_failures
        self.ip_max_failures = ip_max_failures
        self.window = timedelta(seconds=window_seconds)
        self.clock = clock

    @staticmethod
    def _keys(email: str, client_ip: str) -> tuple[str, str]:
        return f"acct:{email}|ip:{client_ip}", f"ip:{client_ip}"

    def check(self, session: Session, email: str, client_ip: str) -> None:
        """Raise RateLimitedError when either counter is at its limit inside its window."""
        now = self.clock()
        account_key, ip_key = self._keys(email, client_ip)
        rows = session.execute(
            select(SignInThrottle.key, SignInThrottle.failures, SignInThrottle.window_started_at).where(
                SignInThrottle.key.in_((account_key, ip_key))
            )
        ).all()
        for key, failures, started in rows:
            limit = self.max_failures if key == account_key else self.ip_max_failures
            ends = started + self.window
            if failures >= limit and ends > now:
                retry_after = max(1, int((ends - now).total_seconds() + 0.999))
                raise RateLimitedError(
                    f"too many failed sign-ins; try again in {retry_after} seconds", retry_after=retry_after
                )

    def record_failure(self, session: Session, email: str, client_ip: str) -> None:
        for key in self._keys(email, client_ip):
            self._increment(session, key)

    def clear(self, session: Session, email: str, client_ip: str) -> None:
        account_key, _ = self._keys(email, client_ip)
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == account_key))

    def purge_expired(self, session: Session) -> int:
        result = session.execute(
            delete(SignInThrottle).where(SignInThrottle.window_started_at < self.clock() - self.window)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _increment(self, session: Session, key: str) -> None:
        now = self.clock()
        for _ in range(3):  # another worker may create the row between our UPDATE and INSERT
            bumped = session.execute(
                update(SignInThrottle)
                .where(SignInThrottle.key == key, SignInThrottle.window_started_at > now - self.window)
                .values(failures=SignInThrottle.failures + 1)
            )
            if bumped.rowcount:  # type: ignore[attr-defined]
                return
            try:
                with session.begin_nested():
                    session.execute(delete(SignInThrottle).where(SignInThrottle.key == key))
                    session.add(SignInThrottle(key=key, failures=1, window_started_at=now))
                    session.flush()
                return
            except IntegrityError:
                continue
