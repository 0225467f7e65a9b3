"""`mediaenhancer-server billing sync`: repairs what missed webhooks left behind, and running it
again changes nothing. Both databases; Stripe is the local stand-in."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mediaenhancer_core.exit_codes import ExitCode

from .billing_support import deliver, facts, row_of, subscribe

runner = CliRunner()


@pytest.fixture
def server_cli(billing_env, database, monkeypatch):
    from mediaenhancer_server.cli import app

    for key, value in {**billing_env, "MEDIAENHANCER_DATABASE_URL": database.url}.items():
        monkeypatch.setenv(key, value)

    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


def test_sync_repairs_missed_webhooks_and_a_second_run_changes_nothing(
    server_cli, client, core, make_account, standin
) -> None:
    paying = make_account("a-paying@example.com")
    sub = subscribe(client, standin, paying, "creator")
    unseen = make_account("b-unseen@example.com")  # paid, but no webhook ever arrived
    checkout = client.post("/api/subscriptions/checkout", json={"plan": "professional"}, headers=unseen.headers).json()
    standin.complete_checkout(checkout["id"])
    quitting = make_account("c-quitting@example.com")
    quit_sub = subscribe(client, standin, quitting, "creator")
    browsing = make_account("d-browsing@example.com")  # started a checkout, never paid
    client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=browsing.headers)
    untouched = make_account("e-free@example.com")

    # in Stripe, without webhooks reaching us: a renewal failed, and a subscription was canceled
    standin.set_subscription(sub["id"], status="past_due")
    standin.set_subscription(quit_sub["id"], status="canceled", ended_at=standin.now())

    first = server_cli("billing", "sync")
    assert first.exit_code == 0, first.output
    assert "checked 4 customers: 3 repaired, 1 already right, 0 failed" in first.output
    assert "a-paying@example.com: creator active" in first.output and "-> creator past_due" in first.output
    assert "b-unseen@example.com: no subscription -> professional active" in first.output
    assert row_of(core, paying.id).status == "past_due" and row_of(core, paying.id).grace_until is not None
    assert (row_of(core, unseen.id).plan_id, row_of(core, unseen.id).status) == ("professional", "active")
    assert row_of(core, quitting.id).status == "canceled"
    assert row_of(core, browsing.id).stripe_subscription_id is None
    assert row_of(core, untouched.id) is None
    assert client.get("/api/subscriptions/current", headers=unseen.headers).json()["plan"]["id"] == "professional"

    repaired = facts(core)
    second = server_cli("billing", "sync", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.output) == {"customers": 4, "changed": [], "unchanged": 4, "errors": []}
    assert facts(core) == repaired  # not even updated_at moved

    # and a webhook arriving late after the repair does not undo it
    late = standin.event("customer.subscription.updated", {**sub, "status": "active"}, created=sub["created"])
    assert deliver(client, standin, late).json()["status"] in ("stale", "processed")
    assert row_of(core, paying.id).status == "past_due"


def test_sync_picks_the_live_subscription_over_older_ended_ones(
    server_cli, client, core, make_account, standin
) -> None:
    account = make_account("many@example.com")
    old = subscribe(client, standin, account, "creator")
    standin.set_subscription(old["id"], status="canceled")
    newer = standin.make_subscription(old["customer"], "price_professional", created=standin.now() + 10)
    standin.make_subscription(old["customer"], "price_creator", status="incomplete_expired", created=standin.now() + 20)
    assert server_cli("billing", "sync").exit_code == 0
    row = row_of(core, account.id)
    assert (row.stripe_subscription_id, row.plan_id, row.status) == (newer["id"], "professional", "active")


def test_sync_reports_a_stripe_failure_and_still_repairs_the_others(
    server_cli, client, core, make_account, standin
) -> None:
    first = make_account("a-first@example.com")
    sub_a = subscribe(client, standin, first)
    second = make_account("b-second@example.com")
    sub_b = subscribe(client, standin, second)
    standin.set_subscription(sub_a["id"], status="unpaid")
    standin.set_subscription(sub_b["id"], status="unpaid")
    standin.fail_next(500)  # listing a-first's subscriptions fails
    result = server_cli("billing", "sync")
    assert result.exit_code == ExitCode.BILLING_FAILED
    assert "a-first@example.com: Stripe failed" in result.output and "1 repaired" in result.output
    assert row_of(core, first.id).status == "active" and row_of(core, second.id).status == "unpaid"
    assert server_cli("billing", "sync").exit_code == 0  # the next run repairs it
    assert row_of(core, first.id).status == "unpaid"


def test_sync_without_a_stripe_key_exits_70(database, settings_env, monkeypatch) -> None:
    from mediaenhancer_server.cli import app

    for key, value in {**settings_env, "MEDIAENHANCER_DATABASE_URL": database.url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MEDIAENHANCER_STRIPE_SECRET_KEY", raising=False)
    result = runner.invoke(app, ["billing", "sync"])
    assert result.exit_code == ExitCode.BILLING_NOT_CONFIGURED == 70
    assert "billing is not configured" in result.output


def test_a_plan_set_by_hand_survives_sync_and_old_events_until_a_new_subscription(
    server_cli, client, core, make_account, standin
) -> None:
    account = make_account("staff@example.com")
    old = subscribe(client, standin, account, "creator")
    ended = standin.set_subscription(old["id"], status="canceled")
    deliver(client, standin, standin.event("customer.subscription.deleted", ended, created=standin.now() + 5))
    standin.clock_offset = 60  # later, the administrator gives the account a plan by hand
    core.clock.advance(30)
    assert server_cli("users", "set-plan", "staff@example.com", "professional").exit_code == 0
    row = row_of(core, account.id)
    assert (row.plan_id, row.status, row.stripe_subscription_id) == ("professional", "active", None)
    assert row.stripe_customer_id == old["customer"]  # kept for a later checkout

    assert server_cli("billing", "sync").exit_code == 0
    late = standin.event("customer.subscription.updated", ended, created=standin.now() + 10)
    assert deliver(client, standin, late).json()["status"] == "stale"
    core.clock.advance(core.settings.auth_cache_seconds + 1)  # the admin CLI is another process
    current = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert current["plan"]["id"] == "professional" and current["subscription"]["managed_by"] == "admin"

    standin.clock_offset = 120  # a subscription bought afterwards takes over
    subscribe(client, standin, account, "creator")
    assert (row_of(core, account.id).plan_id, row_of(core, account.id).status) == ("creator", "active")
