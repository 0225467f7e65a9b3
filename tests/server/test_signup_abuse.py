"""Open sign-up under abuse (issue 12): a per-address limit counted before any hashing, common
passwords refused, the same answer whether or not the address has an account, and optional email
verification (off by default) whose mail goes through the outbox or SMTP, both tested locally.

Before: 30 sign-ups in 6.8 s from one address, `12345678` and `password` accepted, and a 409 that
told whether an email had an account."""

from __future__ import annotations

import re
import threading
from email import message_from_bytes
from email.message import Message

import pytest
from sqlalchemy import func, select

from mediaenhancer_core.db.models import User

from .conftest import PASSWORD, free_port


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _sign_up(client, email: str, password: str = PASSWORD):
    token = _csrf(client.get("/signup").text)
    return client.post(
        "/signup",
        data={"email": email, "password": password, "password_confirm": password, "csrf_token": token},
        follow_redirects=False,
    )


def _sign_in(client, email: str, password: str = PASSWORD):
    token = _csrf(client.get("/signin").text)
    return client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    )


def _users(core) -> int:
    with core.db.session() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


def _main(html: str) -> str:
    return html.split("<main>", 1)[1].split("</main>", 1)[0]


@pytest.mark.parametrize("weak", ["12345678", "password", "qwertyuiop", "iloveyou1", "signup-me@example.com"])
def test_common_passwords_are_refused(client, core, weak) -> None:
    answer = _sign_up(client, "signup-me@example.com", weak)
    assert answer.status_code == 422 and "password" in answer.text.lower()
    assert _users(core) == 0


def test_the_answer_does_not_tell_whether_the_address_has_an_account(client, core, make_account) -> None:
    make_account("taken@example.com")
    before = _users(core)
    taken = _sign_up(client, "taken@example.com")
    fresh = _sign_up(client, "fresh@example.com")
    assert taken.status_code == fresh.status_code == 200
    assert _main(taken.text).replace("taken@", "X@") == _main(fresh.text).replace("fresh@", "X@")
    assert "me_session" not in taken.cookies and "me_session" not in fresh.cookies
    assert _users(core) == before + 1
    assert _sign_in(client, "fresh@example.com").status_code == 303


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env["MEDIAENHANCER_SIGNUP_IP_MAX"] = "3"
    return settings_env


def test_sign_ups_from_one_address_are_limited(client, core) -> None:
    for i in range(3):
        assert _sign_up(client, f"bulk{i}@example.com").status_code == 200
    limited = _sign_up(client, "bulk3@example.com")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "too many sign-ups" in limited.text
    assert _users(core) == 3


# --- email verification ------------------------------------------------------------------------------------


def _outbox(core) -> list[Message]:
    folder = core.settings.data_dir / "outbox"
    return [message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def _link(mail: Message) -> str:
    body = mail.get_payload(decode=True).decode()
    return re.search(r"http://testserver(/verify-email\?token=\S+)", body).group(1)


@pytest.fixture
def verifying_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env["MEDIAENHANCER_SIGNUP_EMAIL_VERIFICATION"] = "true"
    return settings_env


def test_verification_is_off_by_default(client, core) -> None:
    assert core.settings.signup_email_verification is False
    _sign_up(client, "plain@example.com")
    assert _outbox(core) == [] and _sign_in(client, "plain@example.com").status_code == 303


def test_open_sign_up_with_verification_through_the_outbox(verifying_env, client, core, make_account) -> None:
    answer = _sign_up(client, "verify@example.com")
    assert answer.status_code == 200 and "We sent a message to" in answer.text
    (mail,) = _outbox(core)
    assert mail["To"] == "verify@example.com"
    blocked = _sign_in(client, "verify@example.com")
    assert blocked.status_code == 403 and "confirm verify@example.com" in blocked.text
    assert len(_outbox(core)) == 2  # signing in unverified sends a fresh link
    assert client.get("/verify-email?token=mev_forged").status_code == 404
    confirmed = client.get(_link(_outbox(core)[-1]))
    assert confirmed.status_code == 200 and "verify@example.com is confirmed" in confirmed.text
    assert _sign_in(client, "verify@example.com").status_code == 303
    assert client.get(_link(mail)).status_code == 404  # the other link ended with the confirmation
    # an address that has an account: the same page, and its owner is told by mail
    make_account("owner@example.com")
    again = _sign_up(client, "owner@example.com")
    assert again.status_code == 200 and "We sent a message to" in again.text
    assert "already has an account" in _outbox(core)[-1].get_payload(decode=True).decode()
    for path in (core.settings.data_dir / "outbox").iterdir():
        assert path.stat().st_mode & 0o077 == 0


class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.received = threading.Event()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name
                sink.messages.append(message_from_bytes(envelope.content))
                sink.received.set()
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    yield sink
    sink.controller.stop()


@pytest.fixture
def smtp_env(verifying_env: dict[str, str], smtp_sink: SmtpSink) -> dict[str, str]:
    verifying_env.update(
        {
            "MEDIAENHANCER_MAIL_BACKEND": "smtp",
            "MEDIAENHANCER_SMTP_HOST": "127.0.0.1",
            "MEDIAENHANCER_SMTP_PORT": str(smtp_sink.port),
            "MEDIAENHANCER_SMTP_SECURITY": "none",
            "MEDIAENHANCER_MAIL_FROM": "Media Enhancer <accounts@media.example>",
        }
    )
    return verifying_env


def test_verification_mail_over_smtp(smtp_env, smtp_sink, client, core) -> None:
    assert _sign_up(client, "smtp@example.com").status_code == 200
    assert smtp_sink.received.wait(10)
    (mail,) = smtp_sink.messages
    assert mail["To"] == "smtp@example.com" and mail["From"] == "Media Enhancer <accounts@media.example>"
    assert client.get(_link(mail)).status_code == 200
    assert _sign_in(client, "smtp@example.com").status_code == 303
    assert not (core.settings.data_dir / "outbox").exists()


def test_the_admin_cli_makes_verified_accounts(verifying_env, core) -> None:
    user = core.accounts.create_user("admin-made@example.com", PASSWORD, verified=True)
    assert core.accounts.sign_in(user.email, PASSWORD, client_ip="10.0.0.1").user_id == user.id
