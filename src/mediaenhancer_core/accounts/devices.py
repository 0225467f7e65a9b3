"""Device authorization for `mediaenhancer login`, in the style of RFC 8628.

1. The CLI asks for a code (:meth:`DeviceAuthorizations.start`) and shows the user code
   and the verification URL.
2. The user signs in on the server's page, enters the code and approves
   (:meth:`approve`) or denies (:meth:`deny`).
3. The CLI polls (:meth:`poll`) no faster than ``interval``; it gets
   ``authorization_pending`` until approval, ``slow_down`` when too fast (and the
   interval grows by 5 s), ``access_denied`` or ``expired_token``, and once, on
   approval, a new API token. The exchange is an atomic status change, so two polls
   racing never get two tokens.

Device codes are stored as SHA-256; user codes are short-lived, single-use and unique.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError

from mediaenhancer_core.accounts.security import (
    format_user_code,
    hash_secret,
    new_secret,
    new_user_code,
    normalize_user_code,
)
from mediaenhancer_core.accounts.throttle import AttemptCounter
from mediaenhancer_core.accounts.tokens import ApiTokens
from mediaenhancer_core.accounts.users import Principal
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import DeviceAuthorization
from mediaenhancer_core.errors import (
    AccessDeniedError,
    AuthorizationPendingError,
    DeviceCodeExpiredError,
    NotFoundError,
    SlowDownError,
    UnauthorizedError,
    ValidationError,
)

__all__ = ["DeviceAuthorizations", "DeviceStart", "PendingDevice", "SLOW_DOWN_STEP"]

SLOW_DOWN_STEP = 5  # seconds added to the interval on each slow_down (RFC 8628 section 3.5)
DEVICE_CODE_PREFIX = "med_"


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str  # formatted, e.g. "BCDF-GHJK"
    expires_in: int
    interval: int


@dataclass(frozen=True)
class PendingDevice:
    user_code: str
    client_name: str
    status: str
    expires_at: datetime


class DeviceAuthorizations:
    def __init__(
        self,
        db: Database,
        tokens: ApiTokens,
        *,
        ttl: timedelta,
        interval: int,
        clock: Callable[[], datetime],
        codes_per_ip: int = 30,
        max_guesses: int = 10,
        window: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.ttl = ttl
        self.interval = interval
        self.clock = clock
        self.codes_per_ip = codes_per_ip
        self.max_guesses = max_guesses
        self.window = window
        self.counter = AttemptCounter(clock)

    def start(self, client_name: str, *, client_ip: str = "unknown") -> DeviceStart:
        """A new code pair; at most ``codes_per_ip`` per client address in the window (RFC 8628
        section 5.1: creating codes en masse would make guessing a live one easier)."""
        with self.db.session() as session:
            self.counter.hit(
                session,
                f"device-code-ip:{client_ip}",
                limit=self.codes_per_ip,
                window=self.window,
                what="login codes from your address",
            )
        client_name = " ".join((client_name or "mediaenhancer CLI").split())[:100] or "mediaenhancer CLI"
        device_code = new_secret(DEVICE_CODE_PREFIX)
        now = self.clock()
        for _ in range(5):  # a user-code collision is possible in principle; pick another
            user_code = new_user_code()
            try:
                with self.db.session() as session:
                    session.execute(
                        delete(DeviceAuthorization).where(DeviceAuthorization.expires_at < now - timedelta(days=1))
                    )
                    session.add(
                        DeviceAuthorization(
                            device_code_hash=hash_secret(device_code),
                            user_code=user_code,
                            client_name=client_name,
                            interval_seconds=self.interval,
                            created_at=now,
                            expires_at=now + self.ttl,
                        )
                    )
                break
            except IntegrityError:
                continue
        else:  # pragma: no cover - 20^8 codes
            raise UnauthorizedError("could not allocate a login code; try again")
        return DeviceStart(device_code, format_user_code(user_code), int(self.ttl.total_seconds()), self.interval)

    def _guess(self, user_id: uuid.UUID) -> str:
        """Count one typed code of this user before looking it up (RFC 8628 section 5.1: user codes
        are short, so guesses are limited); a code that turns out valid gives its count back."""
        key = f"device-guess:{user_id}"
        with self.db.session() as session:
            self.counter.hit(session, key, limit=self.max_guesses, window=self.window, what="wrong login codes")
        return key

    def _found(self, key: str) -> None:
        with self.db.session() as session:
            self.counter.give_back(session, key)

    def pending(self, user_code: str, *, user_id: uuid.UUID) -> PendingDevice:
        """The request behind a code the user typed, if it can still be approved."""
        code = normalize_user_code(user_code)
        if len(code) != 8:
            raise ValidationError("code: type the 8 letters shown by `mediaenhancer login`", field="user_code")
        key = self._guess(user_id)
        with self.db.session() as session:
            row = session.scalar(select(DeviceAuthorization).where(DeviceAuthorization.user_code == code))
        if row is None or row.status != "pending" or row.expires_at <= self.clock():
            raise NotFoundError("this code is unknown, used or expired; run `mediaenhancer login` again for a new one")
        self._found(key)
        return PendingDevice(format_user_code(row.user_code), row.client_name, row.status, row.expires_at)

    def approve(self, user_code: str, principal: Principal) -> None:
        self._decide(user_code, principal, "approved")

    def deny(self, user_code: str, principal: Principal) -> None:
        self._decide(user_code, principal, "denied")

    def _decide(self, user_code: str, principal: Principal, status: str) -> None:
        code = normalize_user_code(user_code)
        key = self._guess(principal.user_id)
        with self.db.session() as session:
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(DeviceAuthorization)
                    .where(
                        DeviceAuthorization.user_code == code,
                        DeviceAuthorization.status == "pending",
                        DeviceAuthorization.expires_at > self.clock(),
                    )
                    .values(status=status, user_id=principal.user_id)
                ),
            )
            if not result.rowcount:
                raise NotFoundError(
                    "this code is unknown, used or expired; run `mediaenhancer login` again for a new one"
                )
        self._found(key)

    def poll(self, device_code: str) -> str:
        """The new API token once approved; otherwise raise the RFC 8628 answer."""
        if not device_code or not device_code.startswith(DEVICE_CODE_PREFIX):
            raise DeviceCodeExpiredError("unknown device code; run `mediaenhancer login` again")
        now = self.clock()
        with self.db.session() as session:
            row = session.scalar(
                select(DeviceAuthorization).where(DeviceAuthorization.device_code_hash == hash_secret(device_code))
            )
            if row is None or row.status == "consumed":
                raise DeviceCodeExpiredError("unknown or already used device code; run `mediaenhancer login` again")
            if row.expires_at <= now:
                raise DeviceCodeExpiredError(
                    "the login code expired before it was approved; run `mediaenhancer login` again"
                )
            if row.status == "denied":
                raise AccessDeniedError("the login was denied in the browser")
            too_fast = row.last_polled_at is not None and now - row.last_polled_at < timedelta(
                seconds=row.interval_seconds
            )
            row.last_polled_at = now
            if too_fast:
                row.interval_seconds += SLOW_DOWN_STEP
                session.commit()
                raise SlowDownError(f"polling too fast; wait {row.interval_seconds} seconds between polls")
            if row.status == "pending":
                session.commit()
                raise AuthorizationPendingError("waiting for the user to approve the login in the browser")
            # approved: exchange exactly once
            claimed = cast(
                CursorResult[Any],
                session.execute(
                    update(DeviceAuthorization)
                    .where(DeviceAuthorization.id == row.id, DeviceAuthorization.status == "approved")
                    .values(status="consumed")
                ),
            )
            if not claimed.rowcount:
                raise DeviceCodeExpiredError("this device code was already used; run `mediaenhancer login` again")
            assert row.user_id is not None
            _, secret = self.tokens.create(row.user_id, row.client_name, source="device", session=session)
            return secret
