"""A Stripe subscription as the few facts we keep, and the rule that orders updates.

:class:`SubscriptionState` reads a subscription object in either of Stripe's shapes:
API versions from 2025-03-31 keep the period on the subscription's items, older ones on
the subscription itself (a webhook endpoint may be pinned to an older version than the
library). :func:`decide` says whether a state may overwrite a user's row:

- states from an event carry the event's ``created`` time (``as_of``); the row keeps the
  newest one applied (``last_event_at``). An older event is *stale* and skipped; an
  event from the same second is a *tie*, which the caller settles by reading the
  subscription from Stripe;
- states read from Stripe (``authoritative``) always apply: they are the truth now;
- a user has one current subscription: an event about another one replaces it only
  when that one is live and the current one has ended, or when it is newer;
- a plan set by hand (``users set-plan``) detaches the row from Stripe: only a
  subscription created after that moment takes over.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mediaenhancer_core.db.models import SUBSCRIPTION_STATUSES, UserSubscription
from mediaenhancer_core.errors import ValidationError

__all__ = [
    "LIVE_STATUSES",
    "SubscriptionState",
    "choose_current",
    "decide",
    "from_timestamp",
    "id_of",
    "write",
]

# A live subscription may still bill or grant access; the others have ended for good.
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused", "incomplete")


MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds


def from_timestamp(value: Any) -> datetime | None:
    """A Unix time from Stripe as an aware datetime; None when absent. A number no calendar
    holds (1e20, negative) is refused with ValidationError (422), not a 500."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or not 0 <= value <= MAX_TIMESTAMP:
        raise ValidationError(f"timestamp {value!r} is out of range", field="created")
    return datetime.fromtimestamp(int(value), tz=UTC)


def id_of(value: Any) -> str | None:
    """An id from a field that is either the id or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _user_id(metadata: Any) -> uuid.UUID | None:
    if isinstance(metadata, Mapping):
        try:
            return uuid.UUID(str(metadata.get("user_id")))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class SubscriptionState:
    subscription_id: str
    customer_id: str | None
    status: str
    price_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    created: datetime | None
    user_id: uuid.UUID | None  # metadata.user_id, set by our Checkout Sessions
    unknown_status: str | None = None  # a status this version does not know (kept as incomplete)

    @classmethod
    def from_stripe(cls, sub: Mapping[str, Any]) -> SubscriptionState:
        sub_id = id_of(sub.get("id"))
        if sub_id is None:
            raise ValueError("the subscription has no id")
        status = str(sub.get("status") or "")
        unknown = None
        if status not in SUBSCRIPTION_STATUSES:
            status, unknown = "incomplete", status  # no access until Stripe says something we know
        items = sub.get("items")
        first: Mapping[str, Any] = {}
        if isinstance(items, Mapping) and isinstance(items.get("data"), list) and items["data"]:
            first = items["data"][0] if isinstance(items["data"][0], Mapping) else {}
        price = first.get("price") or first.get("plan") or sub.get("plan")
        start = from_timestamp(first.get("current_period_start", sub.get("current_period_start")))
        end = from_timestamp(first.get("current_period_end", sub.get("current_period_end")))
        return cls(
            subscription_id=sub_id,
            customer_id=id_of(sub.get("customer")),
            status=status,
            price_id=id_of(price),
            current_period_start=start,
            current_period_end=end,
            cancel_at_period_end=bool(sub.get("cancel_at_period_end")) or sub.get("cancel_at") is not None,
            created=from_timestamp(sub.get("created")),
            user_id=_user_id(sub.get("metadata")),
            unknown_status=unknown,
        )

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES


def choose_current(subscriptions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The subscription that is a customer's current one: the newest live one, else the newest."""
    if not subscriptions:
        return None
    live = [s for s in subscriptions if s.get("status") in LIVE_STATUSES]
    return max(live or subscriptions, key=lambda s: (s.get("created") or 0, str(s.get("id"))))


def decide(row: UserSubscription, state: SubscriptionState, *, as_of: datetime | None, authoritative: bool) -> str:
    """'apply', 'stale' (older than what the row holds), 'tie' (same second: read Stripe) or
    'other' (about a subscription that is not the user's current one)."""
    current = row.stripe_subscription_id
    if current is None:
        # no subscription yet, or a plan set by hand (last_event_at: when): only a subscription
        # created after that may take over
        if row.last_event_at is not None and state.created is not None and state.created <= row.last_event_at:
            return "other"
        return "apply"
    if current == state.subscription_id:
        if authoritative or as_of is None or row.last_event_at is None or as_of > row.last_event_at:
            return "apply"
        return "stale" if as_of < row.last_event_at else "tie"
    row_live = row.status in LIVE_STATUSES
    if state.live and not row_live:
        return "apply"
    if row_live and not state.live:
        return "other"  # an old subscription ending does not touch the current one
    if authoritative or as_of is None or row.last_event_at is None or as_of > row.last_event_at:
        return "apply"
    return "other"


def write(
    row: UserSubscription,
    state: SubscriptionState,
    *,
    plan_id: str,
    grace: timedelta,
    as_of: datetime | None,
    now: datetime,
) -> bool:
    """Copy the state into the row; True when a stored fact changed (``last_event_at`` aside)."""
    grace_until = None
    if state.status == "past_due":
        grace_until = (state.current_period_start or as_of or now) + grace
    values: dict[str, Any] = {
        "stripe_subscription_id": state.subscription_id,
        "plan_id": plan_id,
        "status": state.status,
        "current_period_start": state.current_period_start,
        "current_period_end": state.current_period_end,
        "cancel_at_period_end": state.cancel_at_period_end,
        "grace_until": grace_until,
    }
    if row.stripe_customer_id is None and state.customer_id:
        values["stripe_customer_id"] = state.customer_id
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if as_of is not None and (row.last_event_at is None or as_of > row.last_event_at):
        row.last_event_at = as_of
    return changed
