"""The attempt counters are purged by the maintenance round (issue 15): before, nothing called
``purge_expired`` and the sign_in_throttle table grew with every address that ever tried.
Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mediaenhancer_core.db.models import SignInThrottle
from mediaenhancer_core.errors import InvalidCredentialsError

from .conftest import PASSWORD


def _keys(core) -> list[str]:
    with core.db.session() as session:
        return sorted(session.scalars(select(SignInThrottle.key)))


def _wrong_password(core, ip: str) -> None:
    with pytest.raises(InvalidCredentialsError):
        core.accounts.sign_in("someone@example.com", "not the password", client_ip=ip)


def test_a_round_deletes_counters_whose_window_ended_and_keeps_running_ones(core, clock) -> None:
    core.accounts.create_user("someone@example.com", PASSWORD)
    _wrong_password(core, "192.0.2.1")
    core.accounts.sign_up("new@example.com", PASSWORD, client_ip="192.0.2.2")
    old = _keys(core)
    assert old == ["acct:someone@example.com|ip:192.0.2.1", "ip:192.0.2.1", "signup-ip:192.0.2.2"]
    age = timedelta(seconds=core.settings.upload_stale_seconds)

    assert core.maintenance_round(older_than=age).expired_throttle_rows == 0
    assert _keys(core) == old

    # past the sign-in window (900 s) but inside the sign-up window (3600 s): the sign-up counter
    # must still count, so nothing of it is forgotten
    clock.advance(core.settings.signin_window_seconds + 60)
    core.maintenance_round(older_than=age)
    assert "signup-ip:192.0.2.2" in _keys(core)

    clock.advance(core.settings.abuse_window_seconds)
    _wrong_password(core, "198.51.100.7")  # a counter whose window has just started
    report = core.maintenance_round(older_than=age)
    assert report.expired_throttle_rows == 3
    assert report.to_dict()["expired_throttle_rows"] == 3
    assert _keys(core) == ["acct:someone@example.com|ip:198.51.100.7", "ip:198.51.100.7"]
