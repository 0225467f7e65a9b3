"""Validly signed webhooks whose bodies no real provider sends (issue 12): 100 000 levels of
JSON nesting, and timestamps of 1e20 (in the event, and in the Stripe-Signature header). Each is
a 4xx with a JSON error body, and nothing is recorded. Both databases."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from mediaenhancer_core.accounts.identity import sign_svix
from mediaenhancer_core.db.models import ProcessedWebhookEvent, User

from .stripe_standin import sign

DEEP = b"[" * 100_000 + b"]" * 100_000
CLERK_SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env["MEDIAENHANCER_CLERK_WEBHOOK_SECRET"] = CLERK_SECRET
    settings_env["MEDIAENHANCER_STRIPE_WEBHOOK_SECRET"] = "whsec_" + "s" * 32
    return settings_env


def _recorded(core) -> tuple[int, int]:
    with core.db.session() as session:
        events = session.scalar(select(func.count()).select_from(ProcessedWebhookEvent)) or 0
        users = session.scalar(select(func.count()).select_from(User)) or 0
    return events, users


def _stripe(client, body: bytes, timestamp: int | None = None):
    headers = {"Stripe-Signature": sign(body, "whsec_" + "s" * 32, timestamp), "Content-Type": "application/json"}
    return client.post("/api/webhooks/stripe", content=body, headers=headers)


def _clerk(client, body: bytes):
    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = int(time.time())
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": sign_svix(CLERK_SECRET, msg_id, ts, body),
        "Content-Type": "application/json",
    }
    return client.post("/api/webhooks/clerk", content=body, headers=headers)


def _stripe_event(created: object) -> bytes:
    return json.dumps(
        {
            "id": "evt_big",
            "type": "customer.subscription.updated",
            "created": created,
            "data": {"object": {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active"}},
        }
    ).encode()


def _clerk_event(updated_at: object) -> bytes:
    return json.dumps(
        {
            "type": "user.updated",
            "data": {
                "id": "user_big",
                "primary_email_address_id": "e1",
                "updated_at": updated_at,
                "email_addresses": [
                    {"id": "e1", "email_address": "big@example.com", "verification": {"status": "verified"}}
                ],
            },
        }
    ).encode()


def _assert_4xx(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.json()["error"]["code"]


def test_signed_deeply_nested_bodies_are_4xx(client, core) -> None:
    before = _recorded(core)
    _assert_4xx(_stripe(client, DEEP))
    _assert_4xx(_clerk(client, DEEP))
    assert _recorded(core) == before


def test_signed_events_with_timestamps_of_1e20_are_4xx(client, core) -> None:
    before = _recorded(core)
    _assert_4xx(_stripe(client, _stripe_event(10**20)))
    _assert_4xx(_stripe(client, _stripe_event(1e20)))
    _assert_4xx(_clerk(client, _clerk_event(10**20)))
    assert _recorded(core) == before


def test_a_stripe_signature_stamped_1e20_is_refused(client, core) -> None:
    before = _recorded(core)
    response = _stripe(client, _stripe_event(int(time.time())), timestamp=10**20)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert _recorded(core) == before
