"""Accounts in the core: emails, passwords, sign-in throttling, disabling, plans, profiles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mediaenhancer_core.db.models import User
from mediaenhancer_core.errors import (
    AccountDisabledError,
    ConflictError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
)

from .conftest import PASSWORD


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        ("  bob@example.org \n", "bob@example.org"),
        ("ｃａｔ@example.com", "cat@example.com"),
    ],
)
def test_emails_are_normalized(core, raw, normalized) -> None:
    assert core.accounts.create_user(raw, PASSWORD).email == normalized


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "a@b", "two@@example.com", "sp ace@example.com", "x" * 250 + "@example.com"]
)
def test_invalid_emails_are_refused(core, bad) -> None:
    with pytest.raises(ValidationError) as info:
        core.accounts.create_user(bad, PASSWORD)
    assert info.value.field == "email"


def test_one_account_per_email_whatever_the_case(core) -> None:
    core.accounts.create_user("dup@example.com", PASSWORD)
    with pytest.raises(ConflictError, match="already exists"):
        core.accounts.create_user("DUP@example.com", PASSWORD)


def test_passwords_are_stored_as_argon2id_hashes(core) -> None:
    user = core.accounts.create_user("hash@example.com", PASSWORD)
    with core.db.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_short_passwords_are_refused(core) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        core.accounts.create_user("short@example.com", "1234567")


def test_sign_in_checks_the_password(core) -> None:
    user = core.accounts.create_user("in@example.com", PASSWORD)
    assert core.accounts.sign_in("IN@example.com", PASSWORD, client_ip="10.0.0.1").user_id == user.id
    with pytest.raises(InvalidCredentialsError):
        core.accounts.sign_in("in@example.com", "wrong password", client_ip="10.0.0.1")
    with pytest.raises(InvalidCredentialsError):  # same answer for an unknown account
        core.accounts.sign_in("nobody@example.com", PASSWORD, client_ip="10.0.0.1")
    with pytest.raises(InvalidCredentialsError):  # a token-only account has no password to match
        core.accounts.create_user("tokenonly@example.com")
        core.accounts.sign_in("tokenonly@example.com", "", client_ip="10.0.0.1")


def test_repeated_failures_are_throttled_per_account_and_address(core, clock) -> None:
    core.accounts.create_user("victim@example.com", PASSWORD)
    limit = core.settings.signin_max_failures
    for _ in range(limit):
        with pytest.raises(InvalidCredentialsError):
            core.accounts.sign_in("victim@example.com", "guess", client_ip="10.0.0.9")
    with pytest.raises(RateLimitedError) as info:  # even the right password is refused now
        core.accounts.sign_in("victim@example.com", PASSWORD, client_ip="10.0.0.9")
    assert 0 < info.value.retry_after <= core.settings.signin_window_seconds
    # another address is not blocked by this one's failures
    assert core.accounts.sign_in("victim@example.com", PASSWORD, client_ip="10.0.0.10")
    clock.advance(core.settings.signin_window_seconds + 1)
    assert core.accounts.sign_in("victim@example.com", PASSWORD, client_ip="10.0.0.9")


def test_a_success_clears_the_account_counter(core) -> None:
    core.accounts.create_user("careless@example.com", PASSWORD)
    for _ in range(3):
        for _ in range(core.settings.signin_max_failures - 1):
            with pytest.raises(InvalidCredentialsError):
                core.accounts.sign_in("careless@example.com", "typo", client_ip="10.0.0.2")
        core.accounts.sign_in("careless@example.com", PASSWORD, client_ip="10.0.0.2")


def test_password_spraying_from_one_address_is_throttled(core, settings_env) -> None:
    from mediaenhancer_core.accounts.throttle import SignInLimiter
    from mediaenhancer_core.settings import Settings

    core.accounts.limiter = SignInLimiter(max_failures=5, ip_max_failures=3, window_seconds=60, clock=core.clock)
    for i in range(3):
        with pytest.raises(InvalidCredentialsError):
            core.accounts.sign_in(f"target{i}@example.com", "Winter2026!", client_ip="10.9.9.9")
    with pytest.raises(RateLimitedError):
        core.accounts.sign_in("target9@example.com", "Winter2026!", client_ip="10.9.9.9")
    assert Settings.load(settings_env).signin_ip_max_failures == 50  # the default is looser


def test_disabling_an_account_revokes_its_tokens_and_refuses_sign_in(core, make_account) -> None:
    account = make_account("gone@example.com")
    assert core.tokens.authenticate(account.token).user_id == account.id
    core.accounts.disable("Gone@example.com")
    with pytest.raises(UnauthorizedError, match="revoked"):
        core.tokens.authenticate(account.token)
    with pytest.raises(AccountDisabledError):
        core.accounts.sign_in("gone@example.com", PASSWORD, client_ip="10.0.0.3")
    core.accounts.enable("gone@example.com")
    assert core.accounts.sign_in("gone@example.com", PASSWORD, client_ip="10.0.0.3")


def test_set_plan_by_hand(core, make_account) -> None:
    account = make_account()
    assert core.accounts.profile(account.id)["plan"]["id"] == "starter"
    core.accounts.set_plan(account.email, "professional")
    assert core.accounts.profile(account.id)["plan"] == {"id": "professional", "name": "Professional"}
    core.accounts.set_plan(account.email, "creator")  # a second change updates the one subscription row
    assert core.accounts.profile(account.id)["plan"]["id"] == "creator"
    with pytest.raises(NotFoundError, match="starter, creator, professional"):
        core.accounts.set_plan(account.email, "platinum")


def test_profile_updates_are_validated(core, make_account) -> None:
    account = make_account()
    profile = core.accounts.update_profile(
        account.id, {"username": "  Ann  ", "avatar_url": "https://img.example/a.png"}
    )
    assert (profile["username"], profile["avatar_url"]) == ("Ann", "https://img.example/a.png")
    assert core.accounts.update_profile(account.id, {"avatar_url": None})["avatar_url"] is None
    assert core.accounts.profile(account.id)["username"] == "Ann"  # absent field kept
    for changes, field in [
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"username": "x" * 101}, "username"),
        ({"username": "bell\x07"}, "username"),
        ({"email": "new@example.com"}, "email"),
    ]:
        with pytest.raises(ValidationError) as info:
            core.accounts.update_profile(account.id, changes)
        assert info.value.field == field
