"""The JSON API's service, account, token and device routes, each declared once with its auth
rule and schemas (see :mod:`.routing` for how a declaration becomes an endpoint)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from mediaenhancer_core.errors import NotFoundError, ServiceUnavailableError

from . import bodies as B
from . import responses as R
from .auth import client_ip
from .routing import ApiCall, ApiRoute

__all__ = ["API_ROUTES"]


def health(call: ApiCall) -> Any:
    return {"status": "ok"}


def auth_me(call: ApiCall) -> Any:
    profile = call.core.accounts.profile(call.user.user_id)
    profile["auth_method"] = call.user.method
    return profile


def auth_me_fast(call: ApiCall) -> Any:
    profile = call.core.accounts.cached_profile(call.user.user_id)
    if profile is None:
        return None
    profile["auth_method"] = call.user.method
    return profile


def auth_verify(call: ApiCall) -> Any:
    return {
        "valid": True,
        "user_id": str(call.user.user_id),
        "email": call.user.email,
        "auth_method": call.user.method,
        "token_id": str(call.user.token_id) if call.user.token_id else None,
    }


def get_profile(call: ApiCall) -> Any:
    return call.core.accounts.profile(call.user.user_id)


def put_profile(call: ApiCall) -> Any:
    return call.core.accounts.update_profile(call.user.user_id, call.data)


def get_usage(call: ApiCall) -> Any:
    return call.core.plans.usage(call.user.user_id)


def get_plans(call: ApiCall) -> Any:
    return {"plans": call.core.plans.catalogue()}


def list_tokens(call: ApiCall) -> Any:
    tokens = call.core.tokens
    return {"tokens": [tokens.to_dict(t) for t in tokens.list(call.user.user_id)]}


def create_token(call: ApiCall) -> Any:
    days = call.data.get("expires_in_days")
    row, secret = call.core.tokens.create(
        call.user.user_id, call.data["name"], expires_in=timedelta(days=days) if days else None
    )
    return {**call.core.tokens.to_dict(row), "token": secret}


def revoke_current_token(call: ApiCall) -> Any:
    if call.user.token_id is None:
        raise NotFoundError("this request was not made with an API token")
    call.core.tokens.revoke(call.user.user_id, call.user.token_id)
    return Response(status_code=204)


def revoke_token(call: ApiCall) -> Any:
    call.core.tokens.revoke(call.user.user_id, call.path_uuid("token_id"))
    return Response(status_code=204)


def device_code(call: ApiCall) -> Any:
    start = call.core.devices.start(
        (call.data or {}).get("client_name") or "mediaenhancer CLI", client_ip=client_ip(call.request)
    )
    base = (call.core.settings.public_url or str(call.request.base_url)).rstrip("/")
    return {
        "device_code": start.device_code,
        "user_code": start.user_code,
        "verification_uri": f"{base}/device",
        "verification_uri_complete": f"{base}/device?code={start.user_code}",
        "expires_in": start.expires_in,
        "interval": start.interval,
    }


def device_token(call: ApiCall) -> Any:
    secret = call.core.devices.poll(call.data["device_code"])
    return {"access_token": secret, "token_type": "Bearer"}


def clerk_webhook(call: ApiCall) -> Any:
    hooks = call.core.clerk_webhooks
    if hooks is None:
        raise ServiceUnavailableError("the Clerk webhook is not configured; set MEDIAENHANCER_CLERK_WEBHOOK_SECRET")
    result = hooks.handle(call.request.headers, call.body)
    return {"status": result}


def openapi_json(call: ApiCall) -> Any:
    from .openapi import openapi_document  # noqa: PLC0415 - built on demand

    return openapi_document(call.request.app.state.api_routes, server_url=call.core.settings.public_url)


def ready(call: ApiCall) -> Any:
    checks: dict[str, str] = {}
    failures: list[str] = []
    for name, check in call.request.app.state.readiness_checks.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - a readiness probe reports every failure
            checks[name] = "failed"
            failures.append(f"{name}: {getattr(exc, 'message', exc.__class__.__name__)}")
    if failures:
        return JSONResponse(
            {"status": "unavailable", "checks": checks, "error": {"code": "not_ready", "message": "; ".join(failures)}},
            status_code=503,
        )
    return {"status": "ready", "checks": checks}


# --- the table ------------------------------------------------------------------------------------

API_ROUTES: list[ApiRoute] = [
    ApiRoute(
        "/health",
        "GET",
        health,
        "Liveness: the process answers.",
        "service",
        public=True,
        response_model=R.Health,
        inline=True,
    ),
    ApiRoute(
        "/ready",
        "GET",
        ready,
        "Readiness: the database (and storage, once configured) answer.",
        "service",
        public=True,
        response_model=R.Ready,
        errors=(503,),
    ),
    ApiRoute(
        "/api/openapi.json",
        "GET",
        openapi_json,
        "This document.",
        "service",
        public=True,
        response_model=R.OpenApiDocument,
    ),
    ApiRoute(
        "/api/auth/me",
        "GET",
        auth_me,
        "The signed-in user, their plan and how they authenticated.",
        "auth",
        response_model=R.Me,
        fast=auth_me_fast,
    ),
    ApiRoute(
        "/api/auth/verify",
        "GET",
        auth_verify,
        "Check a token; 200 with its user when valid.",
        "auth",
        response_model=R.TokenVerification,
        fast=auth_verify,
    ),
    ApiRoute("/api/users/profile", "GET", get_profile, "The user's profile.", "users", response_model=R.Profile),
    ApiRoute(
        "/api/users/profile",
        "PUT",
        put_profile,
        "Change profile fields (absent: kept; null: cleared).",
        "users",
        request_model=B.ProfileUpdate,
        response_model=R.Profile,
        errors=(422,),
    ),
    ApiRoute(
        "/api/users/usage",
        "GET",
        get_usage,
        "Use against the plan's limits in the current period.",
        "users",
        response_model=R.Usage,
    ),
    ApiRoute(
        "/api/subscriptions/plans",
        "GET",
        get_plans,
        "The plans and their limits.",
        "subscriptions",
        public=True,
        response_model=R.PlanList,
    ),
    ApiRoute(
        "/api/tokens",
        "GET",
        list_tokens,
        "The user's API tokens (never their secrets).",
        "tokens",
        response_model=R.TokenList,
    ),
    ApiRoute(
        "/api/tokens",
        "POST",
        create_token,
        "Create an API token; its secret is in this answer only.",
        "tokens",
        status=201,
        request_model=B.TokenCreate,
        response_model=R.TokenCreated,
        errors=(422,),
    ),
    ApiRoute(
        "/api/tokens/current",
        "DELETE",
        revoke_current_token,
        "Revoke the token this request uses (logout).",
        "tokens",
        status=204,
        errors=(404,),
    ),
    ApiRoute(
        "/api/tokens/{token_id:uuid}",
        "DELETE",
        revoke_token,
        "Revoke one of the user's tokens.",
        "tokens",
        status=204,
        errors=(404,),
    ),
    ApiRoute(
        "/api/device/code",
        "POST",
        device_code,
        "Start a device login (RFC 8628 device authorization).",
        "device",
        public=True,
        request_model=B.DeviceCodeRequest,
        response_model=R.DeviceCode,
        errors=(422, 429),
    ),
    ApiRoute(
        "/api/device/token",
        "POST",
        device_token,
        "Poll a device login: the token once approved; else authorization_pending, slow_down, "
        "expired_token or access_denied (400).",
        "device",
        public=True,
        request_model=B.DeviceTokenRequest,
        response_model=R.DeviceToken,
        errors=(400, 422),
    ),
    ApiRoute(
        "/api/webhooks/clerk",
        "POST",
        clerk_webhook,
        "Clerk user.created/updated/deleted, Svix-signed; idempotent by svix-id.",
        "webhooks",
        public=True,
        raw_body=True,
        response_model=R.WebhookResult,
        errors=(400, 409, 422, 503),
    ),
]
