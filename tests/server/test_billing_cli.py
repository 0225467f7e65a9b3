"""`mediaenhancer plans | subscription | upgrade | cancel | resume | billing portal` against a
live server on loopback whose Stripe is the local stand-in. No browser is ever opened."""

from __future__ import annotations

import json
import webbrowser

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app as _app  # noqa: F401 - the app first: it registers the command modules
from mediaenhancer_cli.billing import can_open_browser
from mediaenhancer_core.exit_codes import ExitCode

runner = CliRunner()


@pytest.fixture
def cli(live_server, monkeypatch):
    from mediaenhancer_cli.app import app

    def no_browser(*args, **kwargs):
        raise AssertionError("a test opened a browser")

    monkeypatch.setattr(webbrowser, "open", no_browser)
    monkeypatch.setenv("DISPLAY", ":0")  # even "on a desktop": the runner's stdout is not a terminal
    monkeypatch.setenv("MEDIAENHANCER_SERVER_URL", live_server.url)
    monkeypatch.delenv("MEDIAENHANCER_TOKEN", raising=False)

    def run(*args: str, token: str | None = None):
        if token:
            monkeypatch.setenv("MEDIAENHANCER_TOKEN", token)
        return runner.invoke(app, list(args))

    return run


@pytest.mark.usefixtures("billing_env")
def test_plans_subscription_upgrade_cancel_resume_and_portal(cli, live_server, make_account, standin) -> None:
    plans = cli("plans")
    assert plans.exit_code == 0, plans.output
    for text in ("starter", "free", "creator", "$14.99/month", "professional", "$49.99/month", "unlimited"):
        assert text in plans.stdout, text
    assert [p["id"] for p in json.loads(cli("plans", "--json").stdout)["plans"]] == [
        "starter",
        "creator",
        "professional",
    ]

    account = make_account("cli-buyer@example.com")
    before = cli("subscription", token=account.token)
    assert before.exit_code == 0 and "plan: Starter (free)" in before.stdout and "subscription: none" in before.stdout

    upgrade = cli("upgrade", "Creator", token=account.token)
    assert upgrade.exit_code == 0, upgrade.output
    url = upgrade.stdout.strip().splitlines()[-1]
    session = next(iter(standin.sessions.values()))
    assert url == session["url"] and "Pay for Creator on Stripe" in upgrade.stderr
    standin.webhook_url = f"{live_server.url}/api/webhooks/stripe"
    for event in standin.complete_checkout(session["id"]):
        assert standin.deliver(event) == 200

    now = json.loads(cli("subscription", "--json", token=account.token).stdout)
    assert now["plan"]["id"] == "creator" and now["status"] == "active"
    assert "renews on" in cli("subscription", token=account.token).stdout

    again = cli("upgrade", "professional", token=account.token)
    assert again.exit_code == ExitCode.CONFLICT and "billing portal" in again.stderr

    canceled = cli("cancel", token=account.token)
    assert canceled.exit_code == 0 and "ends on" in canceled.stdout and "mediaenhancer resume" in canceled.stdout
    resumed = cli("resume", "--json", token=account.token)
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["subscription"]["cancel_at_period_end"] is False

    portal = cli("billing", "portal", token=account.token)
    assert portal.exit_code == 0 and portal.stdout.strip().splitlines()[-1].startswith(standin.url + "/p/session/")


@pytest.mark.usefixtures("billing_env")
def test_billing_errors_have_their_exit_codes(cli, make_account, standin) -> None:
    assert cli("subscription").exit_code == ExitCode.NOT_LOGGED_IN  # no token yet
    account = make_account()
    assert cli("upgrade", "platinum", token=account.token).exit_code == ExitCode.NOT_FOUND
    assert cli("upgrade", "starter", token=account.token).exit_code == ExitCode.INVALID_REQUEST
    assert cli("cancel", token=account.token).exit_code == ExitCode.NOT_FOUND
    standin.fail_next(500)
    down = cli("upgrade", "creator", token=account.token)
    assert down.exit_code == ExitCode.BILLING_FAILED == 71 and "Stripe failed" in down.stderr


def test_a_server_without_stripe_answers_exit_70(cli, make_account) -> None:
    account = make_account()
    assert cli("plans").exit_code == 0
    result = cli("upgrade", "creator", token=account.token)
    assert result.exit_code == ExitCode.BILLING_NOT_CONFIGURED == 70
    assert "billing is not configured" in result.stderr and "users set-plan" in result.stderr


@pytest.mark.parametrize(
    ("environ", "platform", "tty", "expected"),
    [
        ({}, "linux", True, False),  # a server over ssh: no display
        ({"DISPLAY": ":0"}, "linux", True, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True, True),
        ({"DISPLAY": ":0"}, "linux", False, False),  # piped or scripted
        ({}, "darwin", True, True),
        ({}, "win32", True, True),
        ({}, "darwin", False, False),
    ],
)
def test_a_browser_opens_only_on_a_terminal_with_a_display(environ, platform, tty, expected) -> None:
    assert can_open_browser(environ, platform, tty) is expected
