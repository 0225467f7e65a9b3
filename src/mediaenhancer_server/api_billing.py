"""The billing routes (issue 5): the user's subscription, checkout, cancel and resume, the
billing portal, and Stripe's webhook. Declared as :class:`ApiRoute` rows like the rest of
the API; ``app.py`` serves them and puts them in the OpenAPI document.

``GET /api/subscriptions/plans`` (public) stays in ``api.py`` with the seed's routes.
"""

from __future__ import annotations

from typing import Any

from . import bodies as B
from . import responses as R
from .routing import ApiCall, ApiRoute

__all__ = ["BILLING_ROUTES"]


def _base_url(call: ApiCall) -> str:
    return str(call.request.base_url).rstrip("/")


def get_current_subscription(call: ApiCall) -> Any:
    return call.core.billing.current(call.user.user_id)


def create_checkout(call: ApiCall) -> Any:
    return call.core.billing.checkout(call.user.user_id, call.data["plan"], base_url=_base_url(call))


def cancel_subscription(call: ApiCall) -> Any:
    return call.core.billing.cancel(call.user.user_id)


def resume_subscription(call: ApiCall) -> Any:
    return call.core.billing.resume(call.user.user_id)


def create_portal_session(call: ApiCall) -> Any:
    return call.core.billing.portal(call.user.user_id, base_url=_base_url(call))


def stripe_webhook(call: ApiCall) -> Any:
    result = call.core.billing.webhooks.handle(call.body, call.request.headers.get("stripe-signature"))
    return {"status": result}


BILLING_ROUTES: list[ApiRoute] = [
    ApiRoute(
        "/api/subscriptions/current",
        "GET",
        get_current_subscription,
        "The plan whose limits apply now, the subscription's status and period, and the limits.",
        "subscriptions",
        response_model=R.CurrentSubscription,
    ),
    ApiRoute(
        "/api/subscriptions/checkout",
        "POST",
        create_checkout,
        "Start a Stripe Checkout for a paid plan; open the answer's url in a browser. 409 when already "
        "subscribed (change plans in the billing portal), 503 when billing is not configured.",
        "subscriptions",
        request_model=B.CheckoutRequest,
        response_model=R.Checkout,
        errors=(404, 409, 503),
    ),
    ApiRoute(
        "/api/subscriptions/cancel",
        "POST",
        cancel_subscription,
        "Cancel the subscription at the end of the paid period (resumable until then).",
        "subscriptions",
        response_model=R.CurrentSubscription,
        errors=(404, 503),
    ),
    ApiRoute(
        "/api/subscriptions/resume",
        "POST",
        resume_subscription,
        "Undo a cancellation before the period ends.",
        "subscriptions",
        response_model=R.CurrentSubscription,
        errors=(404, 503),
    ),
    ApiRoute(
        "/api/subscriptions/portal",
        "POST",
        create_portal_session,
        "A Stripe billing-portal session (payment methods, invoices, plan changes); open its url.",
        "subscriptions",
        response_model=R.PortalSession,
        errors=(404, 503),
    ),
    ApiRoute(
        "/api/webhooks/stripe",
        "POST",
        stripe_webhook,
        "Stripe events (checkout.session.completed, customer.subscription.*, invoice.paid, "
        "invoice.payment_failed), verified with Stripe-Signature on the raw body; idempotent by event id.",
        "webhooks",
        public=True,
        raw_body=True,
        response_model=R.StripeWebhookResult,
        errors=(400, 422, 503),
    ),
]
