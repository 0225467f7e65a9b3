"""An external identity provider (Clerk, as in the seed design).

Two optional pieces, each on only when its settings are set:

- :class:`ProviderTokenVerifier` accepts the provider's session JWTs as bearer tokens:
  RS256 signatures checked against the provider's JWKS (fetched over HTTPS, cached, and
  refetched at most every 30 s when a new key id appears), and ``iss``, ``exp``, ``nbf``,
  ``aud`` and ``azp`` checked against settings.
- :class:`ClerkWebhooks` applies ``user.created``, ``user.updated`` and ``user.deleted``
  events to the users table. Each delivery is verified with the Svix scheme on the raw
  body (:func:`verify_svix_signature`), and applied at most once: the event id is
  recorded in ``processed_webhook_events`` in the same transaction as the change.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mediaenhancer_core.accounts.authcache import AuthCache
from mediaenhancer_core.accounts.users import Principal, normalize_email
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import ApiToken, ProcessedWebhookEvent, User, WebSession
from mediaenhancer_core.errors import (
    AccountDisabledError,
    ConflictError,
    ServiceUnavailableError,
    UnauthorizedError,
    ValidationError,
    WebhookSignatureError,
)
from mediaenhancer_core.jsonbody import parse_json

__all__ = [
    "ProviderTokenVerifier",
    "ClerkWebhooks",
    "verify_svix_signature",
    "sign_svix",
    "looks_like_jwt",
    "http_get_json",
    "SVIX_TOLERANCE_SECONDS",
]

SVIX_TOLERANCE_SECONDS = 300
JWKS_TTL_SECONDS = 600
JWKS_REFRESH_MIN_SECONDS = 30
ALGORITHMS = ["RS256"]


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("ey")


def http_get_json(url: str) -> Any:
    """Fetch a JSON document (the JWKS) with a short timeout."""
    import httpx  # noqa: PLC0415 - only servers with a provider configured need it

    try:
        response = httpx.get(url, timeout=5.0, follow_redirects=False)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailableError(f"cannot fetch the identity provider's keys from {url} ({exc})") from None


# --- provider JWTs -------------------------------------------------------------------


class ProviderTokenVerifier:
    def __init__(
        self,
        db: Database,
        *,
        issuer: str,
        jwks_url: str,
        audience: str | None = None,
        authorized_parties: tuple[str, ...] = (),
        fetch_json: Callable[[str], Any] = http_get_json,
        clock: Callable[[], datetime],
        leeway: int = 5,
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.audience = audience
        self.authorized_parties = authorized_parties
        self.fetch_json = fetch_json
        self.clock = clock
        self.leeway = leeway
        self._keys: Any = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _key_set(self, kid: str | None) -> Any:
        from joserfc.jwk import KeySet  # noqa: PLC0415

        with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = self._keys is None or age > JWKS_TTL_SECONDS
            unknown_kid = kid is not None and self._keys is not None and all(k.kid != kid for k in self._keys.keys)
            if stale or (unknown_kid and age > JWKS_REFRESH_MIN_SECONDS):
                document = self.fetch_json(self.jwks_url)
                try:
                    self._keys = KeySet.import_key_set(document)
                except (ValueError, TypeError, KeyError) as exc:
                    raise ServiceUnavailableError(f"the identity provider's JWKS is not valid ({exc})") from None
                self._fetched_at = time.monotonic()
            return self._keys

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid provider token; UnauthorizedError otherwise."""
        from joserfc import jwt  # noqa: PLC0415 - lazy: only with a provider configured
        from joserfc.errors import JoseError  # noqa: PLC0415

        try:
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            kid = header.get("kid") if isinstance(header, dict) else None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise UnauthorizedError("malformed token") from None
        keys = self._key_set(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise UnauthorizedError(f"identity provider token rejected ({exc.__class__.__name__})") from None
        claims = decoded.claims
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if self.audience:
            options["aud"] = {"essential": True, "value": self.audience}
        registry = jwt.JWTClaimsRegistry(now=int(self.clock().timestamp()), leeway=self.leeway, **options)
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise UnauthorizedError(f"identity provider token rejected ({exc.__class__.__name__}: {exc})") from None
        if self.authorized_parties and claims.get("azp") not in self.authorized_parties:
            raise UnauthorizedError("identity provider token rejected (azp is not an allowed origin)")
        return dict(claims)

    def authenticate(self, token: str) -> Principal:
        """The principal of a provider token: the user synced for its ``sub``.

        A user the webhook has not created yet is created here when the token carries
        an ``email`` claim (a Clerk JWT template can add it); otherwise 401.
        """
        claims = self.verify(token)
        subject = str(claims["sub"])
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.clerk_user_id == subject))
            if user is None:
                email = claims.get("email")
                if not isinstance(email, str):
                    raise UnauthorizedError("unknown user: the identity provider has not synced this account yet")
                user = _link_or_create(session, subject, normalize_email(email), verified=True)
            if user.deleted_at is not None:
                raise UnauthorizedError("this account no longer exists")
            if user.disabled:
                raise AccountDisabledError("this account is disabled; contact the administrator")
            return Principal(user_id=user.id, email=user.email, method="jwt")


def _link_or_create(session: Session, clerk_id: str, email: str, *, verified: bool) -> User:
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None:
        if existing.clerk_user_id not in (None, clerk_id):
            raise ConflictError(f"{email} already belongs to another identity-provider user")
        if not verified:
            raise ConflictError(f"{email} has a built-in account and is not verified by the identity provider")
        existing.clerk_user_id = clerk_id
        return existing
    user = User(email=email, clerk_user_id=clerk_id)
    session.add(user)
    session.flush()
    return user


# --- Svix-signed webhooks ---------------------------------------------------------------


def _webhook(secret: str) -> Any:
    """The Standard Webhooks verifier (``standardwebhooks``, the library behind Svix's scheme)."""
    from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook  # noqa: PLC0415 - only deliveries need it

    raw = secret.removeprefix("whsec_")
    try:
        base64.b64decode(raw, validate=True)
        return Webhook(secret)
    except (binascii.Error, ValueError, RuntimeError, EmptyWebhookSecretError) as exc:
        raise WebhookSignatureError(
            "the webhook secret is empty or not valid base64 after 'whsec_'; copy it again"
        ) from exc


def sign_svix(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``svix-signature`` header value for a message (used by tests and tools)."""
    return str(_webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body))


def verify_svix_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: int = SVIX_TOLERANCE_SECONDS,
) -> str:
    """Check a Svix delivery on its raw bytes; return its message id. Raise WebhookSignatureError.

    The expected signature is computed by ``standardwebhooks`` (Svix's headers are Standard
    Webhooks' under another prefix) and compared in constant time with each one sent; the timestamp
    is judged by this server's clock (``now``) and ``tolerance``, not the library's fixed 5 minutes."""

    msg_id = headers.get("svix-id")
    timestamp = headers.get("svix-timestamp")
    signatures = headers.get("svix-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookSignatureError("missing svix-id, svix-timestamp or svix-signature header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookSignatureError("svix-timestamp is not a number") from None
    if abs(now.timestamp() - ts) > tolerance:
        raise WebhookSignatureError("svix-timestamp is too old or in the future (replayed or clock skew)")
    expected = _webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, UTC), body).encode()
    if not any(hmac.compare_digest(expected, sent.encode()) for sent in signatures.split(" ")):
        raise WebhookSignatureError("no valid v1 signature for this body")
    return msg_id


class ClerkWebhooks:
    HANDLED = ("user.created", "user.updated", "user.deleted")

    def __init__(
        self, db: Database, *, secret: str, clock: Callable[[], datetime], cache: AuthCache | None = None
    ) -> None:
        self.db = db
        self.secret = secret
        self.clock = clock
        self.cache = cache or AuthCache(0, clock=clock)

    def handle(self, headers: Mapping[str, str], body: bytes) -> str:
        """Verify and apply one delivery: 'processed', 'duplicate' or 'ignored'."""
        msg_id = verify_svix_signature(self.secret, headers, body, now=self.clock())
        event = parse_json(body)  # depth, text and numbers checked: 422, never a 500
        try:
            event_type = str(event["type"])
            data = event["data"]
            if not isinstance(data, dict):
                raise TypeError("data is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"webhook body is not a Clerk event ({exc})", field="body") from None
        try:
            with self.db.session() as session:
                session.add(ProcessedWebhookEvent(provider="clerk", event_id=msg_id, event_type=event_type[:100]))
                session.flush()
                if event_type not in self.HANDLED:
                    return "ignored"
                user_id: uuid.UUID | None
                if event_type == "user.deleted":
                    user_id = self._delete(session, data)
                else:
                    user_id = self._upsert(session, data)
        except IntegrityError:
            with self.db.session() as session:
                seen = session.get(ProcessedWebhookEvent, ("clerk", msg_id))
            if seen is not None:
                return "duplicate"
            raise
        if user_id is not None:
            self.cache.forget_user(user_id)
        return "processed"

    def _upsert(self, session: Session, data: dict[str, Any]) -> uuid.UUID | None:
        clerk_id = data.get("id")
        if not isinstance(clerk_id, str) or not clerk_id:
            raise ValidationError("data.id: missing user id", field="data.id")
        email, verified = _primary_email(data)
        updated_at = _ms_to_datetime(data.get("updated_at"))
        user = session.scalar(select(User).where(User.clerk_user_id == clerk_id))
        if user is None:
            if email is None:
                raise ValidationError(
                    "data.email_addresses: the user has no primary email", field="data.email_addresses"
                )
            user = _link_or_create(session, clerk_id, email, verified=verified)
        elif updated_at is not None and user.idp_updated_at is not None and updated_at <= user.idp_updated_at:
            return None  # an older update delivered late: keep the newer state
        elif email is not None and email != user.email:
            if session.scalar(select(User.id).where(User.email == email, User.id != user.id)) is not None:
                raise ConflictError(f"{email} already belongs to another account")
            user.email = email
        username = data.get("username") or " ".join(
            str(p) for p in (data.get("first_name"), data.get("last_name")) if p
        )
        user.username = (str(username)[:100] or None) if username else user.username
        if isinstance(data.get("image_url"), str) and data["image_url"].startswith("https://"):
            user.avatar_url = data["image_url"][:2048]
        if updated_at is not None:
            user.idp_updated_at = updated_at
        user.deleted_at = None
        return user.id

    def _delete(self, session: Session, data: dict[str, Any]) -> uuid.UUID | None:
        clerk_id = data.get("id")
        if not isinstance(clerk_id, str):
            return None
        user = session.scalar(select(User).where(User.clerk_user_id == clerk_id))
        if user is None:
            return None
        now = self.clock()
        user.deleted_at = now
        user.disabled = True
        session.execute(
            update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        return user.id


def _primary_email(data: dict[str, Any]) -> tuple[str | None, bool]:
    primary = data.get("primary_email_address_id")
    for entry in data.get("email_addresses") or []:
        if isinstance(entry, dict) and entry.get("id") == primary and isinstance(entry.get("email_address"), str):
            verification = entry.get("verification") or {}
            verified = isinstance(verification, dict) and verification.get("status") == "verified"
            return normalize_email(entry["email_address"]), verified
    return None, False


def _ms_to_datetime(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 253_402_300_799_000:  # up to 9999-12-31: 1e20 is refused (422), not a 500
            raise ValidationError(f"timestamp {value!r} is out of range", field="data.updated_at")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None
