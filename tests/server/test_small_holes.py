"""Smaller holes of issue 12: an administrator's password reset ends the old sessions and tokens;
the CSRF token is tied to the session (not any cookie the client picks); SQL parameters never
reach the error logs. (Callback addresses and file modes have their own test files.)"""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from mediaenhancer_core.errors import UnauthorizedError

from .conftest import PASSWORD


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _sign_in(client, email: str) -> None:
    token = _csrf(client.get("/signin").text)
    answer = client.post(
        "/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303


# --- password reset -------------------------------------------------------------------------------------


def test_an_admin_password_reset_ends_sessions_and_revokes_tokens(client, core, make_account) -> None:
    account = make_account("reset@example.com")
    _sign_in(client, account.email)
    assert client.get("/account").status_code == 200
    assert client.get("/api/auth/me", headers=account.headers).status_code == 200  # cached from now on
    user = core.accounts.by_email(account.email)
    core.accounts.set_password(user.id, "a brand new passphrase")
    assert client.get("/account", follow_redirects=False).status_code == 303  # back to the sign-in page
    assert client.get("/api/auth/me", headers=account.headers).status_code == 401
    with pytest.raises(UnauthorizedError, match="revoked"):
        core.tokens.authenticate(account.token)


def test_the_admin_cli_says_what_a_reset_does(settings_env, core, make_account, monkeypatch) -> None:
    from mediaenhancer_server.cli import app

    account = make_account("cli-reset@example.com")
    for key, value in settings_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEDIAENHANCER_DATABASE_URL", core.db.url)
    result = CliRunner().invoke(
        app, ["users", "set-password", account.email, "--password-stdin"], input="another good passphrase\n"
    )
    assert result.exit_code == 0, result.output
    assert "tokens were revoked" in result.output
    core.accounts.cache.forget_user(account.id)
    with pytest.raises(UnauthorizedError, match="revoked"):
        core.tokens.authenticate(account.token)


# --- CSRF -------------------------------------------------------------------------------------------------


def test_a_csrf_cookie_chosen_by_the_client_gives_no_valid_token(client, make_account) -> None:
    make_account("csrf@example.com")
    chosen = "attacker-chosen-value-0123456789abcdef"
    client.cookies.set("me_csrf", chosen)
    answer = client.post("/signin", data={"email": "csrf@example.com", "password": PASSWORD, "csrf_token": chosen})
    assert answer.status_code == 403


def test_a_token_from_another_session_is_refused(app, client, make_account) -> None:
    from starlette.testclient import TestClient

    make_account("victim@example.com")
    make_account("attacker@example.com")
    _sign_in(client, "victim@example.com")
    with TestClient(app) as other:
        _sign_in(other, "attacker@example.com")
        attackers_token = _csrf(other.get("/account").text)
    refused = client.post("/account/tokens", data={"name": "planted", "csrf_token": attackers_token})
    assert refused.status_code == 403
    own = _csrf(client.get("/account").text)
    assert own != attackers_token
    assert client.post("/account/tokens", data={"name": "mine", "csrf_token": own}).status_code == 201


# --- SQL parameters in error logs --------------------------------------------------------------------------


def test_database_errors_do_not_carry_sql_parameters(core, caplog) -> None:
    secret_name = "Project Falcon launch plan"
    with pytest.raises(Exception) as info:
        with core.db.engine.connect() as conn:
            conn.execute(text("SELECT CAST(:name AS INTEGER) + no_such_column"), {"name": secret_name})
    assert secret_name not in str(info.value)
    assert "hidden due to hide_parameters" in str(info.value) or "parameters" not in str(info.value)


def test_an_unexpected_database_error_in_a_request_logs_no_parameters(
    client, core, make_account, caplog, monkeypatch
) -> None:
    account = make_account()
    secret_name = "Quarterly layoffs draft"

    def broken(user_id, data):  # a statement that fails inside the handler, with the user's text bound
        with core.db.engine.connect() as conn:
            conn.execute(text("SELECT no_such_column FROM users WHERE email = :e"), {"e": data["name"]})

    monkeypatch.setattr(core.library.projects, "create", broken)
    with caplog.at_level(logging.DEBUG, logger="mediaenhancer"):
        answer = client.post("/api/projects", json={"name": secret_name}, headers=account.headers)
    assert answer.status_code == 500 and secret_name not in answer.text
    logged = "\n".join(r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "") for r in caplog.records)
    assert "no_such_column" in logged  # the failure itself is logged ...
    assert secret_name not in logged  # ... without the values bound to it
