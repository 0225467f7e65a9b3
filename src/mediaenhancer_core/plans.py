"""Plans and which one a user is on.

Plans are rows of ``subscription_plans`` (seeded by migration 0002). A user without a
subscription row, or whose subscription is not in good standing, is on the free plan.
Issue 5 (billing) refines the standing rules (grace period for past_due).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import SubscriptionPlan, UserSubscription
from .errors import NotFoundError

__all__ = ["FREE_PLAN_ID", "GOOD_STANDING", "list_plans", "get_plan", "plan_for_user", "plan_dict"]

FREE_PLAN_ID = "starter"
GOOD_STANDING = ("active", "trialing", "past_due")


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


def plan_for_user(session: Session, user_id: uuid.UUID) -> tuple[SubscriptionPlan, UserSubscription | None]:
    """The plan whose limits apply to the user now, and their subscription row if any."""
    row = session.execute(
        select(UserSubscription, SubscriptionPlan)
        .join(SubscriptionPlan, SubscriptionPlan.id == UserSubscription.plan_id)
        .where(UserSubscription.user_id == user_id)
    ).first()
    if row is not None and row[0].status in GOOD_STANDING:
        return row[1], row[0]
    return get_plan(session, FREE_PLAN_ID), (row[0] if row is not None else None)


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
