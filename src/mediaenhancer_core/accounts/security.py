"""Small security primitives shared by accounts, tokens, sessions and webhooks.

High-entropy secrets (API tokens, session cookies, device codes) are stored as their
SHA-256: a slow KDF adds nothing for 256-bit random values, and a lookup by hash keeps
the secret itself out of any comparison. Passwords use argon2 (``passwords.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = [
    "new_secret",
    "hash_secret",
    "constant_time_equals",
    "USER_CODE_ALPHABET",
    "new_user_code",
    "normalize_user_code",
    "format_user_code",
]

# RFC 8628 section 6.1: no vowels (no words), no easily confused characters.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    """A URL-safe random secret with a recognisable prefix (so leaks can be spotted by scanners)."""
    return prefix + secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    return hmac.compare_digest(a, b)


def new_user_code() -> str:
    """Eight letters, stored without a dash; shown as ``BCDF-GHJK``."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalize_user_code(raw: str) -> str:
    """What the user typed -> the stored form: upper case, letters only (dashes and spaces dropped)."""
    return "".join(ch for ch in raw.upper() if ch.isalpha())


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"
