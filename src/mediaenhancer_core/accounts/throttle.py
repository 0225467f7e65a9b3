"""Attempt counters kept in the database, so every server worker shares them, and counted
*before* the work they limit.

:class:`AttemptCounter` is one atomic statement per key: an upsert (``INSERT ... ON CONFLICT
DO UPDATE ... RETURNING``, on SQLite and PostgreSQL alike) that starts a fixed window or adds
one to it and answers the new count. The caller commits that count before doing the costly or
guessable thing (an argon2 check, an account, a device code), so N concurrent attempts get the
counts 1..N and only those within the limit go on: the limit holds under any concurrency.
(Before issue 12 failures were counted after the argon2 check, and 30 parallel wrong
passwords got 19 checks against a limit of 5.)

:class:`SignInLimiter` uses two keys per attempt: the account and client address (guessing one
account's password) and the client address alone (password spraying across accounts). A
successful sign-in clears the account key and gives its attempt back to the address key.
The same counters limit sign-ups per address and the device flow (see ``accounts.py`` and
``devices.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mediaenhancer_core.db.models import SignInThrottle
from mediaenhancer_core.errors import RateLimitedError

__all__ = ["AttemptCounter", "SignInLimiter"]

_COLUMN = SignInThrottle.__table__.c


class AttemptCounter:
    """Fixed-window counters by key, in the ``sign_in_throttle`` table."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    def bump(self, session: Session, key: str, window: timedelta) -> tuple[int, datetime]:
        """Count one attempt under ``key``; the count in the current window (this one included)
        and when the window started. One statement: concurrent callers get distinct counts."""
        now = self.clock()
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now_value = literal(now, type_=_COLUMN.window_started_at.type)
        expired = _COLUMN.window_started_at <= literal(now - window, type_=_COLUMN.window_started_at.type)
        statement = (
            insert(SignInThrottle)
            .values(key=key, failures=1, window_started_at=now)
            .on_conflict_do_update(
                index_elements=[_COLUMN.key],
                set_={
                    "failures": case((expired, 1), else_=_COLUMN.failures + 1),
                    "window_started_at": case((expired, now_value), else_=_COLUMN.window_started_at),
                },
            )
            .returning(_COLUMN.failures, _COLUMN.window_started_at)
        )
        count, started = session.execute(statement).one()
        return int(count), started

    def hit(self, session: Session, key: str, *, limit: int, window: timedelta, what: str) -> None:
        """Count an attempt and raise RateLimitedError when it is over ``limit`` in the window."""
        count, started = self.bump(session, key, window)
        if count > limit:
            raise self.limited(started, window, what)

    def limited(self, started: datetime, window: timedelta, what: str) -> RateLimitedError:
        ends = started + window
        retry_after = max(1, int((ends - self.clock()).total_seconds() + 0.999))
        return RateLimitedError(f"too many {what}; try again in {retry_after} seconds", retry_after=retry_after)

    def give_back(self, session: Session, key: str) -> None:
        session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.key == key, SignInThrottle.failures > 0)
            .values(failures=SignInThrottle.failures - 1)
        )

    def clear(self, session: Session, key: str) -> None:
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == key))

    def purge_older_than(self, session: Session, age: timedelta) -> int:
        stmt = delete(SignInThrottle).where(SignInThrottle.window_started_at < self.clock() - age)
        result = cast(CursorResult[Any], session.execute(stmt))
        return int(result.rowcount or 0)


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
        self.counter = AttemptCounter(clock)

    @staticmethod
    def _keys(email: str, client_ip: str) -> tuple[str, str]:
        return f"acct:{email}|ip:{client_ip}", f"ip:{client_ip}"

    def acquire(self, session: Session, email: str, client_ip: str) -> None:
        """Count this attempt before the password is checked (commit the session before checking).
        RateLimitedError when the address or the account+address is over its limit."""
        account_key, ip_key = self._keys(email, client_ip)
        self.counter.hit(session, ip_key, limit=self.ip_max_failures, window=self.window, what="failed sign-ins")
        self.counter.hit(session, account_key, limit=self.max_failures, window=self.window, what="failed sign-ins")

    def succeeded(self, session: Session, email: str, client_ip: str) -> None:
        """The password was right: the account's counter starts over, the address gets its attempt back."""
        account_key, ip_key = self._keys(email, client_ip)
        self.counter.clear(session, account_key)
        self.counter.give_back(session, ip_key)

    def purge_expired(self, session: Session, *, longest: timedelta | None = None) -> int:
        """Delete the counters whose window has ended. The table also holds the sign-up and device
        counters (abuse_window_seconds): ``longest`` is the longest window any of them uses, so
        that no counter is forgotten while its window still runs. Returns the rows deleted."""
        return self.counter.purge_older_than(session, max(self.window, longest or self.window))
