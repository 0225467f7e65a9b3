"""The one table from core errors to HTTP statuses, and the JSON error body.

Every error answer is ``{"error": {"code": ..., "message": ...}}`` (plus ``field`` for
validation errors). Unexpected exceptions answer 500 with a generic message and are
logged with the request id; their text never reaches the client.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mediaenhancer_core import errors as E

__all__ = ["STATUS_TABLE", "status_for", "error_response", "exception_handlers", "internal_error_response"]

log = logging.getLogger("mediaenhancer.server")

# Most specific first: the first match wins.
STATUS_TABLE: list[tuple[type[E.MediaEnhancerError], int]] = [
    # media library, storage and quotas (issue 4): ahead of their parents' rows
    (E.QuotaExceededError, 402),
    (E.LengthRequiredError, 411),
    (E.NotMediaError, 415),
    (E.NoStreamsError, 415),
    (E.RangeNotSatisfiableError, 416),
    (E.StorageError, 503),
    # Gemini (issue 7): no key or a rejected one, and quota, are the server's problem, not the user's
    (E.AINotConfiguredError, 503),
    (E.AIKeyRejectedError, 503),
    (E.AIQuotaError, 503),
    (E.AIError, 502),
    (E.ProjectError, 422),
    (E.DeviceFlowError, 400),
    (E.WebhookSignatureError, 400),
    (E.AuthError, 401),
    (E.ForbiddenError, 403),
    (E.NotFoundError, 404),
    (E.ConflictError, 409),
    (E.PayloadTooLargeError, 413),
    (E.ValidationError, 422),
    (E.MissingExtraError, 503),  # issue 15: the server lacks an optional package (e.g. [s3]); the operator's to fix
    (E.ConfigError, 422),
    (E.PlanError, 422),
    (E.PresetError, 422),
    (E.InputError, 422),
    (E.RateLimitedError, 429),
    (E.DatabaseError, 503),
    (E.ServiceUnavailableError, 503),
    (E.BillingError, 503),  # no Stripe key or price (billing_not_configured), or Stripe failed
]

RETRY_AFTER_SECONDS = 5  # what a transient 503 (database, storage) asks clients to wait
TRANSIENT: tuple[type[E.MediaEnhancerError], ...] = (E.DatabaseError, E.StorageError, E.TempDirError)
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def status_for(exc: E.MediaEnhancerError) -> int:
    for klass, status in STATUS_TABLE:
        if isinstance(exc, klass):
            return status
    return 500


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _core_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, E.MediaEnhancerError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, E.RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, TRANSIENT):  # a retry soon may succeed (clients back off on Retry-After)
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="mediaenhancer"'
    if status >= 500:
        log.error("request failed: %s", exc.message, extra={"error_code": exc.code})
    return error_response(
        status, exc.code, exc.message, headers=headers, field=getattr(exc, "field", None), **getattr(exc, "details", {})
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see GET /api/openapi.json for the API"
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


def internal_error_response() -> JSONResponse:
    """The answer to an unexpected exception (sent by the request middleware, which logs it)."""
    return error_response(
        500, "internal_error", "internal server error; the request id in X-Request-ID helps the administrator"
    )


exception_handlers: dict[Any, Any] = {
    E.MediaEnhancerError: _core_error,
    HTTPException: _http_error,
}
