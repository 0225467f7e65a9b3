"""Billing through the API, with the official stripe library talking to a local stand-in:
plans, the current subscription, checkout (customer once, the session's parameters),
cancel and resume, the billing portal, and Stripe's errors. Both databases."""

from __future__ import annotations

import pytest

from .billing_support import deliver, row_of, subscribe

pytestmark = pytest.mark.usefixtures("billing_env")


def test_plans_are_public_with_prices_in_cents_and_the_quota_limits(client) -> None:
    plans = {p["id"]: p for p in client.get("/api/subscriptions/plans").json()["plans"]}
    gib = 1024**3
    assert [(p["id"], p["price_cents"], p["interval"]) for p in plans.values()] == [
        ("starter", 0, "month"),
        ("creator", 1499, "month"),
        ("professional", 4999, "month"),
    ]
    assert plans["starter"]["limits"] == {
        "storage_bytes": 5 * gib,
        "projects": 10,
        "exports_per_month": 50,
        "media_duration_seconds": 300,
    }
    assert plans["creator"]["limits"] == {
        "storage_bytes": 50 * gib,
        "projects": 100,
        "exports_per_month": 500,
        "media_duration_seconds": 1800,
    }
    assert plans["professional"]["limits"] == {
        "storage_bytes": 500 * gib,
        "projects": None,
        "exports_per_month": None,
        "media_duration_seconds": 7200,
    }


def test_a_new_user_is_on_starter_with_no_subscription(client, make_account) -> None:
    account = make_account()
    current = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert current["plan"]["id"] == "starter" and current["status"] == "none"
    assert current["subscription"] is None and current["period"] is None
    assert current["limits"]["projects"] == 10 and current["billing_configured"] is True


def test_checkout_creates_the_customer_once_and_a_subscription_session_tied_to_the_user(
    client, core, make_account, standin
) -> None:
    account = make_account("payer@example.com")
    first = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=account.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["url"].startswith(standin.url + "/c/pay/cs_test_") and body["plan"] == {
        "id": "creator",
        "name": "Creator",
    }

    [customer_call] = standin.calls("POST", "/v1/customers")
    assert customer_call.params == {"email": "payer@example.com", "metadata": {"user_id": str(account.id)}}
    assert customer_call.idempotency_key == f"mediaenhancer-customer-{account.id}"
    assert customer_call.api_key == standin.api_key
    [session_call] = standin.calls("POST", "/v1/checkout/sessions")
    p = session_call.params
    customer_id = row_of(core, account.id).stripe_customer_id
    assert customer_id == next(iter(standin.customers))
    assert p["mode"] == "subscription" and p["customer"] == customer_id
    assert p["client_reference_id"] == str(account.id)
    assert p["line_items"] == [{"price": "price_creator", "quantity": "1"}]
    assert p["metadata"] == {"user_id": str(account.id), "plan": "creator"}
    assert p["subscription_data"] == {"metadata": {"user_id": str(account.id), "plan": "creator"}}
    assert p["success_url"] == "http://testserver/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    assert p["cancel_url"] == "http://testserver/checkout/canceled"

    # the user went back without paying, then tries Professional: same customer, a new session
    again = client.post("/api/subscriptions/checkout", json={"plan": "professional"}, headers=account.headers)
    assert again.status_code == 200
    assert len(standin.calls("POST", "/v1/customers")) == 1
    assert standin.calls("POST", "/v1/checkout/sessions")[-1].params["customer"] == customer_id
    # nothing paid yet: still Starter
    assert client.get("/api/subscriptions/current", headers=account.headers).json()["plan"]["id"] == "starter"


def test_checkout_urls_follow_public_url(settings_env, billing_env, database, clock, standin) -> None:
    from starlette.testclient import TestClient

    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    settings = Settings.load({**billing_env, "MEDIAENHANCER_PUBLIC_URL": "https://media.example.com"})
    core = Core.open(settings, db=database, clock=clock)
    user = core.accounts.create_user("public@example.com")
    _, token = core.tokens.create(user.id, "t")
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        answer = client.post(
            "/api/subscriptions/checkout", json={"plan": "creator"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
        portal = client.post("/api/subscriptions/portal", headers={"Authorization": f"Bearer {token}"})
        assert portal.status_code == 200
    params = standin.calls("POST", "/v1/checkout/sessions")[0].params
    assert params["success_url"] == "https://media.example.com/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    assert params["cancel_url"] == "https://media.example.com/checkout/canceled"
    assert (
        standin.calls("POST", "/v1/billing_portal/sessions")[0].params["return_url"]
        == "https://media.example.com/pricing"
    )


def test_paying_moves_the_user_to_the_plan_with_its_period_and_limits(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account, "creator")
    current = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert current["plan"]["id"] == "creator" and current["status"] == "active"
    assert current["limits"]["storage_bytes"] == 50 * 1024**3
    assert (
        current["subscription"]["managed_by"] == "stripe" and current["subscription"]["cancel_at_period_end"] is False
    )
    item = sub["items"]["data"][0]
    assert current["period"]["end"].startswith(_iso_day(item["current_period_end"]))
    row = row_of(core, account.id)
    assert row.stripe_subscription_id == sub["id"] and row.stripe_customer_id == sub["customer"]
    # the profile and usage agree (the auth cache was told)
    assert client.get("/api/auth/me", headers=account.headers).json()["plan"]["id"] == "creator"
    usage = client.get("/api/users/usage", headers=account.headers).json()
    assert usage["plan"]["id"] == "creator" and usage["projects"]["limit"] == 100
    assert usage["period"]["end"].startswith(_iso_day(item["current_period_end"]))


def _iso_day(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def test_a_subscriber_cannot_check_out_again_but_is_sent_to_the_portal(client, make_account, standin) -> None:
    account = make_account()
    subscribe(client, standin, account, "creator")
    same = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=account.headers)
    assert same.status_code == 409 and "already subscribe to Creator" in same.json()["error"]["message"]
    other = client.post("/api/subscriptions/checkout", json={"plan": "professional"}, headers=account.headers)
    assert other.status_code == 409 and "billing portal" in other.json()["error"]["message"]
    assert len(standin.calls("POST", "/v1/checkout/sessions")) == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "text"),
    [
        ({"plan": "starter"}, 422, "validation_failed", "Starter is free"),
        ({"plan": "platinum"}, 404, "not_found", "starter, creator, professional"),
        ({}, 422, "validation_failed", "plan: required"),
        ({"plan": "creator", "coupon": "x"}, 422, "validation_failed", "unknown field"),
    ],
)
def test_checkout_refuses_bad_plans(client, make_account, standin, body, status, code, text) -> None:
    account = make_account()
    answer = client.post("/api/subscriptions/checkout", json=body, headers=account.headers)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert text in answer.json()["error"]["message"]
    assert standin.calls("POST") == []


def test_cancel_at_period_end_keeps_the_plan_and_resume_undoes_it(client, core, make_account, standin, clock) -> None:
    account = make_account()
    sub = subscribe(client, standin, account, "professional")
    canceled = client.post("/api/subscriptions/cancel", headers=account.headers)
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["subscription"]["cancel_at_period_end"] is True
    assert canceled.json()["plan"]["id"] == "professional"  # until the period ends
    [update] = standin.calls("POST", f"/v1/subscriptions/{sub['id']}")
    assert update.params == {"cancel_at_period_end": "true"}
    assert standin.subscriptions[sub["id"]]["cancel_at_period_end"] is True

    resumed = client.post("/api/subscriptions/resume", headers=account.headers)
    assert resumed.status_code == 200 and resumed.json()["subscription"]["cancel_at_period_end"] is False
    assert standin.calls("POST", f"/v1/subscriptions/{sub['id']}")[-1].params == {"cancel_at_period_end": "false"}

    # canceled again and the period ends before Stripe's deletion event arrives: the free plan applies
    client.post("/api/subscriptions/cancel", headers=account.headers)
    end = row_of(core, account.id).current_period_end
    clock.advance((end - clock()).total_seconds() + 1)
    after = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert after["plan"]["id"] == "starter" and after["subscription"]["plan"]["id"] == "professional"
    # then Stripe ends it
    ended = standin.set_subscription(sub["id"], status="canceled", ended_at=standin.now())
    assert (
        deliver(client, standin, standin.event("customer.subscription.deleted", ended)).json()["status"] == "processed"
    )
    assert client.get("/api/subscriptions/current", headers=account.headers).json()["status"] == "canceled"
    gone = client.post("/api/subscriptions/resume", headers=account.headers)
    assert gone.status_code == 404 and "has ended" in gone.json()["error"]["message"]


def test_cancel_without_a_paid_subscription_is_404_and_calls_nobody(client, core, make_account, standin) -> None:
    account = make_account("free@example.com")
    answer = client.post("/api/subscriptions/cancel", headers=account.headers)
    assert answer.status_code == 404 and "free plan" in answer.json()["error"]["message"]
    core.accounts.set_plan("free@example.com", "creator")
    by_hand = client.post("/api/subscriptions/cancel", headers=account.headers)
    assert by_hand.status_code == 404 and "administrator" in by_hand.json()["error"]["message"]
    assert standin.requests == []


def test_the_billing_portal_opens_for_the_users_customer(client, make_account, standin) -> None:
    account = make_account()
    none_yet = client.post("/api/subscriptions/portal", headers=account.headers)
    assert none_yet.status_code == 404 and "subscribe to a plan first" in none_yet.json()["error"]["message"]
    sub = subscribe(client, standin, account)
    portal = client.post("/api/subscriptions/portal", headers=account.headers)
    assert portal.status_code == 200 and portal.json()["url"].startswith(standin.url + "/p/session/bps_")
    [call] = standin.calls("POST", "/v1/billing_portal/sessions")
    assert call.params == {"customer": sub["customer"], "return_url": "http://testserver/pricing"}


def test_one_users_subscription_is_not_anothers(client, make_account, standin) -> None:
    ann, bob = make_account(), make_account()
    subscribe(client, standin, ann, "creator")
    assert client.get("/api/subscriptions/current", headers=bob.headers).json()["plan"]["id"] == "starter"
    assert client.post("/api/subscriptions/cancel", headers=bob.headers).status_code == 404
    assert client.post("/api/subscriptions/portal", headers=bob.headers).status_code == 404


# --- Stripe's errors ------------------------------------------------------------------------------


def test_a_rejected_key_is_a_503_that_names_the_setting(client, make_account, standin) -> None:
    account = make_account()
    standin.api_key = "sk_test_rotated"  # the server still has the old one
    answer = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=account.headers)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "billing_provider_error"
    assert "MEDIAENHANCER_STRIPE_SECRET_KEY" in answer.json()["error"]["message"]
    assert standin.api_key not in answer.text


def test_an_unknown_price_is_a_503_that_names_the_price(client, make_account, standin) -> None:
    account = make_account()
    del standin.prices["price_professional"]
    answer = client.post("/api/subscriptions/checkout", json={"plan": "professional"}, headers=account.headers)
    assert answer.status_code == 503
    assert "No such price: 'price_professional'" in answer.json()["error"]["message"]


def test_a_stripe_outage_is_a_503_and_nothing_is_stored(client, core, make_account, standin) -> None:
    account = make_account()
    standin.fail_next(500)
    answer = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=account.headers)
    assert answer.status_code == 503 and "HTTP 500" in answer.json()["error"]["message"]
    assert row_of(core, account.id) is None


def test_stripe_unreachable_is_a_503(settings_env, billing_env, database, clock, standin) -> None:
    from starlette.testclient import TestClient

    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    from .conftest import free_port

    settings = Settings.load({**billing_env, "MEDIAENHANCER_STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"})
    core = Core.open(settings, db=database, clock=clock)
    user = core.accounts.create_user("offline@example.com")
    _, token = core.tokens.create(user.id, "t")
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        answer = client.post(
            "/api/subscriptions/checkout", json={"plan": "creator"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 503 and "cannot reach Stripe" in answer.json()["error"]["message"]


def test_a_retried_customer_creation_makes_one_customer(settings_env, billing_env, database, clock, standin) -> None:
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings

    # the library retries a 500 with the same Idempotency-Key; Stripe answers the first result again
    core = Core.open(
        Settings.load({**billing_env, "MEDIAENHANCER_STRIPE_MAX_NETWORK_RETRIES": "1"}), db=database, clock=clock
    )
    user = core.accounts.create_user("retry@example.com")
    standin.fail_next(500)
    result = core.billing.checkout(user.id, "creator", base_url="http://testserver")
    customers = standin.calls("POST", "/v1/customers")
    assert len(customers) == 2 and customers[0].idempotency_key == customers[1].idempotency_key
    assert len(standin.customers) == 1 and result["url"]
