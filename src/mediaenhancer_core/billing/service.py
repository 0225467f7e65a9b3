"""Billing with Stripe: checkout, cancel and resume, the billing portal, and reconciliation.

    billing = core.billing
    billing.checkout(user_id, "creator", base_url="https://media.example.com")  # {"url": ...}
    billing.cancel(user_id)        # at the end of the period; billing.resume(user_id) undoes it
    billing.sync()                 # re-read every customer's subscriptions from Stripe

Without ``stripe_secret_key`` billing is off: plans and the user's current plan still
answer, everything that needs Stripe raises BillingNotConfiguredError (503), and plans
are set by hand (``mediaenhancer-server users set-plan``).

The user's row in ``user_subscriptions`` holds their Stripe customer (created once, on
the first checkout) and their current subscription: plan (from the price id), status,
period, cancel_at_period_end and, while ``past_due``, the end of the grace period.
Every state change goes through :meth:`Billing.apply`, which orders updates (see
``state.py``) and is shared by webhooks, the API calls and ``sync``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mediaenhancer_core.accounts.authcache import AuthCache
from mediaenhancer_core.billing.gateway import StripeGateway
from mediaenhancer_core.billing.state import (
    LIVE_STATUSES,
    SubscriptionState,
    choose_current,
    decide,
    id_of,
    write,
)
from mediaenhancer_core.billing.webhooks import StripeWebhooks
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import ProcessedWebhookEvent, SubscriptionPlan, User, UserSubscription
from mediaenhancer_core.errors import (
    BillingNotConfiguredError,
    BillingProviderError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from mediaenhancer_core.plans.catalogue import FREE_PLAN_ID, get_plan, plan_dict, plan_for_user
from mediaenhancer_core.settings import Settings

__all__ = ["NOT_CONFIGURED", "Billing", "SyncChange", "SyncReport"]

log = logging.getLogger("mediaenhancer.billing")

NOT_CONFIGURED = (
    "billing is not configured on this server (no Stripe secret key); ask the administrator to set "
    "MEDIAENHANCER_STRIPE_SECRET_KEY, or to set your plan with `mediaenhancer-server users set-plan`"
)


class _NeedsFetch(Exception):
    """Raised inside a transaction to roll it back and retry with the subscription read from Stripe."""


@dataclass(frozen=True)
class SyncChange:
    email: str
    before: str
    after: str


@dataclass
class SyncReport:
    customers: int = 0
    changed: list[SyncChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "changed": [c.__dict__ for c in self.changed],
            "unchanged": self.customers - len(self.changed) - len(self.errors),
            "errors": list(self.errors),
        }


def _describe(row: UserSubscription | None) -> str:
    if row is None or row.stripe_subscription_id is None:
        return "no subscription"
    text = f"{row.plan_id} {row.status}"
    if row.cancel_at_period_end:
        text += " (cancels at period end)"
    if row.current_period_end is not None:
        text += f" until {row.current_period_end:%Y-%m-%d}"
    return text


class Billing:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        cache: AuthCache | None = None,
        gateway: StripeGateway | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.cache = cache or AuthCache(0, clock=clock)
        if gateway is None and settings.stripe_secret_key:
            from mediaenhancer_core.extras import require_extra  # noqa: PLC0415

            require_extra("billing", "Stripe billing (MEDIAENHANCER_STRIPE_SECRET_KEY is set)")  # at start-up
            gateway = StripeGateway(
                settings.stripe_secret_key.reveal(),
                api_base=settings.stripe_api_base,
                timeout=settings.stripe_timeout_seconds,
                max_network_retries=settings.stripe_max_network_retries,
            )
        self._gateway = gateway
        self.grace = timedelta(days=settings.past_due_grace_days)
        self._prices = {
            "creator": settings.stripe_price_creator,
            "professional": settings.stripe_price_professional,
        }
        self.webhooks = StripeWebhooks(self)

    # --- configuration ----------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """Whether Stripe calls can be made (a secret key is set)."""
        return self._gateway is not None

    @property
    def gateway(self) -> StripeGateway:
        if self._gateway is None:
            raise BillingNotConfiguredError(NOT_CONFIGURED)
        return self._gateway

    def price_for(self, plan: SubscriptionPlan) -> str | None:
        """The Stripe price of a plan: its setting (stripe_price_<plan>), else the plan row's column."""
        return self._prices.get(plan.id) or plan.stripe_price_id

    def plan_for_price(self, session: Session, price_id: str | None) -> str | None:
        if not price_id:
            return None
        for plan_id, price in self._prices.items():
            if price == price_id:
                return plan_id
        return session.scalar(select(SubscriptionPlan.id).where(SubscriptionPlan.stripe_price_id == price_id))

    # --- what the user has --------------------------------------------------------------------

    def current(self, user_id: uuid.UUID) -> dict[str, Any]:
        """The plan whose limits apply now, and the subscription behind it."""
        now = self.clock()
        with self.db.session() as session:
            self._user(session, user_id)
            plan, row = plan_for_user(session, user_id, now=now)
            subscription: dict[str, Any] | None = None
            if row is not None and (row.stripe_subscription_id is not None or row.plan_id != FREE_PLAN_ID):
                subscribed = session.get(SubscriptionPlan, row.plan_id)
                subscription = {
                    "plan": {"id": row.plan_id, "name": subscribed.name if subscribed else row.plan_id},
                    "status": row.status,
                    "current_period_start": _iso(row.current_period_start),
                    "current_period_end": _iso(row.current_period_end),
                    "cancel_at_period_end": row.cancel_at_period_end,
                    "grace_until": _iso(row.grace_until),
                    "managed_by": "stripe" if row.stripe_subscription_id else "admin",
                }
            info = plan_dict(plan)
        period = None
        if subscription and subscription["current_period_start"] and subscription["current_period_end"]:
            period = {"start": subscription["current_period_start"], "end": subscription["current_period_end"]}
        return {
            "plan": info,
            "status": subscription["status"] if subscription else "none",
            "period": period,
            "limits": info["limits"],
            "subscription": subscription,
            "billing_configured": self.configured,
        }

    @staticmethod
    def _user(session: Session, user_id: uuid.UUID) -> User:
        user = session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            raise NotFoundError("no such user")
        return user

    @staticmethod
    def _row(session: Session, user_id: uuid.UUID, *, lock: bool = False) -> UserSubscription | None:
        query = select(UserSubscription).where(UserSubscription.user_id == user_id)
        return session.scalar(query.with_for_update() if lock else query)

    # --- checkout -------------------------------------------------------------------------------

    def checkout(self, user_id: uuid.UUID, plan_id: str, *, base_url: str) -> dict[str, Any]:
        """A Stripe Checkout Session (subscription mode) for the plan; answers its URL."""
        gateway = self.gateway
        with self.db.session() as session:
            user = self._user(session, user_id)
            plan = get_plan(session, plan_id)
            if plan.price_cents == 0:
                raise ValidationError(
                    f"plan: {plan.name} is free; to go back to it, cancel your subscription (`mediaenhancer cancel`)",
                    field="plan",
                )
            price = self.price_for(plan)
            if not price:
                raise BillingNotConfiguredError(
                    f"billing is not configured for the {plan.name} plan: set MEDIAENHANCER_STRIPE_PRICE_{plan.id.upper()} "
                    "to its Stripe price id (price_...)"
                )
            row = self._row(session, user_id)
            if (
                row is not None
                and row.stripe_subscription_id
                and row.status in LIVE_STATUSES
                and row.status != "incomplete"
            ):
                current = session.get(SubscriptionPlan, row.plan_id)
                name = current.name if current else row.plan_id
                if row.plan_id == plan.id:
                    raise ConflictError(f"you already subscribe to {name}; see `mediaenhancer subscription`")
                raise ConflictError(
                    f"you already subscribe to {name}; change plans in the billing portal (`mediaenhancer billing portal`)"
                )
            email = user.email
            plan_name = plan.name
        customer = self._ensure_customer(user_id, email)
        base = (self.settings.public_url or base_url).rstrip("/")
        success = self.settings.checkout_success_url or f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
        cancel = self.settings.checkout_cancel_url or f"{base}/checkout/canceled"
        metadata = {"user_id": str(user_id), "plan": plan_id}
        created = gateway.create_checkout_session(
            {
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": str(user_id),
                "line_items": [{"price": price, "quantity": 1}],
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
                "success_url": success,
                "cancel_url": cancel,
            }
        )
        url = created.get("url")
        if not isinstance(url, str) or not url:
            raise BillingProviderError("Stripe created a Checkout Session without a URL; try again")
        return {"id": created.get("id"), "url": url, "plan": {"id": plan_id, "name": plan_name}}

    def _ensure_customer(self, user_id: uuid.UUID, email: str) -> str:
        """The user's Stripe customer: the stored one, else a new one (stored; created once)."""
        with self.db.session() as session:
            row = self._row(session, user_id)
            if row is not None and row.stripe_customer_id:
                return row.stripe_customer_id
        # the idempotency key makes concurrent first checkouts create one customer, not two
        customer = self.gateway.create_customer(
            email=email, user_id=str(user_id), idempotency_key=f"mediaenhancer-customer-{user_id}"
        )
        customer_id = str(customer["id"])
        for _ in range(2):
            try:
                with self.db.session() as session:
                    row = self._row(session, user_id, lock=True)
                    if row is None:
                        session.add(
                            UserSubscription(
                                user_id=user_id, plan_id=FREE_PLAN_ID, status="active", stripe_customer_id=customer_id
                            )
                        )
                    elif row.stripe_customer_id is None:
                        row.stripe_customer_id = customer_id
                    else:
                        return row.stripe_customer_id
                return customer_id
            except IntegrityError:
                continue  # another request stored the row first: read it again
        raise ConflictError("could not store your Stripe customer; try again")  # pragma: no cover

    def complete_checkout(self, user_id: uuid.UUID, session_id: str) -> dict[str, Any]:
        """Apply a finished Checkout Session at once (the success page), without waiting for the
        webhook. The session must be the user's."""
        return self.confirm_checkout(user_id, session_id)[0]

    def confirm_checkout(self, user_id: uuid.UUID, session_id: str) -> tuple[dict[str, Any], bool]:
        """:meth:`complete_checkout`, and whether Stripe says this session is complete and paid (so
        a page may say "your payment went through"); an open or unpaid session applies nothing."""
        gateway = self.gateway
        if not session_id.startswith("cs_") or len(session_id) > 255:
            raise NotFoundError("no such checkout session")
        try:
            checkout = gateway.retrieve_checkout_session(session_id)
        except BillingProviderError as exc:
            if exc.missing:
                raise NotFoundError("no such checkout session") from None
            raise
        if checkout.get("client_reference_id") != str(user_id):
            raise NotFoundError("no such checkout session")
        sub_id = id_of(checkout.get("subscription"))
        paid = checkout.get("payment_status") in ("paid", "no_payment_required")
        applied = False
        if checkout.get("status") == "complete" and sub_id:
            sub = gateway.retrieve_subscription(sub_id)
            if sub is not None:
                self.apply(SubscriptionState.from_stripe(sub), as_of=None, authoritative=True, user_hint=user_id)
                applied = True
        return self.current(user_id), applied and paid

    # --- cancel, resume, portal -----------------------------------------------------------------

    def _subscription_of(self, user_id: uuid.UUID, action: str) -> UserSubscription:
        with self.db.session() as session:
            self._user(session, user_id)
            row = self._row(session, user_id)
            if row is None or (row.stripe_subscription_id is None and row.plan_id == FREE_PLAN_ID):
                raise NotFoundError(f"you have no paid subscription to {action}; you are on the free plan")
            if row.stripe_subscription_id is None:
                raise NotFoundError(
                    f"your plan was set by the server's administrator, not bought here; ask them to {action} it"
                )
            if row.status not in LIVE_STATUSES:
                raise NotFoundError(
                    f"your subscription has ended ({row.status}); subscribe again with `mediaenhancer upgrade PLAN`"
                )
            return row

    def cancel(self, user_id: uuid.UUID) -> dict[str, Any]:
        """Cancel at the end of the paid period (Stripe keeps billing nothing more); resumable until then."""
        row = self._subscription_of(user_id, "cancel")
        assert row.stripe_subscription_id is not None
        sub = self.gateway.set_cancel_at_period_end(row.stripe_subscription_id, True)
        self.apply(SubscriptionState.from_stripe(sub), as_of=None, authoritative=True, user_hint=user_id)
        return self.current(user_id)

    def resume(self, user_id: uuid.UUID) -> dict[str, Any]:
        """Undo a cancellation before the period ends."""
        row = self._subscription_of(user_id, "resume")
        assert row.stripe_subscription_id is not None
        sub = self.gateway.set_cancel_at_period_end(row.stripe_subscription_id, False)
        self.apply(SubscriptionState.from_stripe(sub), as_of=None, authoritative=True, user_hint=user_id)
        return self.current(user_id)

    def portal(self, user_id: uuid.UUID, *, base_url: str) -> dict[str, Any]:
        """A Stripe billing-portal session: payment methods, invoices, plan changes, cancellation."""
        gateway = self.gateway
        with self.db.session() as session:
            self._user(session, user_id)
            row = self._row(session, user_id)
            customer = row.stripe_customer_id if row is not None else None
        if not customer:
            raise NotFoundError(
                "you have no billing account yet; subscribe to a plan first (`mediaenhancer upgrade PLAN`)"
            )
        base = (self.settings.public_url or base_url).rstrip("/")
        return_url = self.settings.billing_portal_return_url or f"{base}/pricing"
        created = gateway.create_portal_session(customer=customer, return_url=return_url)
        url = created.get("url")
        if not isinstance(url, str) or not url:
            raise BillingProviderError("Stripe created a billing-portal session without a URL; try again")
        return {"url": url}

    # --- applying states (webhooks, API calls, sync) ------------------------------------------

    @contextmanager
    def _event_transaction(self, event: tuple[str, str] | None) -> Iterator[Session]:
        with self.db.session() as session:
            if event is not None:
                session.add(ProcessedWebhookEvent(provider="stripe", event_id=event[0], event_type=event[1][:100]))
                session.flush()  # a redelivery fails here, before anything changes
            yield session

    def record_event(self, event: tuple[str, str]) -> None:
        """Mark an event processed without changing anything (ignored event types)."""
        with self._event_transaction(event):
            pass

    def apply(
        self,
        state: SubscriptionState,
        *,
        as_of: datetime | None,
        authoritative: bool,
        user_hint: uuid.UUID | None = None,
        event: tuple[str, str] | None = None,
    ) -> str:
        """Bring a user's row to a subscription state: 'changed', 'unchanged', 'stale' or 'ignored'.

        ``event`` (id, type) is recorded in processed_webhook_events in the same transaction
        (IntegrityError when it already was). A tie (same second as the newest applied event)
        is settled by reading the subscription from Stripe.
        """
        try:
            return self._apply_once(state, as_of=as_of, authoritative=authoritative, user_hint=user_hint, event=event)
        except _NeedsFetch:
            fresh = self.gateway.retrieve_subscription(state.subscription_id)
            if fresh is None:
                return self._apply_once(
                    state, as_of=as_of, authoritative=False, user_hint=user_hint, event=event, tie_wins=True
                )
            return self._apply_once(
                SubscriptionState.from_stripe(fresh), as_of=as_of, authoritative=True, user_hint=user_hint, event=event
            )

    def _apply_once(
        self,
        state: SubscriptionState,
        *,
        as_of: datetime | None,
        authoritative: bool,
        user_hint: uuid.UUID | None,
        event: tuple[str, str] | None,
        tie_wins: bool = False,
    ) -> str:
        now = self.clock()
        with self._event_transaction(event) as session:
            row = self._find_row(session, state, user_hint)
            if row is None:
                log.info("stripe subscription %s belongs to no user here; ignored", state.subscription_id)
                return "ignored"
            if state.unknown_status:
                log.warning(
                    "stripe subscription %s has an unknown status %r; treated as incomplete",
                    state.subscription_id,
                    state.unknown_status,
                )
            decision = decide(row, state, as_of=as_of, authoritative=authoritative)
            if decision == "tie" and not tie_wins:
                if self._same_facts(session, row, state):
                    return "unchanged"
                raise _NeedsFetch()
            if decision in ("stale", "other"):
                return "stale"  # older than what the row holds, or about a subscription that is not the current one
            plan_id = self.plan_for_price(session, state.price_id)
            if plan_id is None:
                log.warning(
                    "stripe price %s is not any plan's price (set MEDIAENHANCER_STRIPE_PRICE_<PLAN>); "
                    "the subscription keeps plan %s",
                    state.price_id,
                    row.plan_id,
                )
                plan_id = row.plan_id
            changed = write(row, state, plan_id=plan_id, grace=self.grace, as_of=as_of, now=now)
            user_id = row.user_id
        self.cache.forget_profile(user_id)
        return "changed" if changed else "unchanged"

    def _same_facts(self, session: Session, row: UserSubscription, state: SubscriptionState) -> bool:
        plan_id = self.plan_for_price(session, state.price_id) or row.plan_id
        return (
            row.stripe_subscription_id == state.subscription_id
            and row.plan_id == plan_id
            and row.status == state.status
            and row.current_period_start == state.current_period_start
            and row.current_period_end == state.current_period_end
            and row.cancel_at_period_end == state.cancel_at_period_end
        )

    def _find_row(
        self, session: Session, state: SubscriptionState, user_hint: uuid.UUID | None
    ) -> UserSubscription | None:
        query = select(UserSubscription).with_for_update()
        row = session.scalar(query.where(UserSubscription.stripe_subscription_id == state.subscription_id))
        if row is None and state.customer_id:
            row = session.scalar(query.where(UserSubscription.stripe_customer_id == state.customer_id))
        if row is not None:
            return row
        user_id = user_hint or state.user_id
        if user_id is None:
            return None
        user = session.get(User, user_id)
        if user is None:
            return None
        row = session.scalar(query.where(UserSubscription.user_id == user_id))
        if row is None:
            row = UserSubscription(user_id=user_id, plan_id=FREE_PLAN_ID, status="active", cancel_at_period_end=False)
            session.add(row)
        return row

    # --- reconciliation ------------------------------------------------------------------------------

    def sync(self, *, progress: Callable[[str], None] | None = None) -> SyncReport:
        """Re-read every customer's subscriptions from Stripe and repair the rows that differ
        (missed or failed webhooks). Running it again right after changes nothing."""
        gateway = self.gateway
        with self.db.session() as session:
            customers = session.execute(
                select(UserSubscription.user_id, UserSubscription.stripe_customer_id, User.email)
                .join(User, User.id == UserSubscription.user_id)
                .where(UserSubscription.stripe_customer_id.is_not(None))
                .order_by(User.email)
            ).all()
        report = SyncReport(customers=len(customers))
        for user_id, customer_id, email in customers:
            assert customer_id is not None  # the query keeps the subscriptions with a customer
            try:
                current = choose_current(gateway.list_subscriptions(customer_id))
                if current is None:
                    continue
                state = SubscriptionState.from_stripe(current)
                with self.db.session() as session:
                    before = _describe(self._row(session, user_id))
                outcome = self.apply(state, as_of=None, authoritative=True, user_hint=user_id)
                with self.db.session() as session:
                    after = _describe(self._row(session, user_id))
            except BillingProviderError as exc:
                report.errors.append(f"{email}: {exc.message}")
                continue
            if outcome == "changed":
                report.changed.append(SyncChange(email=email, before=before, after=after))
                if progress:
                    progress(f"{email}: {before} -> {after}")
        return report


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
