"""Password hashing with argon2id (argon2-cffi).

:class:`Passwords` hashes and verifies; verifying against an unknown account still
spends the time of one real verification (``verify_or_waste``) so response times do
not tell which emails have accounts.
"""

from __future__ import annotations

import threading

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mediaenhancer_core.errors import ValidationError

__all__ = ["Passwords", "MIN_PASSWORD_LENGTH", "MAX_PASSWORD_LENGTH", "validate_password"]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MIN_STRENGTH = 2  # zxcvbn's score 0-4; below 2 a password falls to fewer than a million guesses
STRENGTH_CHECK_CHARS = 100  # zxcvbn's work grows with length; a longer password is not a common one


def validate_password(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """Length limits, and no common or guessable password (issue 12: `12345678` and `password`
    were accepted). Guessability is zxcvbn's estimate (Dropbox's model, maintained on PyPI as
    ``zxcvbn``): its frequency lists hold the passwords most often found in breaches, and it also
    sees keyboard walks, dates, repeats and the account's own email (``user_inputs``)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: use at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"password: use at most {MAX_PASSWORD_LENGTH} characters", field="password")
    if len(password) > STRENGTH_CHECK_CHARS:
        return
    from zxcvbn import zxcvbn  # noqa: PLC0415 - loads its word lists: only where passwords are set

    result = zxcvbn(password, user_inputs=[u for u in user_inputs if u])
    if result["score"] < MIN_STRENGTH:
        hint = (result.get("feedback") or {}).get("warning") or "it is too easy to guess"
        raise ValidationError(
            f"password: {hint.rstrip('.').lower() if hint else 'too easy to guess'}; "
            "use a longer one, e.g. a few unrelated words",
            field="password",
        )


class Passwords:
    """argon2id with the library's recommended parameters (RFC 9106 low-memory profile).

    Tests pass ``argon2.profiles.CHEAPEST`` to keep sign-ups fast.
    """

    def __init__(self, parameters: argon2.Parameters | None = None) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(parameters) if parameters else argon2.PasswordHasher()
        self._dummy: str | None = None  # made on first use: each hash takes the profile's memory (64 MiB)
        self._lock = threading.Lock()

    def _dummy_hash(self) -> str:
        with self._lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash("not a password: equalises the time of failed look-ups")
            return self._dummy

    def hash(self, password: str, *, user_inputs: tuple[str, ...] = ()) -> str:
        """The argon2id hash of a new password (refused when short or common)."""
        validate_password(password, user_inputs=user_inputs)
        return self._hasher.hash(password)

    def rehash(self, password: str) -> str:
        """A new hash of a password that was just verified (stronger parameters): no policy check,
        the user chose it under the rules of its time."""
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
