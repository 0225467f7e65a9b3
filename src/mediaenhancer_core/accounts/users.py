"""Accounts: creating users, signing in, profiles, disabling, plans set by hand.

Emails are normalized (Unicode NFKC, trimmed, lower case) before they are stored or
looked up, so ``Ann@Example.com`` and ``ann@example.com`` are one account; the
database enforces both uniqueness and the lower-case form.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mediaenhancer_core.accounts.authcache import AuthCache
from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.accounts.throttle import SignInLimiter
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import ApiToken, SubscriptionPlan, User, UserSubscription, WebSession
from mediaenhancer_core.errors import (
    AccountDisabledError,
    ConflictError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    NotFoundError,
    ValidationError,
)
from mediaenhancer_core.plans.catalogue import (
    FREE_PLAN_ID,
    get_plan,
    plan_dict,
    plan_for_user,
    subscription_grants_plan,
)

__all__ = ["Accounts", "Principal", "normalize_email", "PROFILE_FIELDS"]

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
PROFILE_FIELDS = ("username", "avatar_url")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user and how they proved it."""

    user_id: uuid.UUID
    email: str
    method: str  # "token", "session" or "jwt"
    token_id: uuid.UUID | None = None


def normalize_email(raw: str) -> str:
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if not email:
        raise ValidationError("email: required", field="email")
    if len(email) > 254 or not _EMAIL_RE.fullmatch(email) or _CONTROL_RE.search(email):
        raise ValidationError(f"email: {raw.strip()[:80]!r} is not an email address", field="email")
    return email


def _clean_username(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("username: must be a string or null", field="username")
    value = unicodedata.normalize("NFKC", value).strip()
    if not value:
        return None
    if len(value) > 100:
        raise ValidationError("username: use at most 100 characters", field="username")
    if _CONTROL_RE.search(value):
        raise ValidationError("username: must not contain control characters", field="username")
    return value


def _clean_avatar_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("avatar_url: must be a string or null", field="avatar_url")
    value = value.strip()
    if len(value) > 2048:
        raise ValidationError("avatar_url: use at most 2048 characters", field="avatar_url")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or _CONTROL_RE.search(value) or " " in value:
        raise ValidationError("avatar_url: must be an http:// or https:// URL", field="avatar_url")
    return value


_PROFILE = (
    select(
        User.id,
        User.email,
        User.username,
        User.avatar_url,
        User.password_hash.is_not(None).label("has_password"),
        User.clerk_user_id,
        User.created_at,
        User.deleted_at,
        UserSubscription.status,
        UserSubscription.cancel_at_period_end,
        UserSubscription.current_period_end,
        UserSubscription.grace_until,
        SubscriptionPlan.id.label("plan_id"),
        SubscriptionPlan.name.label("plan_name"),
    )
    .outerjoin(UserSubscription, UserSubscription.user_id == User.id)
    .outerjoin(SubscriptionPlan, SubscriptionPlan.id == UserSubscription.plan_id)
    .where(User.id == bindparam("user_id"))
)
_FREE_PLAN = select(SubscriptionPlan.id, SubscriptionPlan.name).where(SubscriptionPlan.id == FREE_PLAN_ID)


class Accounts:
    def __init__(
        self,
        db: Database,
        *,
        passwords: Passwords,
        limiter: SignInLimiter,
        clock: Callable[[], datetime],
        cache: AuthCache | None = None,
        signup_ip_max: int = 5,
        abuse_window: timedelta = timedelta(hours=1),
        require_verified_email: bool = False,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.limiter = limiter
        self.clock = clock
        self.cache = cache or AuthCache(0, clock=clock)
        self.signup_ip_max = signup_ip_max
        self.abuse_window = abuse_window
        self.require_verified_email = require_verified_email

    def purge_expired_attempts(self) -> int:
        """Forget the attempt counters (sign-in, sign-up, device codes) whose window has ended,
        so that the table does not grow with every address ever seen; the rows deleted."""
        with self.db.session() as session:
            return self.limiter.purge_expired(session, longest=self.abuse_window)

    # --- creating and finding ----------------------------------------------------

    def create_user(
        self, email: str, password: str | None = None, *, username: str | None = None, verified: bool = False
    ) -> User:
        """A new built-in account. Without a password it can only use API tokens. ``verified``: the
        address is known to be the user's (the administrator made the account)."""
        email = normalize_email(email)
        password_hash = self.passwords.hash(password, user_inputs=(email,)) if password is not None else None
        user = User(
            email=email,
            password_hash=password_hash,
            username=_clean_username(username),
            email_verified_at=self.clock() if verified else None,
        )
        try:
            with self.db.session() as session:
                session.add(user)
        except IntegrityError:
            raise ConflictError(f"an account for {email} already exists; sign in instead") from None
        return user

    def sign_up(self, email: str, password: str, *, client_ip: str) -> User | None:
        """Open sign-up (the /signup page). Counted per client address before any work (429 past
        ``signup_ip_max`` in the window); the new user, or None when the address already has an
        account: the caller answers both the same way, so sign-up does not tell who has one.
        The password is hashed in both cases (the answer takes as long)."""
        with self.db.session() as session:  # committed before the argon2 hash
            self.limiter.counter.hit(
                session,
                f"signup-ip:{client_ip}",
                limit=self.signup_ip_max,
                window=self.abuse_window,
                what="sign-ups from your address",
            )
        try:
            return self.create_user(email, password)
        except ConflictError:
            return None

    def get(self, user_id: uuid.UUID) -> User:
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or user.deleted_at is not None:
                raise NotFoundError("no such user")
            return user

    def by_email(self, email: str) -> User:
        email = normalize_email(email)
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                raise NotFoundError(
                    f"no account for {email}; create it with `mediaenhancer-server users create {email}`"
                )
            return user

    def list_users(self) -> list[tuple[User, str]]:
        """Every user with the id of the plan that applies, oldest first."""
        with self.db.session() as session:
            users = list(session.scalars(select(User).order_by(User.created_at, User.email)))
            return [(user, plan_for_user(session, user.id, now=self.clock())[0].id) for user in users]

    # --- signing in ---------------------------------------------------------------

    def sign_in(self, email: str, password: str, *, client_ip: str) -> Principal:
        """Check a password; throttled per account+address and per address, each attempt counted
        (atomically, in the database) before the argon2 check."""
        try:
            email = normalize_email(email)
        except ValidationError:
            raise InvalidCredentialsError("wrong email or password") from None
        with self.db.session() as session:  # committed before the check: concurrent attempts see it
            self.limiter.acquire(session, email, client_ip)
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email))
            ok = self.passwords.verify_or_waste(user.password_hash if user else None, password)
            failed = not ok or user is None
            if not failed:
                self.limiter.succeeded(session, email, client_ip)
                assert user is not None and user.password_hash is not None
                if self.passwords.needs_rehash(user.password_hash):
                    user.password_hash = self.passwords.rehash(password)
        if failed:
            raise InvalidCredentialsError("wrong email or password")
        assert user is not None
        if user.disabled or user.deleted_at is not None:
            raise AccountDisabledError("this account is disabled; contact the administrator")
        if self.require_verified_email and user.email_verified_at is None:
            raise EmailNotVerifiedError(
                f"confirm {user.email} first: open the link we mailed to it (a new one is on its way)"
            )
        return Principal(user_id=user.id, email=user.email, method="session")

    def set_password(self, user_id: uuid.UUID, password: str) -> None:
        """Set a new password (the administrator's reset): every browser session and API token
        of the account ends with it, since whoever knew the old password may hold them."""
        with self.db.session() as session:
            found = session.get(User, user_id)
            email = found.email if found is not None else ""
        password_hash = self.passwords.hash(password, user_inputs=(email,))
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError("no such user")
            user.password_hash = password_hash
            self._end_access(session, user_id)
        self.cache.forget_user(user_id)

    # --- administration --------------------------------------------------------------

    def disable(self, email: str) -> User:
        """Disable an account: its tokens and browser sessions stop working at once."""
        email = normalize_email(email)
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                raise NotFoundError(f"no account for {email}")
            user.disabled = True
            self._end_access(session, user.id)
        self.cache.forget_user(user.id)
        return user

    def enable(self, email: str) -> User:
        email = normalize_email(email)
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                raise NotFoundError(f"no account for {email}")
            user.disabled = False
        self.cache.forget_user(user.id)
        return user

    def _end_access(self, session: Session, user_id: uuid.UUID) -> None:
        now = self.clock()
        session.execute(
            update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )
        session.execute(delete(WebSession).where(WebSession.user_id == user_id))

    def set_plan(self, email: str, plan_id: str) -> str:
        """Put a user on a plan by hand (no billing): an active subscription without a Stripe
        subscription. The Stripe customer is kept; Stripe subscriptions created before this moment
        no longer change the plan (see billing/state.py), a new one does."""
        email = normalize_email(email)
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                raise NotFoundError(f"no account for {email}")
            plan = get_plan(session, plan_id)
            sub = session.scalar(select(UserSubscription).where(UserSubscription.user_id == user.id))
            if sub is None:
                session.add(UserSubscription(user_id=user.id, plan_id=plan.id, status="active"))
            else:
                sub.plan_id, sub.status, sub.cancel_at_period_end, sub.grace_until = plan.id, "active", False, None
                if sub.stripe_subscription_id is not None:  # detach it: billing ignores it from now on
                    sub.stripe_subscription_id = None
                    sub.current_period_start = sub.current_period_end = None
                    sub.last_event_at = max(self.clock(), sub.last_event_at or self.clock())
        self.cache.forget_profile(user.id)
        return plan.id

    # --- profile -------------------------------------------------------------------------

    def profile(self, user_id: uuid.UUID) -> dict[str, Any]:
        cached = self.cache.profile(user_id)
        if cached is not None:
            return cached
        # One Core query (user, subscription and its plan), not ORM objects: this serves
        # every uncached GET /api/auth/me.
        with self.db.engine.connect() as conn:
            row = conn.execute(_PROFILE, {"user_id": user_id}).first()
            if row is None or row.deleted_at is not None:
                raise NotFoundError("no such user")
            plan = {"id": row.plan_id, "name": row.plan_name}
            if row.plan_id is None or not subscription_grants_plan(
                row.status,
                cancel_at_period_end=row.cancel_at_period_end,
                current_period_end=row.current_period_end,
                grace_until=row.grace_until,
                now=self.clock(),
            ):
                plan = dict(conn.execute(_FREE_PLAN).one()._mapping)
        profile = {
            "id": str(row.id),
            "email": row.email,
            "username": row.username,
            "avatar_url": row.avatar_url,
            "has_password": row.has_password,
            "identity_provider": "clerk" if row.clerk_user_id else None,
            "created_at": row.created_at.isoformat(),
            "plan": plan,
        }
        self.cache.put_profile(user_id, profile)
        return profile

    def cached_profile(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        """The profile if the cache holds it (no database access)."""
        return self.cache.profile(user_id)

    def update_profile(self, user_id: uuid.UUID, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some profile fields; an absent field is kept, null clears it."""
        unknown = sorted(set(changes) - set(PROFILE_FIELDS))
        if unknown:
            raise ValidationError(
                f"{unknown[0]}: not a profile field; you can change {', '.join(PROFILE_FIELDS)}", field=unknown[0]
            )
        values: dict[str, Any] = {}
        if "username" in changes:
            values["username"] = _clean_username(changes["username"])
        if "avatar_url" in changes:
            values["avatar_url"] = _clean_avatar_url(changes["avatar_url"])
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or user.deleted_at is not None:
                raise NotFoundError("no such user")
            for key, value in values.items():
                setattr(user, key, value)
            session.flush()
            plan, _ = plan_for_user(session, user.id, now=self.clock())
            profile = self._profile_dict(user, plan_dict(plan))
        self.cache.forget_profile(user_id)
        return profile

    @staticmethod
    def _profile_dict(user: User, plan: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(user.id),
            "email": user.email,
            "username": user.username,
            "avatar_url": user.avatar_url,
            "has_password": user.password_hash is not None,
            "identity_provider": "clerk" if user.clerk_user_id else None,
            "created_at": user.created_at.isoformat(),
            "plan": {"id": plan["id"], "name": plan["name"]},
        }
