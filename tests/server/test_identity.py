"""The external identity provider: JWTs checked against a JWKS served on loopback, and
Svix-signed Clerk webhooks applied once."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select

from mediaenhancer_core.accounts.identity import sign_svix
from mediaenhancer_core.db.models import ProcessedWebhookEvent, User

ISSUER = "https://clerk.test.example"
AUDIENCE = "mediaenhancer-api"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy0zMi1ieXRlcy1sb25nISE="


class Jwks:
    """A JWKS document served over HTTP on 127.0.0.1, with keys the test controls."""

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps(KeySet(jwks.keys).as_dict(private=False)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    yield served
    served.close()


@pytest.fixture
def settings_env(settings_env: dict[str, str], jwks: Jwks) -> dict[str, str]:
    jwks.keys = jwks.keys[:1]
    return {
        **settings_env,
        "MEDIAENHANCER_CLERK_ISSUER": ISSUER,
        "MEDIAENHANCER_CLERK_AUDIENCE": AUDIENCE,
        "MEDIAENHANCER_CLERK_JWKS_URL": jwks.url,
        "MEDIAENHANCER_CLERK_AUTHORIZED_PARTIES": "https://app.example.com",
        "MEDIAENHANCER_CLERK_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def make_jwt(key: RSAKey, clock, **overrides: Any) -> str:
    now = int(clock().timestamp())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user_abc",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 60,
        "azp": "https://app.example.com",
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- provider JWTs ---------------------------------------------------------------------------


def test_a_valid_provider_jwt_authenticates_the_synced_user(client, core, jwks, clock) -> None:
    user = core.accounts.create_user("synced@example.com")
    with core.db.session() as s:
        s.get(User, user.id).clerk_user_id = "user_abc"
    response = client.get("/api/auth/me", headers=bearer(make_jwt(jwks.keys[0], clock)))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "synced@example.com" and response.json()["auth_method"] == "jwt"


def test_an_unsynced_user_with_an_email_claim_is_created(client, core, jwks, clock) -> None:
    token = make_jwt(jwks.keys[0], clock, sub="user_new", email="New@Example.com")
    assert client.get("/api/auth/me", headers=bearer(token)).json()["email"] == "new@example.com"
    assert (
        client.get("/api/auth/me", headers=bearer(make_jwt(jwks.keys[0], clock, sub="user_unknown"))).status_code == 401
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://other.example"},
        {"aud": "someone-else"},
        {"exp": 1},
        {"exp": None},
        {"nbf": 4102444800},
        {"azp": "https://evil.example"},
    ],
    ids=["issuer", "audience", "expired", "no-exp", "not-yet-valid", "azp"],
)
def test_provider_jwts_with_wrong_claims_are_refused(client, core, jwks, clock, overrides) -> None:
    core.accounts.create_user("claims@example.com")
    with core.db.session() as s:
        s.scalar(select(User).where(User.email == "claims@example.com")).clerk_user_id = "user_abc"
    response = client.get("/api/auth/me", headers=bearer(make_jwt(jwks.keys[0], clock, **overrides)))
    assert response.status_code == 401


def test_a_jwt_signed_by_another_key_is_refused(client, core, jwks, clock) -> None:
    forged_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, different key
    response = client.get("/api/auth/me", headers=bearer(make_jwt(forged_key, clock, email="x@example.com")))
    assert response.status_code == 401


def test_a_rotated_key_is_fetched_once_it_appears(client, core, jwks, clock, monkeypatch) -> None:
    from mediaenhancer_core.accounts import identity

    token = make_jwt(jwks.keys[0], clock, sub="user_rot", email="rot@example.com")
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    fetched = jwks.fetches
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    jwks.keys.append(new_key)
    monkeypatch.setattr(identity, "JWKS_REFRESH_MIN_SECONDS", 0)
    time.sleep(0.01)
    assert client.get("/api/auth/me", headers=bearer(make_jwt(new_key, clock, sub="user_rot"))).status_code == 200
    assert jwks.fetches == fetched + 1
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200  # cached: no new fetch
    assert jwks.fetches == fetched + 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_provider_jwts_are_refused_when_no_provider_is_configured(database, clock, tmp_path, jwks) -> None:
    from argon2.profiles import CHEAPEST
    from starlette.testclient import TestClient

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    settings = Settings.load({"MEDIAENHANCER_DATA_DIR": str(tmp_path), "MEDIAENHANCER_CONFIG_DIR": str(tmp_path)})
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST), clock=clock)
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        token = make_jwt(jwks.keys[0], clock, email="x@example.com")
        assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401
        assert client.post("/api/webhooks/clerk", content=b"{}").status_code == 503


# --- webhooks ---------------------------------------------------------------------------------------


def clerk_event(
    event_type: str, user_id: str = "user_hook", email: str = "hook@example.com", updated_at: int = 1000, **data: Any
) -> dict[str, Any]:
    return {
        "type": event_type,
        "object": "event",
        "data": {
            "id": user_id,
            "object": "user",
            "primary_email_address_id": "idn_1",
            "email_addresses": [{"id": "idn_1", "email_address": email, "verification": {"status": "verified"}}],
            "username": "hooky",
            "image_url": "https://img.clerk.com/a.png",
            "updated_at": updated_at,
            **data,
        },
    }


def deliver(
    client,
    clock,
    event: dict[str, Any],
    *,
    msg_id: str | None = None,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    body: bytes | None = None,
    tamper: bool = False,
):
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    raw = body if body is not None else json.dumps(event).encode()
    ts = timestamp if timestamp is not None else int(clock().timestamp())
    signature = sign_svix(secret, msg_id, ts, raw)
    if tamper:
        raw = raw.replace(b"hook@example.com", b"evil@example.com")
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": f"v1,bm9wZQ== {signature}",
        "Content-Type": "application/json",
    }
    return client.post("/api/webhooks/clerk", content=raw, headers=headers)


def test_user_created_updated_deleted(client, core, clock) -> None:
    assert deliver(client, clock, clerk_event("user.created")).json() == {"status": "processed"}
    with core.db.session() as s:
        user = s.scalar(select(User).where(User.clerk_user_id == "user_hook"))
        assert (user.email, user.username, user.avatar_url) == (
            "hook@example.com",
            "hooky",
            "https://img.clerk.com/a.png",
        )
    updated = clerk_event("user.updated", email="Renamed@Example.com", updated_at=2000, username="renamed")
    assert deliver(client, clock, updated).status_code == 200
    stale = clerk_event("user.updated", email="stale@example.com", updated_at=1500)
    assert deliver(client, clock, stale).json() == {"status": "processed"}  # accepted, but older: no change
    with core.db.session() as s:
        user = s.scalar(select(User).where(User.clerk_user_id == "user_hook"))
        assert (user.email, user.username) == ("renamed@example.com", "renamed")
    _, token = core.tokens.create(user.id, "hook token")
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    deleted = {"type": "user.deleted", "data": {"id": "user_hook", "object": "user", "deleted": True}}
    assert deliver(client, clock, deleted).status_code == 200
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401


def test_redelivery_of_the_same_event_changes_nothing(client, core, clock) -> None:
    event = clerk_event("user.created", user_id="user_dup", email="dup@example.com")
    assert deliver(client, clock, event, msg_id="msg_1").json() == {"status": "processed"}
    with core.db.session() as s:
        s.scalar(select(User).where(User.clerk_user_id == "user_dup")).username = "changed locally"
    assert deliver(client, clock, event, msg_id="msg_1").json() == {"status": "duplicate"}
    with core.db.session() as s:
        assert s.scalar(select(User.username).where(User.clerk_user_id == "user_dup")) == "changed locally"
        assert (
            s.scalar(select(ProcessedWebhookEvent.event_type).where(ProcessedWebhookEvent.event_id == "msg_1"))
            == "user.created"
        )


@pytest.mark.parametrize(
    "how",
    ["tampered", "wrong-secret", "stale", "future", "missing-headers"],
)
def test_bad_signatures_are_400_and_change_nothing(client, core, clock, how) -> None:
    event = clerk_event("user.created", user_id="user_bad", email="hook@example.com")
    if how == "tampered":
        response = deliver(client, clock, event, tamper=True)
    elif how == "wrong-secret":
        response = deliver(client, clock, event, secret="whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlcg==")
    elif how == "stale":
        response = deliver(
            client, clock, event, timestamp=int(clock().timestamp()) - 330
        )  # margin: time passes under load
    elif how == "future":
        response = deliver(client, clock, event, timestamp=int(clock().timestamp()) + 330)
    else:
        response = client.post("/api/webhooks/clerk", content=json.dumps(event).encode())
    assert response.status_code == 400 and response.json()["error"]["code"] == "webhook_signature_invalid"
    with core.db.session() as s:
        assert s.scalar(select(User).where(User.clerk_user_id == "user_bad")) is None
        assert s.scalar(select(ProcessedWebhookEvent)) is None


def test_unknown_events_are_acknowledged_and_ignored(client, clock) -> None:
    response = deliver(client, clock, {"type": "session.created", "data": {"id": "sess_1"}})
    assert response.json() == {"status": "ignored"}


def test_a_verified_provider_email_links_an_existing_built_in_account(client, core, clock) -> None:
    user = core.accounts.create_user("both@example.com", "a long password")
    assert (
        deliver(client, clock, clerk_event("user.created", user_id="user_both", email="both@example.com")).status_code
        == 200
    )
    with core.db.session() as s:
        assert s.get(User, user.id).clerk_user_id == "user_both"
    unverified = clerk_event("user.created", user_id="user_other", email="both@example.com")
    unverified["data"]["email_addresses"][0]["verification"] = {"status": "unverified"}
    assert deliver(client, clock, unverified).status_code == 409


def test_the_servers_clock_and_tolerance_judge_the_svix_timestamp() -> None:
    """The library's own check (wall clock, fixed 5 minutes) does not overrule ours: a delivery
    signed at an injected clock an hour behind, or 10 minutes old with a 15-minute tolerance, is
    accepted; 16 minutes old is not; a tampered body never is."""
    from mediaenhancer_core.accounts.identity import sign_svix, verify_svix_signature
    from mediaenhancer_core.errors import WebhookSignatureError

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = b'{"type":"user.created"}'
    then = datetime.now(UTC) - timedelta(hours=1)
    ts = int(then.timestamp())
    headers = {"svix-id": "msg_1", "svix-timestamp": str(ts), "svix-signature": sign_svix(secret, "msg_1", ts, body)}
    assert verify_svix_signature(secret, headers, body, now=then) == "msg_1"
    assert verify_svix_signature(secret, headers, body, now=then + timedelta(minutes=10), tolerance=900) == "msg_1"
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_svix_signature(secret, headers, body, now=then + timedelta(minutes=16), tolerance=900)
    with pytest.raises(WebhookSignatureError, match="no valid v1 signature"):
        verify_svix_signature(secret, headers, body + b" ", now=then)


def test_an_empty_svix_secret_is_a_clear_error_not_a_crash() -> None:
    from mediaenhancer_core.accounts.identity import verify_svix_signature
    from mediaenhancer_core.errors import WebhookSignatureError

    headers = {"svix-id": "msg_1", "svix-timestamp": "1", "svix-signature": "v1,AAAA"}
    with pytest.raises(WebhookSignatureError, match="empty or not valid base64"):
        verify_svix_signature("whsec_", headers, b"{}", now=datetime.fromtimestamp(1, UTC))
