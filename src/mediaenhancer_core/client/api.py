"""A client for the account server's API, used by the `mediaenhancer` CLI.

Error bodies (``{"error": {"code", "message"}}``) become the same exception classes
the server raised, found by ``code``; a server that cannot be reached is
:class:`ServerUnreachableError`. :func:`device_login` runs the RFC 8628 polling loop.
httpx is imported lazily so the CLI starts fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mediaenhancer_core import errors as E
from mediaenhancer_core.errors import MediaEnhancerError

__all__ = ["ApiClient", "device_login", "error_from_body"]

_STATUS_FALLBACK: dict[int, type[MediaEnhancerError]] = {
    400: E.ValidationError,
    401: E.UnauthorizedError,
    403: E.ForbiddenError,
    404: E.NotFoundError,
    409: E.ConflictError,
    413: E.PayloadTooLargeError,
    422: E.ValidationError,
}


def _classes_by_code() -> dict[str, type[MediaEnhancerError]]:
    found: dict[str, type[MediaEnhancerError]] = {}
    pending: list[type[MediaEnhancerError]] = [MediaEnhancerError]
    while pending:  # breadth first: a subclass sharing its parent's code wins
        klass = pending.pop(0)
        found[klass.code] = klass
        pending.extend(klass.__subclasses__())
    return found


def error_from_body(status: int, body: Any) -> MediaEnhancerError:
    """The exception for an error answer of the server."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    message = str(message or f"the server answered HTTP {status}")
    klass = _classes_by_code().get(str(code)) if code else None
    if klass is None or klass is MediaEnhancerError:
        klass = _STATUS_FALLBACK.get(status, E.ServiceUnavailableError if status >= 500 else MediaEnhancerError)
    if issubclass(klass, E.RateLimitedError):
        return klass(message, retry_after=int(body.get("retry_after", 60)) if isinstance(body, dict) else 60)
    if issubclass(klass, E.ValidationError):
        return klass(message, field=error.get("field") if isinstance(error, dict) else None)
    return klass(message)


RETRY_CAP = 30.0  # seconds: the longest a 503's Retry-After makes the CLI wait before one retry


def _retry_delay(header: str | None, attempt: int) -> float:
    backoff = float(2 ** (attempt - 1))
    try:
        asked = float(header) if header is not None else None
    except ValueError:
        asked = None
    if asked is None or not asked >= 0:
        return backoff
    return min(max(asked, backoff), RETRY_CAP)


class ApiClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: Any = None,
        timeout: float = 30.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx  # noqa: PLC0415 - lazy: keeps `mediaenhancer --help` fast

        from mediaenhancer_core import __version__  # noqa: PLC0415

        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self._sleep = sleep
        self._httpx = httpx
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"mediaenhancer-cli/{__version__}", "Accept": "application/json"},
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        auth: bool = True,
        content: Any = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Any:
        """One call; ``content`` (bytes or an iterator of bytes, streamed) instead of ``json`` for uploads."""
        headers = dict(extra_headers or {})
        if auth:
            if not self.token:
                raise E.NotLoggedInError("not logged in; run `mediaenhancer login` or set MEDIAENHANCER_TOKEN")
            headers["Authorization"] = f"Bearer {self.token}"
        replayable = content is None or isinstance(content, (bytes, bytearray, str))
        attempt = 0
        while True:
            try:
                response = self._client.request(method, path, json=json, content=content, headers=headers)
            except self._httpx.TransportError as exc:
                raise E.ServerUnreachableError(
                    f"cannot reach the server at {self.base_url} ({exc.__class__.__name__}); check --server or "
                    "MEDIAENHANCER_SERVER_URL, or start one with `mediaenhancer-server`"
                ) from None
            retry_after = response.headers.get("retry-after")
            if response.status_code != 503 or retry_after is None or attempt >= self.retries or not replayable:
                break
            # a 503 with Retry-After: the server's database or storage is briefly unavailable and
            # nothing was applied (a 503 without it, e.g. billing not configured, is not retried);
            # wait as asked (Retry-After, at most RETRY_CAP seconds) or back off 1, 2, 4 s
            attempt += 1
            self._sleep(_retry_delay(retry_after, attempt))
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = error_from_body(response.status_code, body)
            if isinstance(error, E.RateLimitedError):
                error.retry_after = int(response.headers.get("retry-after", error.retry_after))
            raise error
        if body is None:
            raise E.ServiceUnavailableError(
                f"{self.base_url}{path} did not answer JSON; is --server the account server?"
            )
        return body

    @property
    def http(self) -> Any:
        """The underlying httpx.Client (downloads from signed URLs, which need no token)."""
        return self._client

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


def device_login(
    client: ApiClient,
    *,
    client_name: str,
    show_code: Callable[[dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> str:
    """Run the device flow: ask for a code, let the caller show it, poll until a token."""
    start = client.post("/api/device/code", {"client_name": client_name}, auth=False)
    show_code(start)
    interval = float(start.get("interval", 5))
    deadline = monotonic() + float(start.get("expires_in", 600))
    while True:
        sleep(interval)
        if monotonic() > deadline:
            raise E.DeviceCodeExpiredError("the login code expired; run `mediaenhancer login` again")
        try:
            answer = client.post("/api/device/token", {"device_code": start["device_code"]}, auth=False)
        except E.AuthorizationPendingError:
            continue
        except E.SlowDownError:
            interval += 5
            continue
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise E.ServiceUnavailableError("the server's device login answer has no token")
        return token
