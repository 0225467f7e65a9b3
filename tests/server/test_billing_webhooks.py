"""POST /api/webhooks/stripe: signatures checked on the raw body exactly as Stripe signs them,
each event applied at most once, older events never overwriting newer state (a property
test over every delivery order), and each handled event type. Both databases."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mediaenhancer_core.db.models import ProcessedWebhookEvent

from .billing_support import deliver, facts, row_of, subscribe
from .stripe_standin import MONTH, sign

pytestmark = pytest.mark.usefixtures("billing_env")


def _events_recorded(core) -> int:
    with core.db.session() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(ProcessedWebhookEvent)
                .where(ProcessedWebhookEvent.provider == "stripe")
            )
            or 0
        )


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


# --- signatures -----------------------------------------------------------------------------------


def _tampered(standin, event):
    body, headers = standin.signed(event)
    return body.replace(b'"past_due"', b'"active"'), headers


def _wrong_secret(standin, event):
    return standin.signed(event, secret="whsec_" + "w" * 32)


def _stale(standin, event):
    return standin.signed(event, timestamp=standin.now() - 301)  # the tolerance is 300 s


def _missing(standin, event):
    body, headers = standin.signed(event)
    del headers["Stripe-Signature"]
    return body, headers


def _garbage(standin, event):
    body, headers = standin.signed(event)
    headers["Stripe-Signature"] = "t=yesterday,v1=nothing"
    return body, headers


def _no_v1(standin, event):
    body, headers = standin.signed(event)
    headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("v1=", "v0=")
    return body, headers


def _other_body(standin, event):
    other = copy.deepcopy(event)
    other["id"] = "evt_other"
    body, _ = standin.signed(other)
    _, headers = standin.signed(event)
    return body, headers


@pytest.mark.parametrize(
    "forge",
    [_tampered, _wrong_secret, _stale, _missing, _garbage, _no_v1, _other_body],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_bad_signature_is_400_and_changes_nothing(client, core, make_account, standin, forge) -> None:
    account = make_account()
    sub = subscribe(client, standin, account)
    before, recorded = facts(core), _events_recorded(core)
    event = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], status="past_due"),
        created=standin.now() + 5,
    )
    body, headers = forge(standin, event)
    answer = client.post("/api/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "webhook_signature_invalid"
    assert facts(core) == before and _events_recorded(core) == recorded
    # the genuine delivery still works
    assert deliver(client, standin, event).json() == {"status": "processed"}
    assert row_of(core, account.id).status == "past_due"


def test_the_signature_is_checked_on_the_raw_bytes(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account)
    event = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], status="past_due"),
        created=standin.now() + 5,
    )
    pretty = json.dumps(event, indent=2).encode()
    compact = json.dumps(event, separators=(",", ":")).encode()  # the same JSON, other bytes
    headers = {"Stripe-Signature": sign(pretty, standin.webhook_secret), "Content-Type": "application/json"}
    assert client.post("/api/webhooks/stripe", content=compact, headers=headers).status_code == 400
    assert client.post("/api/webhooks/stripe", content=pretty, headers=headers).status_code == 200


def test_without_a_webhook_secret_the_route_answers_503(settings_env, database, clock) -> None:
    from starlette.testclient import TestClient

    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    env = {k: v for k, v in settings_env.items() if k != "MEDIAENHANCER_STRIPE_WEBHOOK_SECRET"}
    core = Core.open(Settings.load(env), db=database, clock=clock)
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        answer = client.post("/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"})
    assert answer.status_code == 503 and "MEDIAENHANCER_STRIPE_WEBHOOK_SECRET" in answer.json()["error"]["message"]


def test_a_signed_body_that_is_not_an_event_is_422(client, standin) -> None:
    body = b'{"hello": "world"}'
    answer = client.post(
        "/api/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body, standin.webhook_secret)}
    )
    assert answer.status_code == 422


# --- at most once, in order -------------------------------------------------------------------------


def test_a_replayed_event_is_applied_once(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account)
    event = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], cancel_at_period_end=True),
        created=standin.now() + 5,
    )
    assert deliver(client, standin, event).json() == {"status": "processed"}
    after_first, recorded = facts(core), _events_recorded(core)
    for _ in range(2):
        again = deliver(client, standin, event)  # Stripe redelivers with a new timestamp and signature
        assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert facts(core) == after_first and _events_recorded(core) == recorded


def test_an_older_event_never_overwrites_newer_state(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account)
    t = standin.now() + 10
    older = standin.event(
        "customer.subscription.updated", standin.set_subscription(sub["id"], status="past_due"), created=t
    )
    newer = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], status="active", price="price_professional"),
        created=t + 60,
    )
    assert deliver(client, standin, newer).json()["status"] == "processed"
    assert deliver(client, standin, older).json()["status"] == "stale"
    row = row_of(core, account.id)
    assert (row.status, row.plan_id, row.last_event_at) == ("active", "professional", _at(t + 60))


def test_events_of_the_same_second_are_settled_by_reading_stripe(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account)
    t = standin.now() + 10
    first = standin.event(
        "customer.subscription.updated", standin.set_subscription(sub["id"], status="past_due"), created=t
    )
    second = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], status="active", cancel_at_period_end=True),
        created=t,
    )
    reads = len(standin.calls("GET", f"/v1/subscriptions/{sub['id']}"))
    assert deliver(client, standin, second).json()["status"] == "processed"
    assert deliver(client, standin, first).json()["status"] == "processed"  # a tie: Stripe is asked
    assert len(standin.calls("GET", f"/v1/subscriptions/{sub['id']}")) == reads + 1
    row = row_of(core, account.id)
    assert (row.status, row.cancel_at_period_end) == ("active", True)


def test_a_failure_while_applying_records_nothing_and_the_redelivery_applies(
    client, core, make_account, standin
) -> None:
    account = make_account()
    sub = subscribe(client, standin, account)
    standin.set_subscription(sub["id"], status="past_due")
    event = standin.event("invoice.payment_failed", standin.invoice(sub, paid=False), created=standin.now() + 5)
    recorded = _events_recorded(core)
    standin.fail_next(500)  # reading the invoice's subscription fails
    failed = deliver(client, standin, event)
    assert failed.status_code == 503 and _events_recorded(core) == recorded
    assert row_of(core, account.id).status == "active"
    assert deliver(client, standin, event).json() == {"status": "processed"}  # Stripe retries later
    assert row_of(core, account.id).status == "past_due"


@given(data=st.data())
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_delivery_order_ends_in_the_state_of_the_newest_event(core, standin, data) -> None:
    user = core.accounts.create_user(f"order-{standin.new_id('u')}@example.com")
    customer = standin._create_customer({"email": user.email, "metadata": {"user_id": str(user.id)}})["id"]
    base = standin.now()
    sub = standin.make_subscription(customer, "price_creator", metadata={"user_id": str(user.id)}, created=base)
    count = data.draw(st.integers(min_value=1, max_value=6), label="events")
    events, snapshots, created = [], [], base
    for i in range(count):
        created += data.draw(st.sampled_from([0, 1, 7, 3600]), label="gap")  # 0: same second as the one before
        state = {
            "status": data.draw(st.sampled_from(["active", "trialing", "past_due", "canceled", "unpaid"])),
            "price": data.draw(st.sampled_from(["price_creator", "price_professional"])),
            "cancel_at_period_end": data.draw(st.booleans()),
            "current_period_start": base + data.draw(st.integers(0, 3)) * MONTH,
        }
        state["current_period_end"] = state["current_period_start"] + MONTH
        snapshot = standin.set_subscription(sub["id"], **state)
        if data.draw(st.booleans(), label="old API shape"):  # period on the subscription, not on its item
            item = snapshot["items"]["data"][0]
            snapshot["current_period_start"] = item.pop("current_period_start")
            snapshot["current_period_end"] = item.pop("current_period_end")
        kind = (
            "customer.subscription.deleted"
            if state["status"] == "canceled"
            else ("customer.subscription.created" if i == 0 else "customer.subscription.updated")
        )
        events.append(standin.event(kind, snapshot, created=created))
        snapshots.append(state)
    order = data.draw(st.permutations(events), label="delivery order")
    replays = data.draw(st.lists(st.sampled_from(events), max_size=3), label="replays")
    for event in [*order, *replays]:
        body, headers = standin.signed(event)
        assert core.billing.webhooks.handle(body, headers["Stripe-Signature"]) in ("processed", "stale", "duplicate")

    newest = snapshots[-1]  # what Stripe holds now (the stand-in answers it when a tie is settled)
    row = row_of(core, user.id)
    assert row.stripe_subscription_id == sub["id"]
    assert row.status == newest["status"]
    assert row.plan_id == ("creator" if newest["price"] == "price_creator" else "professional")
    assert row.cancel_at_period_end == newest["cancel_at_period_end"]
    assert row.current_period_start == _at(newest["current_period_start"])
    assert row.current_period_end == _at(newest["current_period_end"])
    assert row.last_event_at == _at(created)


# --- each event type ---------------------------------------------------------------------------------


def test_checkout_session_completed_alone_subscribes_the_user(client, core, make_account, standin) -> None:
    account = make_account()
    checkout = client.post("/api/subscriptions/checkout", json={"plan": "professional"}, headers=account.headers).json()
    events = standin.complete_checkout(checkout["id"])
    completed = next(e for e in events if e["type"] == "checkout.session.completed")
    assert deliver(client, standin, completed).json() == {"status": "processed"}  # the others were lost
    row = row_of(core, account.id)
    assert (row.plan_id, row.status) == ("professional", "active")
    assert row.stripe_subscription_id == standin.sessions[checkout["id"]]["subscription"]


def test_payment_failed_keeps_the_plan_for_the_grace_period_then_paid_restores_it(
    client, core, make_account, standin, clock
) -> None:
    account = make_account()
    sub = subscribe(client, standin, account, "creator")
    period_start = standin.now() + 60
    standin.set_subscription(
        sub["id"], status="past_due", current_period_start=period_start, current_period_end=period_start + MONTH
    )
    failed = standin.event("invoice.payment_failed", standin.invoice(sub, paid=False), created=standin.now() + 60)
    assert deliver(client, standin, failed).json() == {"status": "processed"}
    row = row_of(core, account.id)
    grace_until = _at(period_start) + timedelta(days=core.settings.past_due_grace_days)
    assert (row.status, row.grace_until) == ("past_due", grace_until)
    current = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert current["plan"]["id"] == "creator" and current["subscription"]["grace_until"] == grace_until.isoformat()

    clock.advance((grace_until - clock()).total_seconds() + 1)
    late = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert late["plan"]["id"] == "starter" and late["status"] == "past_due"
    assert client.get("/api/users/usage", headers=account.headers).json()["plan"]["id"] == "starter"

    standin.set_subscription(sub["id"], status="active")
    paid = standin.event("invoice.paid", standin.invoice(sub, paid=True), created=standin.now() + 120)
    assert deliver(client, standin, paid).json() == {"status": "processed"}
    row = row_of(core, account.id)
    assert (row.status, row.grace_until, row.plan_id) == ("active", None, "creator")
    assert client.get("/api/subscriptions/current", headers=account.headers).json()["plan"]["id"] == "creator"


def test_a_plan_change_in_the_portal_follows_the_price(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account, "creator")
    upgraded = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], price="price_professional"),
        created=standin.now() + 5,
    )
    deliver(client, standin, upgraded)
    assert row_of(core, account.id).plan_id == "professional"
    unknown = standin.event(
        "customer.subscription.updated",
        standin.set_subscription(sub["id"], price="price_legacy"),
        created=standin.now() + 10,
    )
    assert deliver(client, standin, unknown).json() == {"status": "processed"}
    assert row_of(core, account.id).plan_id == "professional"  # an unknown price keeps the plan


def test_old_api_version_payloads_are_understood(client, core, make_account, standin) -> None:
    account = make_account()
    sub = subscribe(client, standin, account, "creator")
    old = copy.deepcopy(standin.set_subscription(sub["id"], status="past_due"))
    item = old["items"]["data"][0]
    old["current_period_start"], old["current_period_end"] = (
        item.pop("current_period_start"),
        item.pop("current_period_end"),
    )
    deliver(client, standin, standin.event("customer.subscription.updated", old, created=standin.now() + 5))
    row = row_of(core, account.id)
    assert row.status == "past_due" and row.current_period_end == _at(old["current_period_end"])
    invoice = standin.invoice(sub, paid=True)
    invoice["subscription"] = invoice.pop("parent")["subscription_details"]["subscription"]  # before 2025-03-31
    standin.set_subscription(sub["id"], status="active")
    deliver(client, standin, standin.event("invoice.paid", invoice, created=standin.now() + 10))
    assert row_of(core, account.id).status == "active"


def test_an_old_subscription_ending_does_not_touch_the_new_one(client, core, make_account, standin) -> None:
    account = make_account()
    first = subscribe(client, standin, account, "creator")
    ended = standin.set_subscription(first["id"], status="canceled")
    deleted = standin.event("customer.subscription.deleted", ended, created=standin.now() + 5)
    deliver(client, standin, deleted)
    second = subscribe(client, standin, account, "professional")  # subscribes again after it ended
    assert row_of(core, account.id).stripe_subscription_id == second["id"]
    late = standin.event("customer.subscription.updated", ended, created=standin.now() + 1000)  # e.g. metadata edit
    assert deliver(client, standin, late).json()["status"] == "stale"
    row = row_of(core, account.id)
    assert (row.stripe_subscription_id, row.plan_id, row.status) == (second["id"], "professional", "active")


def test_unknown_events_and_strangers_are_200_and_ignored(client, core, make_account, standin) -> None:
    account = make_account()
    subscribe(client, standin, account)
    before = facts(core)
    for event in (
        standin.event("customer.created", {"id": "cus_x", "object": "customer"}),
        standin.event("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"}),
        standin.event("checkout.session.completed", {"id": "cs_x", "object": "checkout.session", "mode": "payment"}),
        standin.event("invoice.paid", {"id": "in_x", "object": "invoice", "parent": None}),  # not a subscription's
        standin.event(
            "customer.subscription.created",
            standin.make_subscription(standin._create_customer({})["id"], "price_creator"),
        ),  # not ours
    ):
        answer = deliver(client, standin, event)
        assert answer.status_code == 200 and answer.json() == {"status": "ignored"}, event["type"]
    assert facts(core) == before
