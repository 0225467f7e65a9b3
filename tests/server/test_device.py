"""Device authorization (RFC 8628 style) in the core."""

from __future__ import annotations

import pytest

from mediaenhancer_core.accounts.security import USER_CODE_ALPHABET
from mediaenhancer_core.errors import (
    AccessDeniedError,
    AuthorizationPendingError,
    DeviceCodeExpiredError,
    NotFoundError,
    SlowDownError,
    ValidationError,
)


def test_approved_device_gets_a_working_token_exactly_once(core, make_account, clock) -> None:
    account = make_account()
    principal = core.tokens.authenticate(account.token)
    start = core.devices.start("mediaenhancer CLI on laptop")
    assert len(start.user_code) == 9 and start.user_code[4] == "-"
    assert set(start.user_code.replace("-", "")) <= set(USER_CODE_ALPHABET)
    with pytest.raises(AuthorizationPendingError):
        core.devices.poll(start.device_code)
    pending = core.devices.pending(start.user_code.lower().replace("-", " "), user_id=account.id)  # typed loosely
    assert pending.client_name == "mediaenhancer CLI on laptop"
    core.devices.approve(start.user_code, principal)
    clock.advance(start.interval)
    token = core.devices.poll(start.device_code)
    assert core.tokens.authenticate(token).user_id == account.id
    names = {t.name: t.source for t in core.tokens.list(account.id)}
    assert names["mediaenhancer CLI on laptop"] == "device"
    clock.advance(start.interval)
    with pytest.raises(DeviceCodeExpiredError):  # a second exchange gets nothing
        core.devices.poll(start.device_code)
    with pytest.raises(NotFoundError):  # and the code cannot be approved again
        core.devices.approve(start.user_code, principal)


def test_polling_faster_than_the_interval_slows_down(core, clock) -> None:
    start = core.devices.start("cli")
    with pytest.raises(AuthorizationPendingError):
        core.devices.poll(start.device_code)
    with pytest.raises(SlowDownError, match=str(start.interval + 5)):
        core.devices.poll(start.device_code)
    clock.advance(start.interval + 1)  # the interval grew to interval + 5: still too fast
    with pytest.raises(SlowDownError):
        core.devices.poll(start.device_code)
    clock.advance(start.interval + 11)
    with pytest.raises(AuthorizationPendingError):
        core.devices.poll(start.device_code)


def test_denied_and_expired_codes(core, make_account, clock) -> None:
    principal = core.tokens.authenticate(make_account().token)
    denied = core.devices.start("cli")
    core.devices.deny(denied.user_code, principal)
    with pytest.raises(AccessDeniedError):
        core.devices.poll(denied.device_code)
    expired = core.devices.start("cli")
    clock.advance(core.settings.device_code_ttl_seconds + 1)
    with pytest.raises(NotFoundError):
        core.devices.pending(expired.user_code, user_id=principal.user_id)
    with pytest.raises(NotFoundError):
        core.devices.approve(expired.user_code, principal)
    with pytest.raises(DeviceCodeExpiredError):
        core.devices.poll(expired.device_code)


def test_unknown_codes(core, make_account) -> None:
    user_id = make_account().id
    with pytest.raises(DeviceCodeExpiredError):
        core.devices.poll("med_not-a-real-code")
    with pytest.raises(DeviceCodeExpiredError):
        core.devices.poll("anything")
    with pytest.raises(NotFoundError):
        core.devices.pending("BCDF-GHJK", user_id=user_id)
    with pytest.raises(ValidationError):
        core.devices.pending("ABC", user_id=user_id)


# --- RFC 8628 section 5.1: guessing and creation are limited (issue 12) ----------------------------------


def test_user_code_guesses_are_limited_per_user(core, make_account) -> None:
    from mediaenhancer_core.errors import RateLimitedError

    account = make_account()
    principal = core.tokens.authenticate(account.token)
    live = core.devices.start("cli")
    limit = core.settings.device_code_max_guesses
    for i in range(limit):
        with pytest.raises(NotFoundError):
            core.devices.pending("BCDF-GHJ" + "BCDFGHJKLMNPQRSTVWXZ"[i % 20], user_id=account.id)
    with pytest.raises(RateLimitedError):  # even the live code: the guesses are used up
        core.devices.pending(live.user_code, user_id=account.id)
    with pytest.raises(RateLimitedError):
        core.devices.approve(live.user_code, principal)
    other = make_account()  # another user is not blocked by this one's guesses
    assert core.devices.pending(live.user_code, user_id=other.id).client_name == "cli"


def test_a_right_code_does_not_use_up_a_guess(core, make_account) -> None:
    account = make_account()
    for _ in range(core.settings.device_code_max_guesses + 3):
        start = core.devices.start("cli", client_ip="10.3.3.3")
        core.devices.pending(start.user_code, user_id=account.id)


def test_code_creation_is_limited_per_address(client, core) -> None:
    limit = core.settings.device_code_ip_max
    for _ in range(limit):
        assert client.post("/api/device/code", json={}).status_code == 200
    refused = client.post("/api/device/code", json={})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["code"] == "rate_limited"
