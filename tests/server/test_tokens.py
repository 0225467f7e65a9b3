"""API tokens: shown once, stored hashed, named, revocable, expiring, last-used time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mediaenhancer_core.accounts.security import hash_secret
from mediaenhancer_core.db.models import ApiToken
from mediaenhancer_core.errors import NotFoundError, UnauthorizedError, ValidationError


def test_tokens_are_stored_only_as_their_hash(core, make_account) -> None:
    account = make_account()
    with core.db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.user_id == account.id))
    assert row.token_hash == hash_secret(account.token)
    assert account.token not in (row.token_hash, row.prefix, row.name)
    assert account.token.startswith(row.prefix) and len(account.token) >= 40


def test_expired_tokens_are_refused(core, make_account, clock) -> None:
    account = make_account()
    _, secret = core.tokens.create(account.id, "short-lived", expires_in=timedelta(days=1))
    assert core.tokens.authenticate(secret).user_id == account.id
    clock.advance(86400 + 1)
    with pytest.raises(UnauthorizedError, match="expired"):
        core.tokens.authenticate(secret)
    listed = {t.name: core.tokens.to_dict(t) for t in core.tokens.list(account.id)}
    assert listed["short-lived"]["expired"] is True and listed["test"]["expired"] is False


def test_revoked_tokens_are_refused_and_leave_the_list(core, make_account) -> None:
    account = make_account()
    row, secret = core.tokens.create(account.id, "laptop")
    core.tokens.revoke(account.id, row.id)
    with pytest.raises(UnauthorizedError, match="revoked"):
        core.tokens.authenticate(secret)
    assert [t.name for t in core.tokens.list(account.id)] == ["test"]
    with pytest.raises(NotFoundError):  # twice is not found
        core.tokens.revoke(account.id, row.id)


def test_someone_elses_token_cannot_be_revoked(core, make_account) -> None:
    alice, bob = make_account(), make_account()
    bob_token = core.tokens.list(bob.id)[0]
    with pytest.raises(NotFoundError):
        core.tokens.revoke(alice.id, bob_token.id)
    assert core.tokens.authenticate(bob.token).user_id == bob.id


@pytest.mark.parametrize("bogus", ["", "me_", "me_" + "x" * 43, "ghp_" + "x" * 36, "me_" + "x" * 500])
def test_unknown_or_malformed_tokens_are_refused(core, bogus) -> None:
    with pytest.raises(UnauthorizedError):
        core.tokens.authenticate(bogus)


def test_last_used_is_recorded_at_most_once_a_minute(core, make_account, clock) -> None:
    account = make_account()
    token_id = core.tokens.authenticate(account.token).token_id

    def last_used():
        core.tokens.last_used.flush()  # written off the request, best effort (issue 12)
        with core.db.session() as s:
            return s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))

    first = last_used()
    assert first is not None
    clock.advance(30)
    core.tokens.authenticate(account.token)
    assert last_used() == first
    clock.advance(31)
    core.tokens.authenticate(account.token)
    assert last_used() > first


def test_the_last_used_writer_ends_with_the_server_and_keeps_its_write(app, core, make_account, clock) -> None:
    """Its thread ends when the app shuts down, after writing what was pending: a write after the
    engine is disposed would open a connection nobody closes (leaked psycopg connections)."""
    import threading

    from starlette.testclient import TestClient

    account = make_account()
    with core.db.session() as s:
        assert s.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == account.id)) is None
    with TestClient(app) as client:
        clock.advance(120)  # past the minute and the auth cache: this request records a use
        assert client.get("/api/auth/me", headers=account.headers).status_code == 200
    assert not [t for t in threading.enumerate() if t.name == "mediaenhancer-last-used"]
    with core.db.session() as s:
        when = s.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == account.id))
    assert when is not None


def test_token_names_are_required_and_bounded(core, make_account) -> None:
    account = make_account()
    for name in ["", "   ", "x" * 101, "tab\tname"]:
        with pytest.raises(ValidationError):
            core.tokens.create(account.id, name)
    with pytest.raises(ValidationError):
        core.tokens.create(account.id, "never", expires_in=timedelta(0))
    with pytest.raises(NotFoundError):
        core.tokens.revoke(account.id, uuid.uuid4())


def test_the_auth_cache_spares_the_database_and_forgets_on_change(core, make_account, clock, monkeypatch) -> None:
    account = make_account()
    first = core.tokens.authenticate(account.token)
    assert core.tokens.cached(account.token) == first
    queries: list[str] = []
    from sqlalchemy import event

    def count(*args) -> None:
        queries.append("q")

    event.listen(core.db.engine, "before_cursor_execute", count)
    try:
        assert core.tokens.authenticate(account.token) == first
        assert queries == []  # answered from the cache
        core.tokens.revoke(account.id, first.token_id)  # this process forgets at once
        with pytest.raises(UnauthorizedError):
            core.tokens.authenticate(account.token)
    finally:
        event.remove(core.db.engine, "before_cursor_execute", count)


def test_cached_tokens_still_expire_on_time(core, make_account, clock) -> None:
    account = make_account()
    _, secret = core.tokens.create(account.id, "brief", expires_in=timedelta(seconds=5))
    core.tokens.authenticate(secret)
    assert core.tokens.cached(secret) is not None
    clock.advance(6)  # sooner than auth_cache_seconds
    assert core.tokens.cached(secret) is None
    with pytest.raises(UnauthorizedError, match="expired"):
        core.tokens.authenticate(secret)


def test_changes_made_by_another_process_show_within_the_cache_time(core, make_account, clock, settings) -> None:
    from argon2.profiles import CHEAPEST

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.services import Core

    account = make_account()
    core.tokens.authenticate(account.token)
    other = Core.open(settings, db=core.db, passwords=Passwords(CHEAPEST), clock=clock)  # e.g. the admin CLI
    other.accounts.disable(account.email)
    assert core.tokens.authenticate(account.token).user_id == account.id  # still cached here
    clock.advance(settings.auth_cache_seconds + 1)
    with pytest.raises(UnauthorizedError):
        core.tokens.authenticate(account.token)
