"""Both command lines: `mediaenhancer-server` administration in-process, and the
`mediaenhancer` account commands against a live server on loopback."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import keyring.errors
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mediaenhancer_core.db.models import DeviceAuthorization
from mediaenhancer_core.exit_codes import ExitCode

runner = CliRunner()


# --- mediaenhancer-server ---------------------------------------------------------------------


@pytest.fixture
def server_cli(database, monkeypatch):
    from mediaenhancer_server.cli import app

    monkeypatch.setenv("MEDIAENHANCER_DATABASE_URL", database.url)

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run


def test_admin_commands(server_cli, core, client) -> None:
    created = server_cli("users", "create", "Admin@Example.com", "--password-stdin", input="a long password\n")
    assert created.exit_code == 0, created.output
    assert "created admin@example.com" in created.output
    assert core.accounts.sign_in("admin@example.com", "a long password", client_ip="127.0.0.1")
    assert server_cli("users", "create", "tokens-only@example.com").exit_code == 0  # no tty, no stdin: no password
    duplicate = server_cli("users", "create", "ADMIN@example.com", "--password-stdin", input="another password\n")
    assert duplicate.exit_code == ExitCode.CONFLICT and "already exists" in duplicate.output

    assert server_cli("users", "set-password", "admin@example.com", "--password-stdin", input="short\n").exit_code == (
        ExitCode.INVALID_REQUEST
    )
    assert (
        server_cli(
            "users", "set-password", "admin@example.com", "--password-stdin", input="a new long password\n"
        ).exit_code
        == 0
    )
    assert core.accounts.sign_in("admin@example.com", "a new long password", client_ip="127.0.0.1")

    assert server_cli("users", "set-plan", "admin@example.com", "creator").exit_code == 0
    unknown = server_cli("users", "set-plan", "admin@example.com", "platinum")
    assert unknown.exit_code == ExitCode.NOT_FOUND and "starter, creator, professional" in unknown.output

    listed = server_cli("users", "list", "--json")
    rows = {r["email"]: r for r in map(json.loads, listed.output.splitlines())}
    assert rows["admin@example.com"]["plan"] == "creator" and rows["tokens-only@example.com"]["plan"] == "starter"

    made = server_cli("tokens", "create", "admin@example.com", "--name", "ci", "--expires-days", "7")
    assert made.exit_code == 0
    token = made.output.strip().splitlines()[-1]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == "admin@example.com"

    assert server_cli("users", "disable", "admin@example.com").exit_code == 0
    # the admin command is another process: the server's token cache forgets within auth_cache_seconds
    core.clock.advance(core.settings.auth_cache_seconds + 1)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "disabled" in server_cli("users", "list").output
    assert server_cli("users", "disable", "nobody@example.com").exit_code == ExitCode.NOT_FOUND


def test_db_upgrade_and_current(server_cli) -> None:
    from mediaenhancer_core.db.migrate import head_revision

    head = head_revision()  # the newest migration of this version (0002 was the first head)
    upgrade = server_cli("db", "upgrade")
    assert upgrade.exit_code == 0 and f"already at {head}" in upgrade.output
    assert f"at {head}, newest {head}" in server_cli("db", "current").output


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_server_refuses_a_postgresql_database_that_is_behind(fresh_database_url, monkeypatch, backend) -> None:
    from mediaenhancer_server.cli import app

    monkeypatch.setenv("MEDIAENHANCER_DATABASE_URL", fresh_database_url("postgresql"))
    result = runner.invoke(app, ["users", "list"])
    assert result.exit_code == ExitCode.SERVER_UNAVAILABLE
    assert "run `mediaenhancer-server db upgrade`" in result.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["users", "list"]).exit_code == 0


def test_the_embedded_sqlite_database_creates_itself(tmp_path, monkeypatch, backend) -> None:
    from mediaenhancer_server.cli import app

    monkeypatch.setenv("MEDIAENHANCER_DATA_DIR", str(tmp_path / "fresh-data"))
    result = runner.invoke(app, ["users", "create", "first@example.com"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh-data" / "mediaenhancer.db").is_file()


# --- mediaenhancer account commands ----------------------------------------------------------


class MemoryKeyring:
    errors = keyring.errors

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.store.get((service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self.store[(service, user)] = password

    def delete_password(self, service: str, user: str) -> None:
        del self.store[(service, user)]


class NoKeyring:
    """What keyring's fail backend does on headless Linux."""

    errors = keyring.errors

    def get_password(self, *args: str) -> str | None:
        raise keyring.errors.NoKeyringError("No recommended backend was available.")

    set_password = delete_password = get_password  # type: ignore[assignment]


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "MEDIAENHANCER_DEVICE_POLL_INTERVAL_SECONDS": "1"}


@pytest.fixture
def cli(live_server, monkeypatch):
    from mediaenhancer_cli.app import app

    monkeypatch.setenv("MEDIAENHANCER_SERVER_URL", live_server.url)

    def run(*args: str, input: str | None = None, keyring_module: Any = None):
        from mediaenhancer_core.client import credentials

        monkeypatch.setattr(credentials, "_default_keyring", lambda: keyring_module or memory)
        return runner.invoke(app, list(args), input=input)

    memory = MemoryKeyring()
    run.keyring = memory  # type: ignore[attr-defined]
    return run


def test_login_with_token_whoami_usage_profile_tokens_logout(cli, make_account, core) -> None:
    account = make_account("cli@example.com")
    login = cli("login", "--with-token", input=account.token + "\n")
    assert login.exit_code == 0, login.output
    assert "as cli@example.com" in login.stdout and "keyring" in login.stdout
    assert list(cli.keyring.store.values()) == [account.token]

    whoami = cli("whoami", "--json")
    assert (
        json.loads(whoami.stdout)["email"] == "cli@example.com"
        and json.loads(whoami.stdout)["token_source"] == "keyring"
    )
    assert "plan Starter" in cli("whoami").stdout

    assert json.loads(cli("usage", "--json").stdout)["projects"] == {"used": 0, "limit": 10}
    assert "storage" in cli("usage").stdout

    assert cli("profile", "set", "--username", "Cli User").exit_code == 0
    assert json.loads(cli("profile", "show", "--json").stdout)["username"] == "Cli User"
    bad = cli("profile", "set", "--avatar-url", "not-a-url")
    assert bad.exit_code == ExitCode.INVALID_REQUEST and "--avatar-url" in bad.stderr

    created = cli("tokens", "create", "build server", "--expires-days", "3")
    assert created.exit_code == 0
    new_token = created.stdout.strip().splitlines()[-1]
    assert core.tokens.authenticate(new_token).user_id == account.id
    listed = json.loads(cli("tokens", "list", "--json").stdout)
    new_id = next(t["id"] for t in listed if t["name"] == "build server")
    assert cli("tokens", "revoke", new_id).exit_code == 0
    assert cli("tokens", "revoke", new_id).exit_code == ExitCode.NOT_FOUND

    logout = cli("logout")
    assert logout.exit_code == 0 and "token revoked" in logout.stdout
    assert cli.keyring.store == {}
    from mediaenhancer_core.errors import UnauthorizedError

    with pytest.raises(UnauthorizedError):  # revoked on the server, not only forgotten here
        core.tokens.authenticate(account.token)
    whoami = cli("whoami")
    assert whoami.exit_code == ExitCode.NOT_LOGGED_IN and "mediaenhancer login" in whoami.stderr


def test_bad_token_and_unreachable_server_exit_codes(cli, monkeypatch) -> None:
    assert cli("login", "--with-token", input="me_" + "x" * 43 + "\n").exit_code == ExitCode.NOT_LOGGED_IN
    assert cli("login", "--with-token", input="\n").exit_code == ExitCode.INVALID_REQUEST
    from tests.server.conftest import free_port

    assert cli("whoami").exit_code == ExitCode.NOT_LOGGED_IN  # no token: no request at all
    monkeypatch.setenv("MEDIAENHANCER_TOKEN", "me_" + "x" * 43)
    result = cli("whoami", "--server", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == ExitCode.SERVER_UNREACHABLE and "cannot reach the server" in result.stderr


def test_environment_token_wins(cli, make_account, monkeypatch) -> None:
    account = make_account("env@example.com")
    monkeypatch.setenv("MEDIAENHANCER_TOKEN", account.token)
    whoami = cli("whoami", "--json")
    assert json.loads(whoami.stdout)["email"] == "env@example.com"
    assert json.loads(whoami.stdout)["token_source"] == "MEDIAENHANCER_TOKEN"


def test_without_a_keyring_the_token_goes_to_a_private_file_with_one_warning(cli, make_account) -> None:
    account = make_account("headless@example.com")
    first = cli("login", "--with-token", input=account.token + "\n", keyring_module=NoKeyring())
    assert first.exit_code == 0, first.output
    assert "warning: no OS keyring available (NoKeyringError)" in first.stderr
    path = Path(os.environ["MEDIAENHANCER_CONFIG_DIR"]) / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert account.token in path.read_text()
    second = cli("login", "--with-token", input=account.token + "\n", keyring_module=NoKeyring())
    assert second.exit_code == 0 and "warning" not in second.stderr  # one-time
    assert json.loads(cli("whoami", "--json", keyring_module=NoKeyring()).stdout)["token_source"] == str(path)
    assert cli("logout", keyring_module=NoKeyring()).exit_code == 0
    assert not path.exists()


def test_device_login_end_to_end(cli, make_account, core) -> None:
    account = make_account("device@example.com")
    principal = core.tokens.authenticate(account.token)
    approved: list[str] = []

    def approve_when_asked() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not approved:
            with core.db.session() as s:
                code = s.scalar(select(DeviceAuthorization.user_code).where(DeviceAuthorization.status == "pending"))
            if code:
                core.devices.approve(code, principal)
                approved.append(code)
            time.sleep(0.05)

    approver = threading.Thread(target=approve_when_asked)
    approver.start()
    result = cli("login")
    approver.join()
    assert result.exit_code == 0, result.output
    code = approved[0]
    assert f"{code[:4]}-{code[4:]}" in result.stderr and "/device?code=" in result.stderr
    assert "as device@example.com" in result.stdout
    stored = next(iter(cli.keyring.store.values()))
    assert stored != account.token and core.tokens.authenticate(stored).user_id == account.id
    assert any(t.source == "device" for t in core.tokens.list(account.id))
