"""Helpers of the billing tests: subscribe an account, deliver signed events, read the rows.

The fixtures ``standin`` (the Stripe stand-in) and ``billing_env`` (settings pointing at it)
are in conftest.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mediaenhancer_core.db.models import UserSubscription

from .stripe_standin import StripeStandIn

__all__ = ["deliver", "facts", "row_of", "subscribe"]


def deliver(client: Any, standin: StripeStandIn, event: dict[str, Any], **sign: Any) -> Any:
    """POST a signed event to the webhook route; answers the response."""
    body, headers = standin.signed(event, **sign)
    return client.post("/api/webhooks/stripe", content=body, headers=headers)


def subscribe(client: Any, standin: StripeStandIn, account: Any, plan: str = "creator") -> dict[str, Any]:
    """Checkout through the API, pay in the stand-in, deliver Stripe's events: the subscription."""
    checkout = client.post("/api/subscriptions/checkout", json={"plan": plan}, headers=account.headers)
    assert checkout.status_code == 200, checkout.text
    for event in standin.complete_checkout(checkout.json()["id"]):
        assert deliver(client, standin, event).status_code == 200
    session = standin.sessions[checkout.json()["id"]]
    return standin.subscriptions[session["subscription"]]


def row_of(core: Any, user_id: Any) -> UserSubscription | None:
    with core.db.session() as session:
        return session.scalar(select(UserSubscription).where(UserSubscription.user_id == user_id))


def facts(core: Any) -> list[tuple[Any, ...]]:
    """Every subscription row, as comparable tuples (for 'nothing changed' checks)."""
    with core.db.session() as session:
        rows = session.scalars(select(UserSubscription).order_by(UserSubscription.user_id)).all()
        return [
            (
                r.user_id,
                r.plan_id,
                r.status,
                r.stripe_customer_id,
                r.stripe_subscription_id,
                r.current_period_start,
                r.current_period_end,
                r.cancel_at_period_end,
                r.grace_until,
                r.last_event_at,
                r.updated_at,
            )
            for r in rows
        ]
