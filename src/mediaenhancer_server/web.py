"""Server-rendered pages: sign in, sign up, device approval and the account page.

No front-end build: Jinja2 templates, one stylesheet, no JavaScript. Every form has a
CSRF token (see ``auth.py``); every state change is a POST answered by a redirect or
a page, never a GET.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mediaenhancer_core.accounts.users import Principal, normalize_email
from mediaenhancer_core.errors import (
    EmailNotVerifiedError,
    ForbiddenError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from mediaenhancer_core.services import Core

from .auth import (
    SESSION_COOKIE,
    attach_csrf_cookie,
    check_csrf,
    clear_session_cookie,
    client_ip,
    csrf_token_for,
    safe_next,
    set_session_cookie,
)

__all__ = ["page_routes"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


async def _principal(request: Request) -> Principal | None:
    return await run_in_threadpool(_core(request).sessions.resolve, request.cookies.get(SESSION_COOKIE))


def _render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("user", None)
    response = templates.TemplateResponse(
        request,
        name,
        {"csrf_token": csrf_token_for(request), "allow_signup": _core(request).settings.allow_signup, **context},
        status_code=status,
    )
    attach_csrf_cookie(request, response)
    return response


def _signin_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, data.get("csrf_token"))
    return data


# --- sign in / sign up / sign out --------------------------------------------------------------


async def home(request: Request) -> Response:
    return RedirectResponse("/account", status_code=303)


# addresses people type for the pages that have other names here; a JSON 404 is no answer for a browser
_ALIASES = {"/login": "/signin", "/register": "/signup", "/logout": "/account"}


async def page_alias(request: Request) -> Response:
    """GET /login, /register → the sign-in and sign-up pages (a safe ?next= kept); /logout → the account
    page, whose sign-out button posts the form (signing out takes a POST with its CSRF token)."""
    target = _ALIASES[request.url.path]
    next_url = request.query_params.get("next")
    if next_url and target != "/account":
        target += "?next=" + quote(safe_next(next_url), safe="")
    return RedirectResponse(target, status_code=303)


async def signin_page(request: Request) -> Response:
    return _render(request, "signin.html", next=safe_next(request.query_params.get("next")), email="")


async def signin_submit(request: Request) -> Response:
    try:
        data = await _form(request)
    except ForbiddenError as exc:
        return _render(request, "signin.html", 403, error=exc.message, next="/account", email="")
    core = _core(request)
    next_url = safe_next(data.get("next"))
    email = data.get("email", "")
    try:
        principal = await run_in_threadpool(
            core.accounts.sign_in, email, data.get("password", ""), client_ip=client_ip(request)
        )
    except RateLimitedError as exc:
        response = _render(request, "signin.html", 429, error=exc.message, next=next_url, email=email)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except EmailNotVerifiedError as exc:
        user = await run_in_threadpool(core.accounts.by_email, email)
        base = _base_url(request)
        await run_in_threadpool(lambda: core.verifications.send(user.id, user.email, base_url=base))
        return _render(request, "signin.html", 403, error=exc.message, next=next_url, email=email)
    except (InvalidCredentialsError, ForbiddenError) as exc:
        return _render(request, "signin.html", 401, error=exc.message, next=next_url, email=email)
    return await _start_session(request, principal, next_url)


async def _start_session(request: Request, principal: Principal, next_url: str) -> Response:
    core = _core(request)
    secret = await run_in_threadpool(core.sessions.create, principal)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(request, response, secret, core.settings.session_hours * 3600)
    return response


async def signup_page(request: Request) -> Response:
    if not _core(request).settings.allow_signup:
        return _render(
            request, "message.html", 403, title="Sign-up is closed", message="Ask the administrator for an account."
        )
    return _render(request, "signup.html", next=safe_next(request.query_params.get("next")), email="")


async def signup_submit(request: Request) -> Response:
    core = _core(request)
    if not core.settings.allow_signup:
        return _render(
            request, "message.html", 403, title="Sign-up is closed", message="Ask the administrator for an account."
        )
    try:
        data = await _form(request)
    except ForbiddenError as exc:
        return _render(request, "signup.html", 403, error=exc.message, next="/account", email="")
    next_url = safe_next(data.get("next"))
    email, password = data.get("email", ""), data.get("password", "")
    if password != data.get("password_confirm", ""):
        return _render(request, "signup.html", 422, error="The two passwords differ.", next=next_url, email=email)
    try:
        user = await run_in_threadpool(core.accounts.sign_up, email, password, client_ip=client_ip(request))
    except RateLimitedError as exc:
        response = _render(request, "signup.html", 429, error=exc.message, next=next_url, email=email)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ValidationError as exc:
        return _render(request, "signup.html", 422, error=exc.message, next=next_url, email=email)
    verify = core.settings.signup_email_verification
    if verify:
        base = _base_url(request)
        if user is not None:
            await run_in_threadpool(lambda: core.verifications.send(user.id, user.email, base_url=base))
        else:
            await run_in_threadpool(lambda: core.verifications.notify_existing(normalize_email(email), base_url=base))
    # The same answer whether or not the address already had an account (issue 12: a 409 told).
    return _render(
        request,
        "signup_done.html",
        200,
        title="Check your email" if verify else "Sign up received",
        email=normalize_email(email),
        verify=verify,
        next=next_url,
    )


def _base_url(request: Request) -> str:
    return (_core(request).settings.public_url or str(request.base_url)).rstrip("/")


async def verify_email(request: Request) -> Response:
    core = _core(request)
    try:
        email = await run_in_threadpool(core.verifications.confirm, request.query_params.get("token", ""))
    except NotFoundError as exc:
        return _render(request, "message.html", 404, title="Link expired", message=exc.message)
    return _render(
        request, "message.html", title="Address confirmed", message=f"{email} is confirmed. You can sign in now."
    )


async def signout(request: Request) -> Response:
    try:
        await _form(request)
    except ForbiddenError as exc:
        return _render(request, "message.html", 403, title="Not signed out", message=exc.message)
    await run_in_threadpool(_core(request).sessions.end, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(response)
    return response


# --- account --------------------------------------------------------------------------------------------


def _account_context(core: Core, principal: Principal) -> dict[str, Any]:
    profile = core.accounts.profile(principal.user_id)
    usage = core.plans.usage(principal.user_id)
    plan = core.plans.current(principal.user_id)
    tokens = [core.tokens.to_dict(t) for t in core.tokens.list(principal.user_id)]
    return {"user": profile, "usage": usage, "plan": plan, "tokens": tokens}


async def account_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _signin_redirect(request)
    context = await run_in_threadpool(_account_context, _core(request), principal)
    return _render(request, "account.html", **context)


async def account_create_token(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _signin_redirect(request)
    core = _core(request)
    try:
        data = await _form(request)
        days = data.get("expires_in_days", "").strip()
        if days and (not days.isdigit() or not 1 <= int(days) <= 3650):
            raise ValidationError(
                "Expiry: give a number of days from 1 to 3650, or leave it empty.", field="expires_in_days"
            )
        _, secret = await run_in_threadpool(
            lambda: core.tokens.create(
                principal.user_id, data.get("name", ""), expires_in=timedelta(days=int(days)) if days else None
            )
        )
    except (ValidationError, ForbiddenError) as exc:
        context = await run_in_threadpool(_account_context, core, principal)
        return _render(
            request, "account.html", 422 if isinstance(exc, ValidationError) else 403, error=exc.message, **context
        )
    context = await run_in_threadpool(_account_context, core, principal)
    return _render(request, "account.html", 201, new_token=secret, **context)


async def account_revoke_token(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _signin_redirect(request)
    core = _core(request)
    try:
        await _form(request)
        token_id = request.path_params["token_id"]
        await run_in_threadpool(core.tokens.revoke, principal.user_id, token_id)
    except (NotFoundError, ForbiddenError) as exc:
        context = await run_in_threadpool(_account_context, core, principal)
        return _render(
            request, "account.html", 404 if isinstance(exc, NotFoundError) else 403, error=exc.message, **context
        )
    return RedirectResponse("/account", status_code=303)


# --- device approval ----------------------------------------------------------------------------------


async def device_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _signin_redirect(request)
    return _render(
        request, "device.html", user={"email": principal.email}, code=request.query_params.get("code", "")[:20]
    )


async def device_lookup(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _signin_redirect(request)
    user = {"email": principal.email}
    try:
        data = await _form(request)
        pending = await run_in_threadpool(
            lambda: _core(request).devices.pending(data.get("code", ""), user_id=principal.user_id)
        )
    except RateLimitedError as exc:
        response = _render(request, "device.html", 429, user=user, code="", error=exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (ValidationError, NotFoundError, ForbiddenError) as exc:
        return _render(
            request,
            "device.html",
            404 if isinstance(exc, NotFoundError) else 422,
            user=user,
            code="",
            error=exc.message,
        )
    return _render(request, "device_confirm.html", user=user, pending=pending)


async def device_decide(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _signin_redirect(request)
    user = {"email": principal.email}
    core = _core(request)
    try:
        data = await _form(request)
        approve = data.get("decision") == "approve"
        action = core.devices.approve if approve else core.devices.deny
        await run_in_threadpool(action, data.get("code", ""), principal)
    except RateLimitedError as exc:
        response = _render(request, "device.html", 429, user=user, code="", error=exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (NotFoundError, ForbiddenError) as exc:
        return _render(
            request,
            "device.html",
            404 if isinstance(exc, NotFoundError) else 403,
            user=user,
            code="",
            error=exc.message,
        )
    if approve:
        return _render(
            request,
            "message.html",
            user=user,
            title="Device connected",
            message="You can close this page and go back to your terminal.",
        )
    return _render(
        request,
        "message.html",
        user=user,
        title="Login denied",
        message="The device was not given access. You can close this page.",
    )


def page_routes() -> list[Route | Mount]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/signin", signin_page, methods=["GET"]),
        *(Route(path, page_alias, methods=["GET"]) for path in _ALIASES),
        Route("/signin", signin_submit, methods=["POST"]),
        Route("/signup", signup_page, methods=["GET"]),
        Route("/signup", signup_submit, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/verify-email", verify_email, methods=["GET"]),
        Route("/account", account_page, methods=["GET"]),
        Route("/account/tokens", account_create_token, methods=["POST"]),
        Route("/account/tokens/{token_id:uuid}/revoke", account_revoke_token, methods=["POST"]),
        Route("/device", device_page, methods=["GET"]),
        Route("/device", device_lookup, methods=["POST"]),
        Route("/device/decide", device_decide, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
