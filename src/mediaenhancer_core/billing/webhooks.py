"""Stripe webhooks: verified on the raw body, applied at most once per event id, in order.

Handled event types (enable these on the webhook endpoint in Stripe's dashboard):

- ``checkout.session.completed``: ties the customer and the new subscription to the
  user (``client_reference_id``), then applies the subscription read from Stripe;
- ``customer.subscription.created``, ``.updated``, ``.deleted``: the subscription in
  the event, ordered by the event's ``created`` time (see ``state.py``);
- ``invoice.paid``, ``invoice.payment_failed``: the invoice's subscription, read from
  Stripe (an invoice does not carry the subscription's new status).

Any other type answers ``ignored``. The event id goes into ``processed_webhook_events``
in the same transaction as the change, so a redelivery answers ``duplicate`` and
changes nothing; a failure rolls both back and Stripe delivers again later.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from mediaenhancer_core.billing.gateway import StripeGateway
from mediaenhancer_core.billing.state import SubscriptionState, from_timestamp, id_of
from mediaenhancer_core.db.models import ProcessedWebhookEvent
from mediaenhancer_core.errors import BillingNotConfiguredError, ValidationError
from mediaenhancer_core.jsonbody import parse_json

if TYPE_CHECKING:
    from mediaenhancer_core.billing.service import Billing

__all__ = ["HANDLED_EVENTS", "StripeWebhooks"]

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_EVENTS = ("invoice.paid", "invoice.payment_failed")
HANDLED_EVENTS = ("checkout.session.completed", *SUBSCRIPTION_EVENTS, *INVOICE_EVENTS)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills (``parent.subscription_details`` since API 2025-03-31,
    ``subscription`` before)."""
    parent = invoice.get("parent")
    if isinstance(parent, Mapping):
        details = parent.get("subscription_details")
        if isinstance(details, Mapping) and id_of(details.get("subscription")):
            return id_of(details.get("subscription"))
    return id_of(invoice.get("subscription"))


class StripeWebhooks:
    def __init__(self, billing: Billing) -> None:
        self.billing = billing
        settings = billing.settings
        self.secret = settings.stripe_webhook_secret.reveal() if settings.stripe_webhook_secret else None
        self.tolerance = settings.stripe_webhook_tolerance_seconds

    def handle(self, body: bytes, signature_header: str | None) -> str:
        """Verify and apply one delivery: 'processed', 'stale', 'duplicate' or 'ignored'."""
        if self.secret is None:
            raise BillingNotConfiguredError(
                "the Stripe webhook is not configured; set MEDIAENHANCER_STRIPE_WEBHOOK_SECRET to the endpoint's "
                "signing secret (whsec_...)"
            )
        StripeGateway.verify_event(body, signature_header, self.secret, tolerance=self.tolerance)
        event = parse_json(body)  # depth, text and numbers checked: 422, never a 500
        try:
            event_id = str(event["id"])
            event_type = str(event["type"])
            obj = event["data"]["object"]
            if not isinstance(obj, dict) or not event_id:
                raise TypeError("data.object is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"webhook body is not a Stripe event ({exc})", field="body") from None
        as_of = from_timestamp(event.get("created"))
        key = (event_id, event_type)
        if self._seen(event_id):
            return "duplicate"
        try:
            outcome = self._dispatch(event_type, obj, as_of, key)
        except IntegrityError:
            if self._seen(event_id):
                return "duplicate"  # delivered twice at once: the other delivery applied it
            raise
        return {"changed": "processed", "unchanged": "processed"}.get(outcome, outcome)

    def _seen(self, event_id: str) -> bool:
        with self.billing.db.session() as session:
            return session.get(ProcessedWebhookEvent, ("stripe", event_id)) is not None

    def _dispatch(self, event_type: str, obj: dict[str, Any], as_of: Any, key: tuple[str, str]) -> str:
        billing = self.billing
        if event_type in SUBSCRIPTION_EVENTS:
            try:
                state = SubscriptionState.from_stripe(obj)
            except ValueError as exc:
                raise ValidationError(f"data.object: not a subscription ({exc})", field="data.object") from None
            return billing.apply(state, as_of=as_of, authoritative=False, event=key)
        if event_type in INVOICE_EVENTS:
            return self._from_stripe(invoice_subscription(obj), as_of, None, key)
        if event_type == "checkout.session.completed" and obj.get("mode") == "subscription":
            user = _uuid(obj.get("client_reference_id")) or _uuid((obj.get("metadata") or {}).get("user_id"))
            return self._from_stripe(id_of(obj.get("subscription")), as_of, user, key)
        billing.record_event(key)
        return "ignored"

    def _from_stripe(
        self, subscription_id: str | None, as_of: Any, user: uuid.UUID | None, key: tuple[str, str]
    ) -> str:
        """Apply a subscription read from Stripe now (the event does not carry it)."""
        if subscription_id is None:
            self.billing.record_event(key)
            return "ignored"
        sub = self.billing.gateway.retrieve_subscription(subscription_id)
        if sub is None:
            self.billing.record_event(key)
            return "ignored"
        state = SubscriptionState.from_stripe(sub)
        return self.billing.apply(state, as_of=as_of, authoritative=True, user_hint=user, event=key)
