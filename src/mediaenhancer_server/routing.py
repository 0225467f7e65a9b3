"""How a declared API route becomes a Starlette endpoint.

An :class:`ApiRoute` names its path, method, handler, summary and the typed models of
its request and response (``bodies.py``, ``responses.py``). From that one declaration :func:`build_routes` builds the
Starlette route (authentication first unless ``public``; the body validated against the
request schema) and ``openapi.py`` builds the OpenAPI document, so the two cannot drift.

Handlers are plain functions run in the thread pool (the database is synchronous);
each gets an :class:`ApiCall` and returns JSON-able data or a Response. The route tables
(``api.py``, ``api_media.py``, ``api_jobs.py``, ``api_billing.py``) import this module
and ``app.py`` assembles them: no module imports another's table.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaenhancer_core.accounts.users import Principal
from mediaenhancer_core.errors import NotFoundError, ValidationError
from mediaenhancer_core.jsonbody import parse_json
from mediaenhancer_core.services import Core

from .auth import authenticate_bearer, bearer_token
from .bodies import Body, validate_body
from .middleware import USER_ID_SCOPE_KEY

__all__ = ["ApiRoute", "ApiCall", "build_routes", "in_thread", "PAGE_QUERY"]

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
    request_model: type[Body] | None = None  # the JSON body's model (bodies.py): validated, documented
    response_model: type[BaseModel] | None = None  # the JSON answer's model (responses.py): documented, tested
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


def _run(route: ApiRoute, call: ApiCall) -> Any:
    _check(route, call)
    return route.handler(call)


def _check(route: ApiRoute, call: ApiCall) -> None:
    """Authentication (unless public) and the JSON body, parsed and validated."""
    if not route.public and call.principal is None:
        call.principal = authenticate_bearer(call.core, call.request.headers)
        call.request.scope[USER_ID_SCOPE_KEY] = str(call.principal.user_id)
    if route.request_model is not None and not route.raw_body:
        data = parse_json(call.body) if call.body.strip() else {}  # depth, lone surrogates, NUL: 422 here
        call.data = validate_body(route.request_model, data)


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
