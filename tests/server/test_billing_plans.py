"""Which plan's limits apply (plans.plan_for_user) as subscriptions move, that a downgrade
deletes nothing, the server without a Stripe key, and the billing settings. Both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mediaenhancer_core.db.models import MediaFile, UserSubscription
from mediaenhancer_core.errors import ConfigError
from mediaenhancer_core.plans.catalogue import plan_for_user
from mediaenhancer_core.settings import Settings

DAY = timedelta(days=1)


# (status, cancel_at_period_end, period end from now, grace_until from now) -> plan that applies
RULES = [
    ("active", False, 10 * DAY, None, "creator"),
    ("active", False, -1 * DAY, None, "creator"),  # renewal not reported yet: keep it
    ("trialing", False, 10 * DAY, None, "creator"),
    ("active", True, 10 * DAY, None, "creator"),  # canceled, but paid until the period ends
    ("active", True, -1 * DAY, None, "starter"),  # ... and after it
    ("past_due", False, 20 * DAY, 3 * DAY, "creator"),  # within the grace period
    ("past_due", False, 20 * DAY, -1 * DAY, "starter"),  # after it
    ("canceled", False, 10 * DAY, None, "starter"),
    ("unpaid", False, 10 * DAY, None, "starter"),
    ("incomplete", False, 10 * DAY, None, "starter"),
    ("incomplete_expired", False, 10 * DAY, None, "starter"),
    ("paused", False, 10 * DAY, None, "starter"),
]


@pytest.mark.parametrize(("status", "cancel", "end", "grace", "expected"), RULES)
def test_the_plan_that_applies_follows_the_subscription(
    core, client, make_account, clock, status, cancel, end, grace, expected
) -> None:
    account = make_account()
    now = clock()
    with core.db.session() as session:
        session.add(
            UserSubscription(
                user_id=account.id,
                plan_id="creator",
                status=status,
                stripe_customer_id=f"cus_{uuid.uuid4().hex[:8]}",
                stripe_subscription_id=f"sub_{uuid.uuid4().hex[:8]}",
                current_period_start=now + end - 30 * DAY,
                current_period_end=now + end,
                cancel_at_period_end=cancel,
                grace_until=now + grace if grace else None,
            )
        )
    with core.db.session() as session:
        plan, row = plan_for_user(session, account.id, now=now)
    assert plan.id == expected and row is not None and row.status == status
    # every way of asking agrees: profile (/api/auth/me), usage, current subscription
    for path in ("/api/auth/me", "/api/users/usage", "/api/subscriptions/current"):
        assert client.get(path, headers=account.headers).json()["plan"]["id"] == expected, path


def test_a_downgrade_deletes_nothing_and_usage_shows_what_is_over(core, client, make_account, clock) -> None:
    account = make_account()
    core.accounts.set_plan(account.email, "creator")
    with core.db.session() as session:
        for i in range(3):  # 9 GB: more than Starter's 5 GB
            session.add(
                MediaFile(
                    user_id=account.id,
                    filename=f"f{i}.mp4",
                    original_filename=f"f{i}.mp4",
                    file_type="video",
                    mime_type="video/mp4",
                    file_size=3 * 1024**3,
                    storage_key=f"k/{uuid.uuid4()}",
                    status="ready",
                )
            )
    now = clock()
    with core.db.session() as session:
        sub = session.scalar(select(UserSubscription).where(UserSubscription.user_id == account.id))
        sub.stripe_subscription_id, sub.cancel_at_period_end = "sub_down", True
        sub.current_period_start, sub.current_period_end = now - 29 * DAY, now + DAY
    clock.advance(2 * DAY.total_seconds())
    usage = client.get("/api/users/usage", headers=account.headers).json()
    assert usage["plan"]["id"] == "starter"
    assert usage["storage"]["used_bytes"] == 9 * 1024**3 > usage["storage"]["limit_bytes"]
    with core.db.session() as session:
        assert session.scalar(select(func.count()).select_from(MediaFile).where(MediaFile.user_id == account.id)) == 3


# --- without a Stripe key ------------------------------------------------------------------------


def test_without_a_key_plans_list_checkout_is_503_and_plans_are_set_by_hand(
    client, core, make_account, database, monkeypatch
) -> None:
    assert core.settings.stripe_secret_key is None and not core.billing.configured
    assert [p["id"] for p in client.get("/api/subscriptions/plans").json()["plans"]] == [
        "starter",
        "creator",
        "professional",
    ]
    account = make_account("manual@example.com")
    current = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert current["billing_configured"] is False and current["plan"]["id"] == "starter"
    checkout = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=account.headers)
    assert checkout.status_code == 503
    assert checkout.json()["error"] == {
        "code": "billing_not_configured",
        "message": checkout.json()["error"]["message"],
    }
    assert checkout.json()["error"]["message"].startswith("billing is not configured")
    assert client.post("/api/subscriptions/portal", headers=account.headers).status_code == 503
    assert (
        client.post("/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}).status_code == 503
    )
    pricing = client.get("/pricing")
    assert pricing.status_code == 200 and "Online payment is not available" in pricing.text
    assert "Choose Creator" not in pricing.text

    from mediaenhancer_server.cli import app

    monkeypatch.setenv("MEDIAENHANCER_DATABASE_URL", database.url)
    result = CliRunner().invoke(app, ["users", "set-plan", "manual@example.com", "professional"])
    assert result.exit_code == 0, result.output
    core.clock.advance(core.settings.auth_cache_seconds + 1)  # the admin CLI is another process
    current = client.get("/api/subscriptions/current", headers=account.headers).json()
    assert current["plan"]["id"] == "professional" and current["subscription"]["managed_by"] == "admin"
    assert client.get("/api/auth/me", headers=account.headers).json()["plan"]["id"] == "professional"


def test_the_server_does_not_import_stripe_until_billing_is_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from mediaenhancer_server import create_app; import mediaenhancer_core.billing; "
        "print('stripe' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDIAENHANCER_STRIPE_SECRET_KEY": "pk_test_123"}, "publishable key"),
        ({"MEDIAENHANCER_STRIPE_WEBHOOK_SECRET": "secret"}, "whsec_"),
        ({"MEDIAENHANCER_STRIPE_API_BASE": "api.stripe.com"}, "http:// or https://"),
        ({"MEDIAENHANCER_CHECKOUT_SUCCESS_URL": "/thanks"}, "http:// or https://"),
        ({"MEDIAENHANCER_PAST_DUE_GRACE_DAYS": "-1"}, "0 or more"),
        ({"MEDIAENHANCER_STRIPE_MAX_NETWORK_RETRIES": "50"}, "0 to 10"),
    ],
)
def test_bad_billing_settings_name_the_variable(env, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Settings.load(env)
    assert next(iter(env)) in str(info.value)


def test_the_stripe_keys_are_secrets() -> None:
    settings = Settings.load(
        {"MEDIAENHANCER_STRIPE_SECRET_KEY": "sk_test_hidden", "MEDIAENHANCER_STRIPE_WEBHOOK_SECRET": "whsec_hidden"}
    )
    shown = repr(settings) + repr(settings.public_dict())
    assert "sk_test_hidden" not in shown and "whsec_hidden" not in shown
    assert settings.stripe_secret_key is not None and settings.stripe_secret_key.reveal() == "sk_test_hidden"
