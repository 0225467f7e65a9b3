"""What a user has used against their plan's limits, computed from the tables.

Storage counts every media file the user holds (any status: an upload in progress
already takes its space; ``uploads`` says how much of it is such reservations);
exports count those that succeeded in the current period (from the usage records, which
outlive a deleted project), which is the calendar
month in UTC until billing (issue 5) supplies subscription periods. Limits of ``None`` mean unlimited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mediaenhancer_core.db.models import MediaFile, Project
from mediaenhancer_core.plans.catalogue import plan_dict, plan_for_user
from mediaenhancer_core.plans.quotas import exports_used

__all__ = ["usage_summary", "month_period", "usage_period", "export_period"]


def month_period(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def usage_period(subscription: Any, now: datetime) -> tuple[datetime, datetime]:
    """The period exports are counted in: the subscription's current one, else the calendar month."""
    if subscription is not None and subscription.current_period_start and subscription.current_period_end:
        if subscription.current_period_start <= now < subscription.current_period_end:
            return subscription.current_period_start, subscription.current_period_end
    return month_period(now)


def export_period(session: Session, user_id: uuid.UUID, now: datetime) -> tuple[datetime, datetime]:
    _plan, subscription = plan_for_user(session, user_id, now=now)
    return usage_period(subscription, now)


def usage_summary(session: Session, user_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    plan, subscription = plan_for_user(session, user_id, now=now)
    start, end = usage_period(subscription, now)
    storage_used, media_count = session.execute(
        select(func.coalesce(func.sum(MediaFile.file_size), 0), func.count(MediaFile.id)).where(
            MediaFile.user_id == user_id
        )
    ).one()
    uploading, reserved = session.execute(  # issue 4: uploads in progress hold their reservation
        select(func.count(MediaFile.id), func.coalesce(func.sum(MediaFile.file_size), 0)).where(
            MediaFile.user_id == user_id, MediaFile.status.in_(("uploading", "processing"))
        )
    ).one()
    projects = session.scalar(select(func.count(Project.id)).where(Project.user_id == user_id)) or 0
    exports = exports_used(session, user_id, (start, end))  # usage records outlive deleted projects
    limits = plan_dict(plan)["limits"]
    return {
        "plan": {"id": plan.id, "name": plan.name},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "storage": {"used_bytes": int(storage_used), "limit_bytes": limits["storage_bytes"]},
        "media": {"count": int(media_count), "max_duration_seconds": limits["media_duration_seconds"]},
        "projects": {"used": int(projects), "limit": limits["projects"]},
        "exports": {"used": int(exports), "limit": limits["exports_per_month"]},
        "uploads": {"in_progress": int(uploading), "reserved_bytes": int(reserved)},
    }
