"""Every answer the in-process app gives in these tests is checked against its route's response
model (``mediaenhancer_server/responses.py``): a field the model requires but the answer lacks, a
wrong type, or a field no model declares fails the test that made the request."""

from __future__ import annotations

import functools
import re
from typing import Any

from starlette.routing import compile_path

from mediaenhancer_server.routing import ApiRoute

__all__ = ["check_response"]


@functools.lru_cache(maxsize=256)
def _pattern(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


def route_for(app: Any, method: str, path: str) -> ApiRoute | None:
    routes = getattr(getattr(app, "state", None), "api_routes", None)
    if not routes:
        return None
    method = "GET" if method == "HEAD" else method
    for route in routes:
        if route.method == method and _pattern(route.path).match(path):
            return route
    return None


def check_response(app: Any, response: Any) -> None:
    """Raise AssertionError when a JSON answer with the route's success status does not fit its model."""
    route = route_for(app, response.request.method, response.request.url.path)
    if route is None or route.response_model is None or response.status_code != route.status:
        return
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    from pydantic import ValidationError

    try:
        route.response_model.model_validate_json(response.content, strict=True)
    except ValidationError as exc:
        raise AssertionError(
            f"{route.method} {route.path}: the answer does not fit {route.response_model.__name__}: {exc}"
        ) from None
