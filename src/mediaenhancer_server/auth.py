"""Who is calling: bearer tokens for the API, a session cookie and CSRF for the pages.

``Authorization: Bearer <token>`` carries either a personal API token (``me_...``) or,
when an identity provider is configured, one of its JWTs. Anything else is 401.

Pages use a session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and every form
carries a CSRF token derived from the session secret (before sign-in, from a random
``me_csrf`` cookie); a cross-site ``Origin`` header is refused as well.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from mediaenhancer_core.accounts.identity import looks_like_jwt
from mediaenhancer_core.accounts.security import constant_time_equals
from mediaenhancer_core.accounts.tokens import looks_like_api_token
from mediaenhancer_core.accounts.users import Principal
from mediaenhancer_core.errors import ForbiddenError, UnauthorizedError
from mediaenhancer_core.services import Core

__all__ = [
    "authenticate_bearer",
    "bearer_token",
    "SESSION_COOKIE",
    "CSRF_COOKIE",
    "csrf_token_for",
    "check_csrf",
    "set_session_cookie",
    "clear_session_cookie",
    "client_ip",
    "safe_next",
]

SESSION_COOKIE = "me_session"
CSRF_COOKIE = "me_csrf"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_bearer(core: Core, headers: Mapping[str, str]) -> Principal:
    """The caller of an API request, or UnauthorizedError (answered as 401)."""
    token = bearer_token(headers)
    if token is None:
        raise UnauthorizedError(
            "missing bearer token: send 'Authorization: Bearer TOKEN' (get one with `mediaenhancer login`)"
        )
    if looks_like_api_token(token):
        return core.tokens.authenticate(token)
    if looks_like_jwt(token) and core.provider_tokens is not None:
        return core.provider_tokens.authenticate(token)
    raise UnauthorizedError("invalid bearer token; get one with `mediaenhancer login`")


def client_ip(request: Request) -> str:
    """The client address (uvicorn has already applied trusted proxy headers)."""
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# --- pages -------------------------------------------------------------------------


def _derive(kind: str, secret: str) -> str:
    return hashlib.sha256(f"mediaenhancer-csrf:{kind}:{secret}".encode()).hexdigest()


def _csrf_basis(request: Request) -> tuple[str, str] | None:
    """What this browser's CSRF token is derived from: its session (once signed in), else its
    anonymous ``me_csrf`` cookie (sign-in and sign-up forms)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session and 20 <= len(session) <= 200:
        return "session", session
    anonymous = request.cookies.get(CSRF_COOKIE) or request.scope.get("mediaenhancer.new_csrf")
    if anonymous and 20 <= len(anonymous) <= 100:
        return "anon", anonymous
    return None


def csrf_token_for(request: Request) -> str:
    """The CSRF token for forms on this page. It is derived from the browser's session secret
    (or, before sign-in, from a random ``me_csrf`` cookie), never equal to a cookie: a cookie an
    attacker managed to set (a sibling subdomain can) does not give them a token that works
    with the victim's session (issue 12: it used to be any cookie the client chose)."""
    basis = _csrf_basis(request)
    if basis is None:
        request.scope["mediaenhancer.new_csrf"] = secrets.token_urlsafe(32)
        basis = _csrf_basis(request)
        assert basis is not None
    return _derive(*basis)


def attach_csrf_cookie(request: Request, response: Response) -> None:
    new = request.scope.get("mediaenhancer.new_csrf")
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=_secure(request), path="/")


def check_csrf(request: Request, submitted: str | None) -> None:
    basis = _csrf_basis(request) if request.scope.get("mediaenhancer.new_csrf") is None else None
    if basis is None or not submitted or not constant_time_equals(_derive(*basis), submitted):
        raise ForbiddenError("the form expired or came from another site; reload the page and try again")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin != own:
            raise ForbiddenError("cross-site form submission refused")


def set_session_cookie(request: Request, response: Response, secret: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=max_age, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def safe_next(value: str | None, default: str = "/account") -> str:
    """A same-site path to go back to after sign-in (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return default
    return value
