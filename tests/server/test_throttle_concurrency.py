"""The sign-in throttle under real concurrency (issue 12): each attempt is counted in the
database before its password check, so parallel attempts cannot slip past the limit.

Before: 30 parallel wrong passwords for one account got 19 checks (limit 5), and 100 parallel
attempts from one address got 64 (limit 50). Threads here start together (a barrier) and each
check takes a while, as argon2 does, so the attempts really overlap. Both databases."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from argon2.profiles import CHEAPEST

from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.errors import InvalidCredentialsError, RateLimitedError

from .conftest import PASSWORD


class CountingPasswords(Passwords):
    """Counts password checks; each takes about as long as a real argon2 check."""

    def __init__(self) -> None:
        super().__init__(CHEAPEST)
        self.checks = 0
        self._count_lock = threading.Lock()

    def verify_or_waste(self, password_hash: str | None, password: str) -> bool:
        with self._count_lock:
            self.checks += 1
        time.sleep(0.05)  # widens the window a check-then-count limiter loses in
        return super().verify_or_waste(password_hash, password)


def _storm(core, attempts: list[tuple[str, str]], ip: str) -> dict[str, int]:
    barrier = threading.Barrier(len(attempts))
    outcome = {"checked": 0, "limited": 0, "other": 0}
    lock = threading.Lock()

    def one(attempt: tuple[str, str]) -> None:
        barrier.wait()
        try:
            core.accounts.sign_in(attempt[0], attempt[1], client_ip=ip)
            kind = "other"
        except InvalidCredentialsError:
            kind = "checked"
        except RateLimitedError:
            kind = "limited"
        with lock:
            outcome[kind] += 1

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        list(pool.map(one, attempts))
    return outcome


def test_parallel_wrong_passwords_for_one_account_are_checked_at_most_the_limit(core) -> None:
    core.accounts.create_user("target@example.com", PASSWORD)
    counting = CountingPasswords()
    core.accounts.passwords = counting
    limit = core.settings.signin_max_failures
    outcome = _storm(core, [("target@example.com", f"guess {i}") for i in range(30)], "10.1.1.1")
    assert counting.checks <= limit, outcome
    assert outcome["checked"] == counting.checks and outcome["limited"] == 30 - counting.checks
    assert outcome["checked"] >= 1  # the limiter lets the allowed attempts through


def test_parallel_attempts_from_one_address_are_checked_at_most_the_address_limit(core) -> None:
    counting = CountingPasswords()
    core.accounts.passwords = counting
    limit = core.settings.signin_ip_max_failures
    assert limit == 50
    outcome = _storm(core, [(f"spray{i}@example.com", "Winter2026!") for i in range(100)], "10.2.2.2")
    assert counting.checks <= limit, outcome
    assert outcome["limited"] == 100 - counting.checks and outcome["other"] == 0
