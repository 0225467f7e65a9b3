"""Mail the server sends (email verification links), through a configurable backend.

    mailer = mailer_from_settings(settings)
    mailer.send(Mail(to="ann@example.com", subject="...", body="..."))

- ``outbox`` (default): each message is written as an RFC 5322 ``.eml`` file (0600, written to a
  temporary name and renamed into place) in ``data_dir/outbox``. Nothing leaves the machine:
  tests read the files, and a relay may collect them.
- ``smtp``: sent with :mod:`smtplib` to ``smtp_host`` (STARTTLS, TLS or, for a local relay, plain),
  with a timeout. Failures are :class:`~.errors.ServiceUnavailableError` (503).
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from mediaenhancer_core.errors import ServiceUnavailableError
from mediaenhancer_core.privatefs import make_dirs, open_private
from mediaenhancer_core.settings import Settings

__all__ = ["Mail", "Mailer", "OutboxMailer", "SmtpMailer", "mailer_from_settings"]


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


def _message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="mediaenhancer.invalid")
    msg.set_content(mail.body)
    return msg


class OutboxMailer:
    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender

    def send(self, mail: Mail) -> None:
        make_dirs(self.folder)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}"
        temp, final = self.folder / f".{name}.tmp", self.folder / f"{name}.eml"
        with open_private(temp, "wb") as fh:
            fh.write(_message(mail, self.sender).as_bytes())
        os.replace(temp, final)


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str | None,
        password: str | None,
        timeout: float,
        sender: str,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout, self.sender = username, password, timeout, sender

    def send(self, mail: Mail) -> None:
        context = ssl.create_default_context()
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=context)
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(_message(mail, self.sender))
        except (OSError, smtplib.SMTPException) as exc:
            raise ServiceUnavailableError(
                f"mail to {mail.to} could not be sent through {self.host}:{self.port} ({type(exc).__name__}); "
                "check the smtp_* settings"
            ) from None


def mailer_from_settings(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        assert settings.smtp_host is not None  # Settings.validate
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.reveal() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
            sender=settings.mail_from,
        )
    assert settings.data_dir is not None
    return OutboxMailer(settings.data_dir / "outbox", settings.mail_from)
