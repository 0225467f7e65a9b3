"""The account services wired together from settings: what the server (and admin CLI) use.

    core = Core.open(settings)          # a Database from settings, real argon2
    core.accounts.create_user("ann@example.com", "a long password")
    row, secret = core.tokens.create(user.id, "laptop")

Tests pass a cheaper password hasher, a fixed clock, or a JWKS fetcher serving
their own keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mediaenhancer_core.accounts.authcache import AuthCache
from mediaenhancer_core.accounts.devices import DeviceAuthorizations
from mediaenhancer_core.accounts.identity import ClerkWebhooks, ProviderTokenVerifier, http_get_json
from mediaenhancer_core.accounts.mail import mailer_from_settings
from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.accounts.sessions import WebSessions
from mediaenhancer_core.accounts.throttle import SignInLimiter
from mediaenhancer_core.accounts.tokens import ApiTokens
from mediaenhancer_core.accounts.users import Accounts
from mediaenhancer_core.accounts.verification import EmailVerifications
from mediaenhancer_core.billing import Billing
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.types import utcnow
from mediaenhancer_core.library.services import MediaServices
from mediaenhancer_core.plans.catalogue import Plans
from mediaenhancer_core.settings import Settings

__all__ = ["Core"]


@dataclass
class Core:
    settings: Settings
    db: Database
    accounts: Accounts
    tokens: ApiTokens
    sessions: WebSessions
    devices: DeviceAuthorizations
    provider_tokens: ProviderTokenVerifier | None
    clerk_webhooks: ClerkWebhooks | None
    billing: Billing  # Stripe (issue 5); works without a key: see billing/service.py
    clock: Callable[[], datetime]
    verifications: EmailVerifications  # open sign-up's proof of address (issue 12), off by default
    library: MediaServices | None = None  # storage, media, uploads, projects, reaper (issue 4)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        db: Database | None = None,
        passwords: Passwords | None = None,
        clock: Callable[[], datetime] = utcnow,
        fetch_json: Callable[[str], Any] = http_get_json,
        storage: Any = None,
        path_env: str | None = None,
    ) -> Core:
        db = db or Database.from_settings(settings)
        limiter = SignInLimiter(
            max_failures=settings.signin_max_failures,
            ip_max_failures=settings.signin_ip_max_failures,
            window_seconds=settings.signin_window_seconds,
            clock=clock,
        )
        cache = AuthCache(settings.auth_cache_seconds, clock=clock)
        tokens = ApiTokens(db, clock=clock, cache=cache)
        verifier = None
        if settings.clerk_issuer:
            verifier = ProviderTokenVerifier(
                db,
                issuer=settings.clerk_issuer.rstrip("/"),
                jwks_url=settings.clerk_jwks_url or settings.clerk_issuer.rstrip("/") + "/.well-known/jwks.json",
                audience=settings.clerk_audience,
                authorized_parties=tuple(settings.clerk_authorized_parties),
                fetch_json=fetch_json,
                clock=clock,
            )
        webhooks = None
        if settings.clerk_webhook_secret:
            webhooks = ClerkWebhooks(db, secret=settings.clerk_webhook_secret.reveal(), clock=clock, cache=cache)
        return cls(
            settings=settings,
            db=db,
            accounts=Accounts(
                db,
                passwords=passwords or Passwords(),
                limiter=limiter,
                clock=clock,
                cache=cache,
                signup_ip_max=settings.signup_ip_max,
                abuse_window=timedelta(seconds=settings.abuse_window_seconds),
                require_verified_email=settings.signup_email_verification,
            ),
            verifications=EmailVerifications(
                db, mailer_from_settings(settings), ttl=timedelta(hours=settings.email_verification_hours), clock=clock
            ),
            tokens=tokens,
            sessions=WebSessions(db, lifetime=timedelta(hours=settings.session_hours), clock=clock),
            devices=DeviceAuthorizations(
                db,
                tokens,
                ttl=timedelta(seconds=settings.device_code_ttl_seconds),
                interval=settings.device_poll_interval_seconds,
                clock=clock,
                codes_per_ip=settings.device_code_ip_max,
                max_guesses=settings.device_code_max_guesses,
                window=timedelta(seconds=settings.abuse_window_seconds),
            ),
            provider_tokens=verifier,
            clerk_webhooks=webhooks,
            billing=Billing(db, settings, clock=clock, cache=cache),
            clock=clock,
            library=MediaServices.open(settings, db, clock=clock, storage=storage, path_env=path_env),
        )

    @property
    def plans(self) -> Plans:
        """The plan catalogue, a user's plan and usage (no SQL session in the front ends)."""
        return Plans(self.db, clock=self.clock)

    def prepare_database(self) -> None:
        """Make the database ready to serve: the embedded SQLite one is migrated in place;
        any other must already be at the newest migration (`mediaenhancer-server db upgrade`)."""
        if self.db.is_embedded and self.db.current_revision() != self.db.head_revision():
            self.db.upgrade()
        self.db.check_current()

    def maintenance_round(self, *, older_than: timedelta) -> Any:
        """One round of housekeeping, run by the server every storage_reap_interval_seconds and by
        `mediaenhancer-server storage reap`: the storage reaper (abandoned uploads and deletes,
        orphans older than ``older_than``), then the attempt counters whose window has ended.
        Returns the reaper's ReapReport with ``expired_throttle_rows`` filled in."""
        assert self.library is not None
        report = self.library.reaper.reap(older_than=older_than)
        report.expired_throttle_rows = self.accounts.purge_expired_attempts()
        return report

    def close(self) -> None:
        self.tokens.last_used.close()  # before the engine goes: its last write needs a connection
        if self.library is not None:
            self.library.close()
        self.db.dispose()
