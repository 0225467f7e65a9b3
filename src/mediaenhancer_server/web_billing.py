"""Billing pages (issue 5): pricing, the way to Stripe Checkout and back, cancel/resume, portal.

- ``GET /pricing``: the plans (public); signed in, also your plan and its buttons;
- ``POST /pricing/checkout`` (CSRF): a Checkout Session for the chosen plan, then a 303 to Stripe;
- ``GET /checkout/success`` and ``GET /checkout/canceled``: where Stripe sends the user back.
  The success page applies the finished session at once, so the new plan shows even
  before Stripe's webhook arrives;
- ``POST /billing/portal`` (CSRF, a 303 to Stripe), ``/billing/cancel``, ``/billing/resume``.

Browsers follow a form's redirect to another site only when the form's page allows it in
its Content-Security-Policy (``form-action``): the pricing page adds the origins of
Stripe's hosted pages (setting ``stripe_hosted_origins``) to the server's policy. A
Stripe URL on any other origin is shown as a link to click instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mediaenhancer_core.accounts.users import Principal
from mediaenhancer_core.errors import MediaEnhancerError

from .errors import status_for
from .middleware import CONTENT_SECURITY_POLICY
from .web import _core, _form, _principal, _render

__all__ = ["billing_page_routes"]


def _signin(next_path: str) -> Response:
    return RedirectResponse(f"/signin?next={next_path.replace('/', '%2F')}", status_code=303)


def _pricing_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    core = _core(request)
    plans = core.plans.catalogue()
    current = core.billing.current(principal.user_id) if principal is not None else None
    return {
        "plans": plans,
        "current": current,
        "billing_configured": core.billing.configured,
        "user": {"email": principal.email} if principal is not None else None,
    }


def _hosted_origins(request: Request) -> tuple[str, ...]:
    return tuple(o.rstrip("/") for o in _core(request).settings.stripe_hosted_origins)


async def _pricing(request: Request, principal: Principal | None, status: int = 200, **extra: Any) -> Response:
    context = await run_in_threadpool(_pricing_context, request, principal)
    response = _render(request, "pricing.html", status, **context, **extra)
    origins = " ".join(_hosted_origins(request))
    response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {origins}".rstrip()
    )
    return response


def _to_stripe(request: Request, principal: Principal, url: str, title: str) -> Response:
    """A redirect to Stripe's page, or a page that links there when its origin is not allowed."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" in _hosted_origins(request):
        return RedirectResponse(url, status_code=303)
    return _render(request, "stripe_redirect.html", user={"email": principal.email}, url=url, title=title)


async def pricing_page(request: Request) -> Response:
    principal = await _principal(request)
    notice = "Checkout was canceled; nothing was charged." if request.query_params.get("canceled") else None
    return await _pricing(request, principal, notice=notice)


async def _action(request: Request, action: str) -> Response:
    """Run a billing action for the signed-in user from a form: errors show on the pricing page."""
    principal = await _principal(request)
    if principal is None:
        return _signin("/pricing")
    core = _core(request)
    base_url = str(request.base_url).rstrip("/")
    try:
        data = await _form(request)
        if action == "checkout":
            result = await run_in_threadpool(
                core.billing.checkout, principal.user_id, data.get("plan", ""), base_url=base_url
            )
            return _to_stripe(request, principal, result["url"], f"Subscribe to {result['plan']['name']}")
        if action == "portal":
            result = await run_in_threadpool(core.billing.portal, principal.user_id, base_url=base_url)
            return _to_stripe(request, principal, result["url"], "Billing portal")
        method = core.billing.cancel if action == "cancel" else core.billing.resume
        await run_in_threadpool(method, principal.user_id)
    except MediaEnhancerError as exc:
        return await _pricing(request, principal, status_for(exc), error=exc.message)
    return RedirectResponse("/pricing", status_code=303)


async def pricing_checkout(request: Request) -> Response:
    return await _action(request, "checkout")


async def billing_portal(request: Request) -> Response:
    return await _action(request, "portal")


async def billing_cancel(request: Request) -> Response:
    return await _action(request, "cancel")


async def billing_resume(request: Request) -> Response:
    return await _action(request, "resume")


async def checkout_success(request: Request) -> Response:
    principal = await _principal(request)
    core = _core(request)
    session_id = request.query_params.get("session_id", "")
    current: dict[str, Any] | None = None
    note = None
    confirmed = False  # "your payment went through" only when Stripe confirmed this user's checkout session
    if principal is not None:
        try:
            if session_id and core.billing.configured:
                current, confirmed = await run_in_threadpool(
                    core.billing.confirm_checkout, principal.user_id, session_id
                )
            else:
                current = await run_in_threadpool(core.billing.current, principal.user_id)
        except MediaEnhancerError as exc:
            note = f"Your plan will change as soon as Stripe confirms the payment ({exc.message})."
            current = await run_in_threadpool(core.billing.current, principal.user_id)
    user = {"email": principal.email} if principal is not None else None
    return _render(
        request,
        "checkout_success.html",
        user=user,
        current=current,
        note=note,
        confirmed=confirmed,
        billing=core.billing.configured,
    )


async def checkout_canceled(request: Request) -> Response:
    principal = await _principal(request)
    user = {"email": principal.email} if principal is not None else None
    return _render(request, "checkout_canceled.html", user=user)


def billing_page_routes() -> list[Route]:
    return [
        Route("/pricing", pricing_page, methods=["GET"]),
        Route("/pricing/checkout", pricing_checkout, methods=["POST"]),
        Route("/checkout/success", checkout_success, methods=["GET"]),
        Route("/checkout/canceled", checkout_canceled, methods=["GET"]),
        Route("/billing/portal", billing_portal, methods=["POST"]),
        Route("/billing/cancel", billing_cancel, methods=["POST"]),
        Route("/billing/resume", billing_resume, methods=["POST"]),
    ]
