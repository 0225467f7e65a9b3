"""Completion callbacks: a signed POST to the user's URL when a job ends, retried with backoff.

Signed with `Standard Webhooks <https://www.standardwebhooks.com/>`_ (the scheme Svix and
Clerk use), so receivers can check it with any off-the-shelf library: the headers
``webhook-id`` (the job's id, the same on every retry), ``webhook-timestamp`` (unix seconds)
and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``), keyed
with the user's ``whsec_…`` signing secret::

    from standardwebhooks import Webhook
    payload = Webhook(signing_secret).verify(request_body, request.headers)

Each user's secret is derived from the server's key (HMAC of the user id), shown to the
user by ``GET /api/users/callback``; nothing per user is stored. URLs must be http(s); by
default they may not point into private or loopback networks (the server would otherwise
be a way into its own network).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from mediaenhancer_core.errors import ValidationError
from mediaenhancer_core.jobs.service import JobService, JobView

__all__ = [
    "sign",
    "verify",
    "user_secret",
    "check_callback_url",
    "CallbackSender",
    "SIGNATURE_HEADER",
    "resolve_host",
    "resolve_host_async",
    "is_public_address",
]

log = logging.getLogger("mediaenhancer.jobs")
SIGNATURE_HEADER = "webhook-signature"  # Standard Webhooks; with webhook-id and webhook-timestamp


def user_secret(server_key: bytes, user_id: uuid.UUID) -> str:
    """The user's signing secret, in the Standard Webhooks form ``whsec_<base64 key>``."""
    key = hmac.new(server_key, b"callback-secret:" + user_id.bytes, hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


def sign(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    from standardwebhooks.webhooks import Webhook  # noqa: PLC0415 - only deliveries need it

    t = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(t, UTC), body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(t), "webhook-signature": signature}


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a delivery carries a valid, fresh (5 minutes) signature of these exact bytes."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError  # noqa: PLC0415

    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError:
        return False
    return True


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
    (::a.b.c.d), NAT64 (64:ff9b::/96, RFC 6052; 64:ff9b:1::/48, RFC 8215), 6to4 (2002::/16) and
    Teredo (2001::/32, its server and client)."""
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE or any(ip in net for net in _NAT64):
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_public_address(addr: str) -> bool:
    """Globally routable, not multicast, and so is every IPv4 address it embeds (a NAT64 or 6to4
    address of 127.0.0.1 reaches 127.0.0.1 through a translator)."""
    ip = ipaddress.ip_address(addr.split("%")[0])
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates.extend(embedded_ipv4(ip))
    return all(c.is_global and not c.is_multicast for c in candidates)


# DNS lookups of callback hosts run here, never on the threads that serve database work: a slow
# name server then holds up only other lookups (issue 12: 20 slow lookups delayed another user's
# GET by 3.8 s). Waits are bounded by callback_dns_timeout_seconds.
DNS_THREADS = 8
_dns_pool = ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="mediaenhancer-dns")
DEFAULT_DNS_TIMEOUT = 3.0


def _getaddrinfo(host: str) -> list[str]:
    return [str(ai[4][0]) for ai in socket.getaddrinfo(host, None)]


def _unresolvable(host: str) -> ValidationError:
    return ValidationError(f"callback_url: cannot resolve {host}; check the name", field="callback_url")


def _too_slow(host: str, timeout: float) -> ValidationError:
    return ValidationError(
        f"callback_url: {host} did not resolve within {timeout:g} s; check the name", field="callback_url"
    )


def resolve_host(host: str, timeout: float = DEFAULT_DNS_TIMEOUT) -> list[str]:
    """The addresses of ``host``, looked up on the DNS threads; ValidationError after ``timeout``."""
    future = _dns_pool.submit(_getaddrinfo, host)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise _too_slow(host, timeout) from None
    except (OSError, UnicodeError):  # socket.gaierror: no such name; UnicodeError: not a valid IDNA name
        raise _unresolvable(host) from None


async def resolve_host_async(host: str, timeout: float = DEFAULT_DNS_TIMEOUT) -> list[str]:
    """:func:`resolve_host` for the event loop: the request waits, no thread of the app does."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_dns_pool, _getaddrinfo, host)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise _too_slow(host, timeout) from None
    except (OSError, UnicodeError):
        raise _unresolvable(host) from None


def _resolve(host: str) -> list[str]:
    return resolve_host(host)


def check_callback_url(
    url: str, *, allow_private: bool = False, resolve: Callable[[str], list[str]] | None = None
) -> str:
    """Validate a user's callback URL and return the address to connect to; raises ValidationError.

    Unless ``allow_private``, every address the name resolves to must be globally routable
    (no private, loopback, link-local, carrier-grade NAT or other special range), and the
    caller connects to the returned address itself, so a second lookup cannot be steered
    elsewhere (DNS rebinding)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise ValidationError("callback_url: must be an http(s) URL", field="callback_url")
    if parts.username or parts.password:
        raise ValidationError("callback_url: must not carry credentials", field="callback_url")
    try:
        addresses = (resolve or _resolve)(parts.hostname)
    except OSError:
        raise ValidationError(f"callback_url: cannot resolve {parts.hostname}", field="callback_url") from None
    if not addresses:
        raise ValidationError(f"callback_url: cannot resolve {parts.hostname}", field="callback_url")
    if not allow_private:
        for addr in addresses:
            if not is_public_address(addr):
                raise ValidationError(
                    f"callback_url: {parts.hostname} is a private or local address; use a public URL",
                    field="callback_url",
                )
    return addresses[0]


def payload(job: JobView) -> dict[str, Any]:
    return {
        "type": "job.finished",
        "job": {
            "id": str(job.id),
            "type": job.type,
            "status": job.status,
            "progress": job.progress,
            "error": job.error,
            "media_id": str(job.media_id) if job.media_id else None,
            "project_id": str(job.project_id) if job.project_id else None,
            "result_media_id": str(job.result_media_id) if job.result_media_id else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
    }


class CallbackSender:
    """Posts the signed payload; on failure schedules the next attempt through the queue."""

    def __init__(
        self,
        service: JobService,
        server_key: bytes,
        schedule: Callable[[uuid.UUID, int, float], None],
        *,
        timeout: float = 10.0,
        max_attempts: int = 6,
        base_delay: float = 5.0,
        allow_private: bool = False,
        post: Callable[[str, str, bytes, dict[str, str], float], int] | None = None,
        dns_timeout: float = DEFAULT_DNS_TIMEOUT,
    ) -> None:
        self.service = service
        self.server_key = server_key
        self.schedule = schedule
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.allow_private = allow_private
        self._post = post or _httpx_post
        self.dns_timeout = dns_timeout

    def deliver(self, job_id: str, attempt: int) -> bool:
        job = self.service.load(uuid.UUID(job_id))
        if job is None or not job.callback_url:
            return True
        body = json.dumps(payload(job), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "mediaenhancer-callbacks",
            **sign(user_secret(self.server_key, job.user_id), str(job.id), body),
            "MediaEnhancer-Delivery": f"{job.id}/{attempt}",
        }
        try:
            address = check_callback_url(
                job.callback_url,
                allow_private=self.allow_private,
                resolve=lambda host: resolve_host(host, self.dns_timeout),
            )
            status = self._post(job.callback_url, address, body, headers, self.timeout)
            ok = 200 <= status < 300
            why = f"HTTP {status}"
        except ValidationError as exc:
            log.warning("job %s: callback not sent: %s", job.id, exc.message)
            return False
        except Exception as exc:  # noqa: BLE001 - any network failure is retried
            ok, why = False, f"{type(exc).__name__}: {exc}"
        if ok:
            log.info("job %s: callback delivered (attempt %d)", job.id, attempt)
            return True
        if attempt < self.max_attempts:
            delay = self.base_delay * (2 ** (attempt - 1))
            log.warning("job %s: callback attempt %d failed (%s); next in %.0f s", job.id, attempt, why, delay)
            self.schedule(job.id, attempt + 1, delay)
        else:
            log.warning("job %s: callback failed %d times (%s); giving up", job.id, attempt, why)
        return False


def _httpx_post(url: str, address: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST to ``url`` connecting to the checked ``address`` (TLS still verifies the host name)."""
    import httpx  # noqa: PLC0415

    parts = urlsplit(url)
    host = parts.hostname or ""
    ip = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    pinned = parts._replace(netloc=f"{ip}{port}").geturl()
    request_headers = {**headers, "Host": f"{host}{port}"}
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        request = client.build_request(
            "POST",
            pinned,
            content=body,
            headers=request_headers,
            extensions={"sni_hostname": host} if parts.scheme == "https" else None,
        )
        return client.send(request).status_code
