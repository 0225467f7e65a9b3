"""The JSON API: each route declared once, with its auth rule and schemas.

An :class:`ApiRoute` names its path, method, handler, summary and the JSON schemas of
its request and response. From that one declaration the app builds the Starlette
route (authentication first unless ``public``; the body validated against the request
schema) and ``openapi.py`` builds the OpenAPI document, so the two cannot drift.

Handlers are plain functions run in the thread pool (the database is synchronous);
each gets an :class:`ApiCall` and returns JSON-able data or a Response.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaenhancer_core.accounts import Principal
from mediaenhancer_core.errors import NotFoundError, ServiceUnavailableError, ValidationError
from mediaenhancer_core.jsonbody import parse_json
from mediaenhancer_core.services import Core

from . import schemas as S
from .auth import authenticate_bearer, bearer_token, client_ip
from .middleware import USER_ID_SCOPE_KEY

__all__ = ["ApiRoute", "ApiCall", "API_ROUTES", "build_routes", "validate_json"]

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_QUERY_INT = 1_000_000_000  # pages and offsets: far beyond any real list, far inside a BIGINT
PAGE_QUERY: dict[str, Any] = {
    "page": {"type": "integer", "minimum": 1, "maximum": MAX_QUERY_INT, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
}


@dataclass
class ApiCall:
    core: Core
    request: Request
    body: bytes
    principal: Principal | None = None
    data: Any = None
    extras: dict[str, Any] = field(default_factory=dict)  # what a route's `prepare` step found

    @property
    def user(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def query_int(self, name: str, default: int, *, low: int = 0, high: int = MAX_QUERY_INT) -> int:
        """A whole-number query parameter within [low, high]; 422 naming it otherwise (never a
        number the database cannot hold, such as 1e20)."""
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw) if len(raw) <= 20 else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValidationError(f"{name}: must be a whole number from {low} to {high}", field=name)
        return value

    def path_uuid(self, name: str) -> uuid.UUID:
        value = self.request.path_params[name]
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise NotFoundError(f"no such {name.removesuffix('_id')}") from None


@dataclass(frozen=True)
class ApiRoute:
    path: str
    method: str
    handler: Callable[[ApiCall], Any]
    summary: str
    tag: str
    public: bool = False
    status: int = 200
    request_schema: Mapping[str, Any] | None = None
    response_schema: Mapping[str, Any] | None = None
    raw_body: bool = False  # the handler reads call.body itself (signed webhooks)
    errors: tuple[int, ...] = field(default=())
    inline: bool = False  # runs on the event loop: touches neither the database nor the disk
    fast: Callable[[ApiCall], Any] | None = None  # answers from the auth cache, or None to run `handler`
    stream: bool = False  # `handler` is a coroutine that reads the body itself, streaming (uploads)
    request_body: Mapping[str, Any] | None = None  # OpenAPI content of a non-JSON body (stream routes)
    # runs on the event loop between checking the request (auth, body) and `handler`, for waits that
    # must not hold a database thread (e.g. DNS lookups of callback URLs)
    prepare: Callable[[ApiCall], Awaitable[None]] | None = None
    query: Mapping[str, Mapping[str, Any]] | None = None  # query parameters and their schemas (OpenAPI)

    @property
    def name(self) -> str:
        return self.handler.__name__


# --- request validation (the subset of JSON Schema our request schemas use) -----------------


def validate_json(value: Any, schema: Mapping[str, Any], where: str = "body") -> None:
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    if kinds and not any(_is(value, k) for k in kinds):
        raise ValidationError(f"{where}: must be {' or '.join(kinds)}", field=where)
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"] if v is not None)
        raise ValidationError(f"{where}: use one of {allowed}", field=where)
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ValidationError(f"{where}: use at least {schema['minLength']} characters", field=where)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValidationError(f"{where}: use at most {schema['maxLength']} characters", field=where)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"{where}: must be a finite number", field=where)
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(f"{where}: must be {schema['minimum']} or more", field=where)
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(f"{where}: must be {schema['maximum']} or less", field=where)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise ValidationError(f"{name}: required", field=name)
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in props:
                    raise ValidationError(f"{name}: unknown field; known: {', '.join(props)}", field=name)
        for name, sub in props.items():
            if name in value:
                validate_json(value[name], sub, name if where == "body" else f"{where}.{name}")


def _is(value: Any, kind: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "array": isinstance(value, list),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[kind]


# --- handlers ----------------------------------------------------------------------------------


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
    start = call.core.devices.start((call.data or {}).get("client_name") or "mediaenhancer CLI",
                                    client_ip=client_ip(call.request))
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
    ApiRoute("/health", "GET", health, "Liveness: the process answers.", "service", public=True,
             response_schema=S.HEALTH, inline=True),
    ApiRoute("/ready", "GET", ready, "Readiness: the database (and storage, once configured) answer.", "service",
             public=True, response_schema=S.READY, errors=(503,)),
    ApiRoute("/api/openapi.json", "GET", openapi_json, "This document.", "service", public=True,
             response_schema={"type": "object"}),
    ApiRoute("/api/auth/me", "GET", auth_me, "The signed-in user, their plan and how they authenticated.", "auth",
             response_schema=S.ME, fast=auth_me_fast),
    ApiRoute("/api/auth/verify", "GET", auth_verify, "Check a token; 200 with its user when valid.", "auth",
             response_schema=S.VERIFY, fast=auth_verify),
    ApiRoute("/api/users/profile", "GET", get_profile, "The user's profile.", "users", response_schema=S.PROFILE),
    ApiRoute("/api/users/profile", "PUT", put_profile, "Change profile fields (absent: kept; null: cleared).",
             "users", request_schema=S.PROFILE_UPDATE, response_schema=S.PROFILE, errors=(422,)),
    ApiRoute("/api/users/usage", "GET", get_usage, "Use against the plan's limits in the current period.", "users",
             response_schema=S.USAGE),
    ApiRoute("/api/subscriptions/plans", "GET", get_plans, "The plans and their limits.", "subscriptions",
             public=True, response_schema=S.PLANS),
    ApiRoute("/api/tokens", "GET", list_tokens, "The user's API tokens (never their secrets).", "tokens",
             response_schema=S.TOKEN_LIST),
    ApiRoute("/api/tokens", "POST", create_token, "Create an API token; its secret is in this answer only.",
             "tokens", status=201, request_schema=S.TOKEN_CREATE, response_schema=S.TOKEN_CREATED, errors=(422,)),
    ApiRoute("/api/tokens/current", "DELETE", revoke_current_token, "Revoke the token this request uses (logout).",
             "tokens", status=204, errors=(404,)),
    ApiRoute("/api/tokens/{token_id:uuid}", "DELETE", revoke_token, "Revoke one of the user's tokens.", "tokens",
             status=204, errors=(404,)),
    ApiRoute("/api/device/code", "POST", device_code, "Start a device login (RFC 8628 device authorization).",
             "device", public=True, request_schema=S.DEVICE_CODE_REQUEST, response_schema=S.DEVICE_CODE,
             errors=(422, 429)),
    ApiRoute("/api/device/token", "POST", device_token,
             "Poll a device login: the token once approved; else authorization_pending, slow_down, "
             "expired_token or access_denied (400).", "device", public=True,
             request_schema=S.DEVICE_TOKEN_REQUEST, response_schema=S.DEVICE_TOKEN, errors=(400, 422)),
    ApiRoute("/api/webhooks/clerk", "POST", clerk_webhook,
             "Clerk user.created/updated/deleted, Svix-signed; idempotent by svix-id.", "webhooks", public=True,
             raw_body=True, response_schema=S.WEBHOOK_RESULT, errors=(400, 409, 422, 503)),
]


def _run(route: ApiRoute, call: ApiCall) -> Any:
    _check(route, call)
    return route.handler(call)


def _check(route: ApiRoute, call: ApiCall) -> None:
    """Authentication (unless public) and the JSON body, parsed and validated."""
    if not route.public and call.principal is None:
        call.principal = authenticate_bearer(call.core, call.request.headers)
        call.request.scope[USER_ID_SCOPE_KEY] = str(call.principal.user_id)
    if route.request_schema is not None and not route.raw_body:
        if call.body.strip():
            call.data = parse_json(call.body)  # depth, lone surrogates, NUL: 422 here, not 500 deeper in
        else:
            call.data = {}
        validate_json(call.data, route.request_schema)


def _endpoint(route: ApiRoute) -> Callable[[Request], Any]:
    if route.stream:
        return _stream_endpoint(route)

    async def endpoint(request: Request) -> Response:
        body = await request.body() if request.method in BODY_METHODS else b""
        call = ApiCall(core=request.app.state.core, request=request, body=body)
        result = None
        if route.inline:
            result = _run(route, call)
        elif route.fast is not None:
            token = bearer_token(request.headers)
            principal = call.core.tokens.cached(token) if token else None
            if principal is not None:
                call.principal = principal
                request.scope[USER_ID_SCOPE_KEY] = str(principal.user_id)
                result = route.fast(call)
        if result is None and route.prepare is not None:
            await in_thread(request, _check, route, call)
            await route.prepare(call)
            result = await in_thread(request, route.handler, call)
        elif result is None:
            result = await in_thread(request, _run, route, call)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=route.status)

    endpoint.__name__ = route.name
    return endpoint


async def in_thread(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (the database) on the app's thread pool, keeping the request's context
    (its request id for logs). A plain executor hop costs about 100 µs, anyio's about 250 µs."""
    executor = getattr(request.app.state, "executor", None)
    if executor is None:
        return await run_in_threadpool(fn, *args)
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(context.run, fn, *args))


def _stream_endpoint(route: ApiRoute) -> Callable[[Request], Any]:
    """A route whose coroutine handler reads the body itself; authenticated before any byte is read."""

    async def endpoint(request: Request) -> Response:
        call = ApiCall(core=request.app.state.core, request=request, body=b"")
        if not route.public:
            call.principal = await in_thread(request, authenticate_bearer, call.core, request.headers)
            request.scope[USER_ID_SCOPE_KEY] = str(call.principal.user_id)
        result = await route.handler(call)
        return result if isinstance(result, Response) else JSONResponse(result, status_code=route.status)

    endpoint.__name__ = route.name
    return endpoint


def build_routes(routes: list[ApiRoute]) -> list[Route]:
    """Starlette routes for the table; one Route per path with all its methods."""
    by_path: dict[str, list[ApiRoute]] = {}
    for route in routes:
        by_path.setdefault(route.path, []).append(route)
    out: list[Route] = []
    for path, group in by_path.items():
        if len(group) == 1:
            out.append(Route(path, _endpoint(group[0]), methods=[group[0].method], name=group[0].name))
            continue
        handlers = {r.method: _endpoint(r) for r in group}

        async def dispatch(request: Request, handlers: dict[str, Any] = handlers) -> Response:
            handler = handlers[request.method if request.method != "HEAD" else "GET"]
            response: Response = await handler(request)
            return response

        out.append(Route(path, dispatch, methods=list(handlers), name="+".join(r.name for r in group)))
    return out


# The media library (issue 4) declares its routes with the helpers above.
from .api_media import MEDIA_ROUTES  # noqa: E402

API_ROUTES.extend(MEDIA_ROUTES)
