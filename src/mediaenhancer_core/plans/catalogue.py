"""Plans and which one a user is on.

Plans are rows of ``subscription_plans`` (seeded by migration 0002). :func:`plan_for_user`
is the one answer to "whose limits apply to this user now"; the media library's quota
checks and the usage report ask it. The rules (:func:`subscription_grants_plan`):

- no subscription row: the free plan;
- ``active`` or ``trialing``: the subscribed plan, also while it is set to cancel at the
  period end; once that end has passed, the free plan (even before Stripe's
  ``customer.subscription.deleted`` arrives);
- ``past_due``: the subscribed plan until ``grace_until`` (the unpaid period's start plus
  the ``past_due_grace_days`` setting, written by billing), then the free plan;
- anything else (``canceled``, ``unpaid``, ``incomplete``, ``paused``...): the free plan.

A downgrade deletes nothing: what is over the new limits stays, and new uploads, projects
and exports are refused until the user is back under them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mediaenhancer_core.db.models import SubscriptionPlan, UserSubscription
from mediaenhancer_core.db.types import utcnow
from mediaenhancer_core.errors import NotFoundError

__all__ = [
    "AI_NOT_IN_PLAN",
    "Plans",
    "plan_allows_ai",
    "require_ai",
    "FREE_PLAN_ID",
    "GOOD_STANDING",
    "list_plans",
    "get_plan",
    "plan_for_user",
    "plan_dict",
    "subscription_grants_plan",
]

FREE_PLAN_ID = "starter"
GOOD_STANDING = ("active", "trialing", "past_due")  # statuses that can keep a paid plan (see below for when)


def list_plans(session: Session) -> list[SubscriptionPlan]:
    return list(
        session.scalars(
            select(SubscriptionPlan).where(SubscriptionPlan.is_public.is_(True)).order_by(SubscriptionPlan.sort_order)
        )
    )


def get_plan(session: Session, plan_id: str) -> SubscriptionPlan:
    plan = session.get(SubscriptionPlan, plan_id)
    if plan is None:
        known = ", ".join(p.id for p in list_plans(session))
        raise NotFoundError(f"unknown plan {plan_id!r}; plans are: {known}")
    return plan


def subscription_grants_plan(
    status: str,
    *,
    cancel_at_period_end: bool,
    current_period_end: datetime | None,
    grace_until: datetime | None,
    now: datetime,
) -> bool:
    """Whether a subscription in this state still gives its plan's limits at ``now``."""
    if status in ("active", "trialing"):
        return not (cancel_at_period_end and current_period_end is not None and now >= current_period_end)
    if status == "past_due":
        return grace_until is None or now < grace_until
    return False


def plan_for_user(
    session: Session, user_id: uuid.UUID, *, now: datetime | None = None
) -> tuple[SubscriptionPlan, UserSubscription | None]:
    """The plan whose limits apply to the user at ``now`` (default: the current time), and
    their subscription row if any (whatever its state)."""
    row = session.execute(
        select(UserSubscription, SubscriptionPlan)
        .join(SubscriptionPlan, SubscriptionPlan.id == UserSubscription.plan_id)
        .where(UserSubscription.user_id == user_id)
    ).first()
    if row is None:
        return get_plan(session, FREE_PLAN_ID), None
    sub, plan = row[0], row[1]
    granted = subscription_grants_plan(
        sub.status,
        cancel_at_period_end=sub.cancel_at_period_end,
        current_period_end=sub.current_period_end,
        grace_until=sub.grace_until,
        now=now or utcnow(),
    )
    return (plan if granted else get_plan(session, FREE_PLAN_ID)), sub


def plan_dict(plan: SubscriptionPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "price_cents": plan.price_cents,
        "currency": plan.currency,
        "interval": plan.interval,
        "features": list(plan.features or []),
        "limits": {
            "storage_bytes": plan.storage_limit_bytes,
            "projects": plan.project_limit,
            "exports_per_month": plan.monthly_export_limit,
            "media_duration_seconds": plan.max_media_duration_seconds,
        },
    }


def plan_allows_ai(session: Session, user_id: uuid.UUID) -> bool:
    """Whether the plan in force has the Gemini features (Starter has none)."""
    return bool(plan_for_user(session, user_id)[0].ai_enabled)


AI_NOT_IN_PLAN = "transcription is not part of your plan; upgrade to Creator or Professional to use it"


def require_ai(session: Session, user_id: uuid.UUID) -> None:
    """The one rule for the Gemini features: admission (the API) and the worker (the plan may have
    changed since the job was queued) both ask it."""
    from mediaenhancer_core.errors import ForbiddenError  # noqa: PLC0415

    if not plan_allows_ai(session, user_id):
        raise ForbiddenError(AI_NOT_IN_PLAN)


class Plans:
    """The catalogue and a user's place in it, for front ends that must not hold SQL sessions."""

    def __init__(self, db: Any, *, clock: Any) -> None:
        self._db, self._clock = db, clock

    def catalogue(self) -> list[dict[str, Any]]:
        with self._db.session() as session:
            return [plan_dict(p) for p in list_plans(session)]

    def current(self, user_id: uuid.UUID) -> dict[str, Any]:
        with self._db.session() as session:
            return plan_dict(plan_for_user(session, user_id)[0])

    def usage(self, user_id: uuid.UUID) -> dict[str, Any]:
        from mediaenhancer_core.plans.usage import usage_summary  # noqa: PLC0415 - usage imports this module

        with self._db.session() as session:
            return usage_summary(session, user_id, self._clock())
