"""Plan limits, enforced in the database so that concurrent requests cannot overshoot them.

:func:`effective_limits` is the one answer to "which limits apply to this user now"
(it follows :func:`~mediaenhancer_core.plans.catalogue.plan_for_user`, which billing refines with
grace periods). Every decision that adds usage runs inside one transaction that first
takes :func:`lock_user` (a row lock on PostgreSQL, the database's write lock on SQLite),
then counts, then writes its reservation, so 20 concurrent uploads that together exceed
the remaining storage are admitted one at a time and the user never ends up over quota.

Storage is reserved before a single byte is stored: an upload's media row is written in
status ``uploading`` with ``file_size`` set to the bytes it may use, and shrinks to the
real size when the upload completes; a refused or failed upload deletes its row, which
frees the reservation. Errors state the limit, the usage and how to upgrade.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from mediaenhancer_core.db.models import Export, MediaFile, Project, SubscriptionPlan, UsageEvent, User
from mediaenhancer_core.errors import (
    ExportQuotaError,
    MediaTooLongError,
    NotFoundError,
    ProjectQuotaError,
    StorageQuotaError,
    TooManyJobsError,
)
from mediaenhancer_core.plans.catalogue import list_plans, plan_for_user

__all__ = [
    "Limits",
    "effective_limits",
    "lock_user",
    "storage_used",
    "reserve_storage",
    "check_project_quota",
    "check_media_duration",
    "check_export_quota",
    "exports_used",
    "check_job_slots",
    "human_bytes",
]


@dataclass(frozen=True)
class Limits:
    """The limits that apply now. ``None`` means unlimited."""

    plan_id: str
    plan_name: str
    storage_bytes: int | None
    projects: int | None
    exports_per_month: int | None
    media_duration_seconds: int


def effective_limits(session: Session, user_id: uuid.UUID) -> Limits:
    plan, _subscription = plan_for_user(session, user_id)
    return Limits(
        plan_id=plan.id,
        plan_name=plan.name,
        storage_bytes=plan.storage_limit_bytes,
        projects=plan.project_limit,
        exports_per_month=plan.monthly_export_limit,
        media_duration_seconds=plan.max_media_duration_seconds,
    )


def lock_user(session: Session, user_id: uuid.UUID) -> None:
    """Serialize quota decisions of one user until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(select(User.id).where(User.id == user_id).with_for_update()).first() is not None
    else:
        # SQLite has no row locks: a write as the transaction's first statement takes the
        # database's write lock, and the counts that follow see every committed reservation.
        found = (
            cast(
                CursorResult[Any],
                session.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(updated_at=User.updated_at)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            == 1
        )
    if not found:
        raise NotFoundError("no such user")


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unlimited"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"


def _upgrade_hint(session: Session, limits: Limits, better: str) -> str:
    """Which plan lifts the limit, as a command to run."""
    plans: list[SubscriptionPlan] = list_plans(session)
    current = next((p for p in plans if p.id == limits.plan_id), None)
    order = current.sort_order if current is not None else -1
    for plan in plans:
        if plan.sort_order <= order:
            continue
        value = getattr(plan, better)
        mine = getattr(current, better) if current is not None else 0
        if value is None or (mine is not None and value > mine):
            return f"upgrade to {plan.name} with `mediaenhancer upgrade {plan.id}` (see GET /api/subscriptions/plans)"
    return "no larger plan is available"


def storage_used(session: Session, user_id: uuid.UUID) -> int:
    """Bytes of every media row of the user, uploads in progress (their reservations) included."""
    return int(
        session.scalar(select(func.coalesce(func.sum(MediaFile.file_size), 0)).where(MediaFile.user_id == user_id)) or 0
    )


def reserve_storage(session: Session, user_id: uuid.UUID, nbytes: int, limits: Limits) -> None:
    """Refuse unless ``nbytes`` more fit in the plan (call under :func:`lock_user`, then insert the row)."""
    if limits.storage_bytes is None:
        return
    used = storage_used(session, user_id)
    if used + nbytes > limits.storage_bytes:
        left = max(0, limits.storage_bytes - used)
        raise StorageQuotaError(
            f"not enough storage on the {limits.plan_name} plan: this upload needs {human_bytes(nbytes)}, "
            f"you use {human_bytes(used)} of {human_bytes(limits.storage_bytes)} ({human_bytes(left)} left); "
            f"delete media you no longer need, or {_upgrade_hint(session, limits, 'storage_limit_bytes')}",
            details={"plan": limits.plan_id, "limit": limits.storage_bytes, "used": used, "requested": nbytes},
        )


def check_project_quota(session: Session, user_id: uuid.UUID, limits: Limits) -> None:
    """Refuse a new project when the plan's count is reached (call under :func:`lock_user`)."""
    if limits.projects is None:
        return
    used = int(session.scalar(select(func.count(Project.id)).where(Project.user_id == user_id)) or 0)
    if used >= limits.projects:
        raise ProjectQuotaError(
            f"the {limits.plan_name} plan allows {limits.projects} projects and you have {used}; "
            f"delete a project, or {_upgrade_hint(session, limits, 'project_limit')}",
            details={"plan": limits.plan_id, "limit": limits.projects, "used": used, "requested": 1},
        )


def check_media_duration(session: Session, limits: Limits, duration: float | None) -> None:
    if duration is None or duration <= limits.media_duration_seconds:
        return
    raise MediaTooLongError(
        f"this media is {duration:.0f} s long and the {limits.plan_name} plan accepts media up to "
        f"{limits.media_duration_seconds} s; trim it, or {_upgrade_hint(session, limits, 'max_media_duration_seconds')}",
        details={
            "plan": limits.plan_id,
            "limit": limits.media_duration_seconds,
            "used": round(duration, 3),
            "requested": round(duration, 3),
        },
    )


def exports_used(session: Session, user_id: uuid.UUID, period: tuple[datetime, datetime]) -> int:
    """Exports that succeeded in the period, from the usage records: they stay when the user
    deletes the project or the exported file (issue 12: deleting a project reset the count)."""
    start, end = period
    return int(
        session.scalar(
            select(func.count(UsageEvent.id)).where(
                UsageEvent.user_id == user_id,
                UsageEvent.kind == "export_succeeded",
                UsageEvent.created_at >= start,
                UsageEvent.created_at < end,
            )
        )
        or 0
    )


def check_export_quota(
    session: Session, user_id: uuid.UUID, limits: Limits, period: tuple[datetime, datetime], *, in_flight: bool = False
) -> None:
    """Refuse an export when this period's exports reach the plan's limit. ``in_flight``: count the
    queued and running ones too (admitting a new export: call under :func:`lock_user`, so
    concurrent requests cannot all pass); a failed export frees its place."""
    if limits.exports_per_month is None:
        return
    start, end = period
    used = exports_used(session, user_id, period)
    if in_flight:
        pending = Export.status.in_(("queued", "running")) & (Export.created_at >= start)
        used += int(session.scalar(select(func.count(Export.id)).where(Export.user_id == user_id, pending)) or 0)
    if used >= limits.exports_per_month:
        raise ExportQuotaError(
            f"the {limits.plan_name} plan allows {limits.exports_per_month} exports a month and you made {used} "
            f"this period; wait until {end:%Y-%m-%d}, or {_upgrade_hint(session, limits, 'monthly_export_limit')}",
            details={"plan": limits.plan_id, "limit": limits.exports_per_month, "used": used, "requested": 1},
        )


JOB_SLOT_RETRY_SECONDS = 30


def check_job_slots(session: Session, user_id: uuid.UUID) -> None:
    """Refuse a new job when the user already has the plan's ``max_queued_jobs`` waiting or running
    (call under :func:`lock_user`): one user cannot fill the queue (issue 12). TooManyJobsError (429)."""
    from mediaenhancer_core.db.models import Job  # noqa: PLC0415

    plan, _ = plan_for_user(session, user_id)
    limit = int(plan.max_queued_jobs or 1)
    active = int(
        session.scalar(select(func.count(Job.id)).where(Job.user_id == user_id, Job.status.in_(("queued", "running"))))
        or 0
    )
    if active >= limit:
        raise TooManyJobsError(
            f"you have {active} jobs waiting or running, the most the {plan.name} plan allows at once; "
            "wait for some to finish (or cancel some), then try again",
            retry_after=JOB_SLOT_RETRY_SECONDS,
        )
