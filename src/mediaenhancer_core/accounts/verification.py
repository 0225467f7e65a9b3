"""Proof of an email address for open sign-up (setting ``signup_email_verification``, off by default).

    verifications.send(user_id, email, base_url="https://media.example.com")   # mails a link
    verifications.confirm(secret)                                              # the link was opened

The link carries a random secret; the database keeps its SHA-256 and an expiry
(``email_verification_hours``). Opening it sets ``users.email_verified_at`` and ends every
other link of that user.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import delete, select

from mediaenhancer_core.accounts.mail import Mail, Mailer
from mediaenhancer_core.accounts.security import hash_secret, new_secret
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import EmailVerification, User
from mediaenhancer_core.errors import NotFoundError

__all__ = ["EmailVerifications", "VERIFY_PATH"]

VERIFY_PATH = "/verify-email"
PREFIX = "mev_"


class EmailVerifications:
    def __init__(self, db: Database, mailer: Mailer, *, ttl: timedelta, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.mailer = mailer
        self.ttl = ttl
        self.clock = clock

    def send(self, user_id: uuid.UUID, email: str, *, base_url: str) -> None:
        secret = new_secret(PREFIX)
        now = self.clock()
        with self.db.session() as session:
            session.execute(delete(EmailVerification).where(EmailVerification.expires_at <= now))
            session.add(
                EmailVerification(
                    token_hash=hash_secret(secret), user_id=user_id, created_at=now, expires_at=now + self.ttl
                )
            )
        link = f"{base_url.rstrip('/')}{VERIFY_PATH}?token={quote(secret)}"
        hours = int(self.ttl.total_seconds() // 3600)
        self.mailer.send(
            Mail(
                to=email,
                subject="Confirm your Media Enhancer account",
                body=f"Open this link to confirm the address {email} and finish signing up:\n\n{link}\n\n"
                f"It works for {hours} hours. If you did not sign up, ignore this mail.\n",
            )
        )

    def notify_existing(self, email: str, *, base_url: str) -> None:
        """Someone signed up with an address that has an account: tell its owner (the page does not)."""
        self.mailer.send(
            Mail(
                to=email,
                subject="You already have a Media Enhancer account",
                body=f"Someone (perhaps you) tried to sign up with {email}, which already has an account.\n\n"
                f"Sign in at {base_url.rstrip('/')}/signin instead. If it was not you, ignore this mail.\n",
            )
        )

    def confirm(self, secret: str) -> str:
        """Mark the address of the link verified; its email. NotFoundError when unknown or expired."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            raise NotFoundError("this confirmation link is unknown or expired; sign in to get a new one")
        now = self.clock()
        with self.db.session() as session:
            row = session.get(EmailVerification, hash_secret(secret))
            if row is None or row.expires_at <= now:
                raise NotFoundError("this confirmation link is unknown or expired; sign in to get a new one")
            user = session.scalar(select(User).where(User.id == row.user_id))
            if user is None:
                raise NotFoundError("this confirmation link is unknown or expired; sign in to get a new one")
            user.email_verified_at = now
            session.execute(delete(EmailVerification).where(EmailVerification.user_id == user.id))
            return user.email
