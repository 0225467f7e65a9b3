"""Password hashing with argon2id (argon2-cffi).

:class:`Passwords` hashes and verifies; verifying against an unknown account still
spends the time of one real verification (``verify_or_waste``) so response times do
not tell which emails have accounts.
"""

from __future__ import annotations

import threading

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import ValidationError

__all__ = ["Passwords", "MIN_PASSWORD_LENGTH", "MAX_PASSWORD_LENGTH", "validate_password"]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: use at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"password: use at most {MAX_PASSWORD_LENGTH} characters", field="password")


class Passwords:
    """argon2id with the library's recommended parameters (RFC 9106 low-memory profile).

    Tests pass ``argon2.profiles.CHEAPEST`` to keep sign-ups fast.
    """

    def __init__(self, parameters: argon2.Parameters | None = None) -> None:
        self._hasher = (
            argon2.PasswordHasher.from_parameters(parameters) if parameters else argon2.PasswordHasher()
        )
        self._dummy: str | None = None  # made on first use: each hash takes the profile's memory (64 MiB)
        self._lock = threading.Lock()

    def _dummy_hash(self) -> str:
        with self._lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash("not a password: equalises the time of failed look-ups")
            return self._dummy

    def hash(self, password: str) -> str:
        validate_password(password)
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_or_waste(self, password_hash: str | None, password: str) -> bool:
        """Verify, or spend the same time and fail when there is no hash to check."""
        if password_hash is None:
            self.verify(self._dummy_hash(), password)
            return False
        return self.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
