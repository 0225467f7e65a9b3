"""The billing routes (issue 5): the user's subscription, checkout, cancel and resume, the
billing portal, and Stripe's webhook. Declared as :class:`ApiRoute` rows like the rest of
the API; ``app.py`` serves them and puts them in the OpenAPI document.

``GET /api/subscriptions/plans`` (public) stays in ``api.py`` with the seed's routes.
"""

from __future__ import annotations

from typing import Any

from . import schemas as S
from . import bodies as B
from .routing import ApiCall, ApiRoute

__all__ = ["BILLING_ROUTES"]

_STR = {"type": "string"}


def _obj(required: list[str], **props: S.Schema) -> S.Schema:
    return {"type": "object", "required": required, "properties": props}


_DT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}

SUBSCRIPTION: S.Schema = _obj(
    ["plan", "status", "current_period_start", "current_period_end", "cancel_at_period_end", "grace_until", "managed_by"],
    plan=S.PLAN_REF,
    status=_STR,
    current_period_start=_DT_OR_NULL,
    current_period_end=_DT_OR_NULL,
    cancel_at_period_end={"type": "boolean"},
    grace_until=_DT_OR_NULL,
    managed_by={"type": "string", "enum": ["stripe", "admin"]},
)
CURRENT: S.Schema = _obj(
    ["plan", "status", "period", "limits", "subscription", "billing_configured"],
    plan=S.PLAN,
    status=_STR,
    period={"type": ["object", "null"], "required": ["start", "end"],
            "properties": {"start": _DT_OR_NULL, "end": _DT_OR_NULL}},
    limits=S.PLAN["properties"]["limits"],
    subscription={**SUBSCRIPTION, "type": ["object", "null"]},
    billing_configured={"type": "boolean"},
)
CHECKOUT: S.Schema = _obj(["id", "url", "plan"], id=_STR, url=_STR, plan=S.PLAN_REF)
PORTAL: S.Schema = _obj(["url"], url=_STR)
STRIPE_WEBHOOK_RESULT: S.Schema = _obj(
    ["status"], status={"type": "string", "enum": ["processed", "stale", "duplicate", "ignored"]}
)


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
    ApiRoute("/api/subscriptions/current", "GET", get_current_subscription,
             "The plan whose limits apply now, the subscription's status and period, and the limits.",
             "subscriptions", response_schema=CURRENT),
    ApiRoute("/api/subscriptions/checkout", "POST", create_checkout,
             "Start a Stripe Checkout for a paid plan; open the answer's url in a browser. 409 when already "
             "subscribed (change plans in the billing portal), 503 when billing is not configured.",
             "subscriptions", request_model=B.CheckoutRequest, response_schema=CHECKOUT, errors=(404, 409, 503)),
    ApiRoute("/api/subscriptions/cancel", "POST", cancel_subscription,
             "Cancel the subscription at the end of the paid period (resumable until then).", "subscriptions",
             response_schema=CURRENT, errors=(404, 503)),
    ApiRoute("/api/subscriptions/resume", "POST", resume_subscription,
             "Undo a cancellation before the period ends.", "subscriptions", response_schema=CURRENT,
             errors=(404, 503)),
    ApiRoute("/api/subscriptions/portal", "POST", create_portal_session,
             "A Stripe billing-portal session (payment methods, invoices, plan changes); open its url.",
             "subscriptions", response_schema=PORTAL, errors=(404, 503)),
    ApiRoute("/api/webhooks/stripe", "POST", stripe_webhook,
             "Stripe events (checkout.session.completed, customer.subscription.*, invoice.paid, "
             "invoice.payment_failed), verified with Stripe-Signature on the raw body; idempotent by event id.",
             "webhooks", public=True, raw_body=True, response_schema=STRIPE_WEBHOOK_RESULT,
             errors=(400, 422, 503)),
]
