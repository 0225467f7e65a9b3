"""Jobs in the database: creation, user-scoped reads, leases, cancellation, outcomes.

The ``jobs`` row is the truth about a job; the task queue only carries "look at job X
now". A worker may run a job only while it holds its lease:

* :meth:`JobService.claim` is one conditional UPDATE: it succeeds for exactly one worker,
  and only when the job is queued, or running under a lease that has expired (its worker
  died). So a job never runs twice at once, and a killed worker's job is taken over.
* :meth:`JobService.heartbeat` extends the lease and reports progress; it tells the worker
  when the user asked to cancel, or when it lost the lease.
* :meth:`JobService.expired` finds running jobs whose lease ran out, so they can be queued
  again (or failed once they used up their attempts).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from mediaenhancer_core.db.models import JOB_STATUSES, JOB_TYPES, Export, Job
from mediaenhancer_core.db.types import utcnow
from mediaenhancer_core.errors import ConflictError, NotFoundError, ValidationError

__all__ = ["JobService", "JobView", "FINISHED", "ENHANCE_TYPES"]

FINISHED = ("succeeded", "failed", "canceled")
FAIR_WINDOW = 500  # queued jobs considered by one fair claim (the oldest)
ENHANCE_TYPES = tuple(t for t in JOB_TYPES if t != "export")


@dataclass(frozen=True)
class JobView:
    """A job as the API and the CLI show it."""

    id: uuid.UUID
    user_id: uuid.UUID
    type: str
    status: str
    progress: int
    media_id: uuid.UUID | None
    project_id: uuid.UUID | None
    result_media_id: uuid.UUID | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    callback_url: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            user_id=job.user_id,
            type=job.type,
            status=job.status,
            progress=job.progress,
            media_id=job.media_id,
            project_id=job.project_id,
            result_media_id=job.result_media_id,
            params=dict(job.params or {}),
            result=dict(job.result) if job.result is not None else None,
            error=job.error,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            cancel_requested=bool(job.cancel_requested),
            callback_url=job.callback_url,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )

    def to_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": str(self.id),
            "type": self.type,
            "status": self.status,
            "progress": self.progress,
            "media_id": str(self.media_id) if self.media_id else None,
            "project_id": str(self.project_id) if self.project_id else None,
            "result_media_id": str(self.result_media_id) if self.result_media_id else None,
            "params": self.params,
            "result": self.result,
            "error": self.error,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "cancel_requested": self.cancel_requested,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
        }


def _running_limit(session: Session, user_id: uuid.UUID) -> int:
    from mediaenhancer_core.plans.catalogue import plan_for_user  # noqa: PLC0415

    plan, _ = plan_for_user(session, user_id)
    return max(1, int(plan.max_running_jobs or 1))


def _end_exports(session: Session, job: Job) -> None:
    """An export follows its job when the job ends without success (success is recorded by the
    export handler itself, with the file)."""
    if job.status in ("failed", "canceled"):
        session.execute(
            update(Export)
            .where(Export.job_id == job.id, Export.status.in_(("queued", "running")))
            .values(status=job.status, error=job.error)
            .execution_options(synchronize_session=False)
        )


class JobService:
    def __init__(self, session_factory: Callable[[], Any], *, clock: Callable[[], datetime] = utcnow) -> None:
        self._session_factory = session_factory
        self._clock = clock

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._session_factory() as session:
            yield session

    # ---- the user's side -------------------------------------------------
    def create(
        self,
        user_id: uuid.UUID,
        type: str,
        *,
        params: dict[str, Any] | None = None,
        media_id: uuid.UUID | None = None,
        project_id: uuid.UUID | None = None,
        callback_url: str | None = None,
        max_attempts: int = 3,
        session: Session | None = None,
    ) -> JobView:
        if type not in JOB_TYPES:
            raise ValidationError(f"type: unknown job type {type!r}; use one of {', '.join(JOB_TYPES)}", field="type")
        job = Job(
            user_id=user_id,
            type=type,
            params=params or {},
            media_id=media_id,
            project_id=project_id,
            callback_url=callback_url,
            max_attempts=max_attempts,
            status="queued",
            progress=0,
        )
        if session is not None:  # part of the caller's transaction (e.g. with an exports row)
            session.add(job)
            session.flush()
            return JobView.of(job)
        with self._session() as s:
            s.add(job)
            s.commit()
            return JobView.of(job)

    def get(self, user_id: uuid.UUID, job_id: uuid.UUID) -> JobView:
        with self._session() as s:
            job = s.get(Job, job_id)
            if job is None or job.user_id != user_id:
                raise NotFoundError("no such job")
            return JobView.of(job)

    def list(self, user_id: uuid.UUID, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[JobView]:
        if status is not None and status not in JOB_STATUSES:
            raise ValidationError(f"status: use one of {', '.join(JOB_STATUSES)}", field="status")
        with self._session() as s:
            q = select(Job).where(Job.user_id == user_id)
            if status:
                q = q.where(Job.status == status)
            q = q.order_by(Job.created_at.desc(), Job.id).limit(min(max(limit, 1), 200)).offset(max(offset, 0))
            return [JobView.of(j) for j in s.scalars(q)]

    def request_cancel(self, user_id: uuid.UUID, job_id: uuid.UUID) -> JobView:
        """Queued: canceled at once. Running: its worker stops ffmpeg within a heartbeat."""
        now = self._clock()
        with self._session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None or job.user_id != user_id:
                raise NotFoundError("no such job")
            if job.status in FINISHED:
                raise ConflictError(f"the job already {job.status}; nothing to cancel")
            job.cancel_requested = True
            if job.status == "queued":
                job.status, job.finished_at, job.lease_owner, job.lease_expires_at = "canceled", now, None, None
                job.error = "canceled by the user"
                _end_exports(s, job)
            s.commit()
            return JobView.of(job)

    # ---- the worker's side -----------------------------------------------
    def load(self, job_id: uuid.UUID) -> JobView | None:
        with self._session() as s:
            job = s.get(Job, job_id)
            return JobView.of(job) if job else None

    def claim(self, job_id: uuid.UUID, owner: str, lease: timedelta) -> JobView | None:
        """Take the job if nobody holds a live lease on it; None when someone else has it or it ended."""
        now = self._clock()
        with self._session() as s:
            res = cast(
                CursorResult[Any],
                s.execute(
                    update(Job)
                    .where(
                        Job.id == job_id,
                        Job.cancel_requested.is_(False),
                        or_(
                            Job.status == "queued",
                            and_(Job.status == "running", Job.lease_expires_at < now),
                        ),
                        Job.attempts < Job.max_attempts,
                    )
                    .values(
                        status="running",
                        lease_owner=owner,
                        lease_expires_at=now + lease,
                        attempts=Job.attempts + 1,
                        started_at=now,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                ),
            )
            s.commit()
            if res.rowcount != 1:
                return None
            job = s.get(Job, job_id, populate_existing=True)
            return JobView.of(job) if job else None

    def claim_fair(self, hint: uuid.UUID, owner: str, lease: timedelta) -> tuple[JobView | None, uuid.UUID | None]:
        """Take the next job to run, fairly between users (issue 12: 40 jobs of one user made
        another user's job wait behind them all). A queue message only says "a job is ready";
        which job runs is decided here:

        * candidates: the job of the message (``hint``) if still queued, and every queued job that
          never ran (a retry waits for its own delayed message);
        * a user already running their plan's ``max_running_jobs`` is skipped;
        * the others in round-robin order: fewest running jobs first, then the user served least
          recently, then the oldest job.

        Claiming takes the user's quota lock, so concurrent workers cannot exceed the user's
        running limit. Returns (the job claimed or None, a job to look at again later: one that
        waits only for its user's running jobs, whose message this call consumed)."""
        now = self._clock()
        with self._session() as s:
            candidates = list(
                s.execute(
                    select(Job.id, Job.user_id, Job.created_at)
                    .where(
                        Job.status == "queued", Job.cancel_requested.is_(False), or_(Job.id == hint, Job.attempts == 0)
                    )
                    .order_by(Job.created_at)
                    .limit(FAIR_WINDOW)
                ).all()
            )
            hinted = s.execute(
                select(Job.id, Job.user_id, Job.created_at).where(
                    Job.id == hint, Job.status == "queued", Job.cancel_requested.is_(False)
                )
            ).first()
            if hinted is not None and all(c.id != hint for c in candidates):
                candidates.append(hinted)
            users = {c.user_id for c in candidates}
            if not users:
                return None, None
            live = and_(Job.status == "running", Job.lease_expires_at > now)
            running = dict(
                s.execute(
                    select(Job.user_id, func.count(Job.id)).where(live, Job.user_id.in_(users)).group_by(Job.user_id)
                ).all()
            )
            served = dict(
                s.execute(
                    select(Job.user_id, func.max(Job.started_at)).where(Job.user_id.in_(users)).group_by(Job.user_id)
                ).all()
            )
            limits = {u: _running_limit(s, u) for u in users}
        oldest = datetime.min.replace(tzinfo=now.tzinfo)
        order = sorted(
            candidates,
            key=lambda c: (running.get(c.user_id, 0), served.get(c.user_id) or oldest, c.created_at, c.id != hint),
        )
        blocked: uuid.UUID | None = None
        for c in order:
            if running.get(c.user_id, 0) >= limits[c.user_id]:
                blocked = blocked or c.id
                continue
            view = self._claim_within_limit(c.id, c.user_id, limits[c.user_id], owner, lease)
            if view is not None:
                return view, (hint if hinted is not None and hint != view.id and blocked == hint else None)
        return None, (hint if hinted is not None else blocked)

    def _claim_within_limit(
        self, job_id: uuid.UUID, user_id: uuid.UUID, limit: int, owner: str, lease: timedelta
    ) -> JobView | None:
        from mediaenhancer_core.plans.quotas import lock_user  # noqa: PLC0415 - quotas imports plans, which imports this package's models

        now = self._clock()
        with self._session() as s:
            lock_user(s, user_id)
            busy = (
                s.scalar(
                    select(func.count(Job.id)).where(
                        Job.user_id == user_id, Job.status == "running", Job.lease_expires_at > now
                    )
                )
                or 0
            )
            if busy >= limit:
                s.rollback()
                return None
            res = cast(
                CursorResult[Any],
                s.execute(
                    update(Job)
                    .where(
                        Job.id == job_id,
                        Job.status == "queued",
                        Job.cancel_requested.is_(False),
                        Job.attempts < Job.max_attempts,
                    )
                    .values(
                        status="running",
                        lease_owner=owner,
                        lease_expires_at=now + lease,
                        attempts=Job.attempts + 1,
                        started_at=now,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                ),
            )
            s.commit()
            if res.rowcount != 1:
                return None
            job = s.get(Job, job_id, populate_existing=True)
            return JobView.of(job) if job else None

    def heartbeat(
        self, job_id: uuid.UUID, owner: str, lease: timedelta, progress: int | None = None
    ) -> tuple[bool, bool]:
        """Extend the lease (and record progress). Returns (still ours, cancel requested)."""
        now = self._clock()
        values: dict[str, Any] = {"lease_expires_at": now + lease, "updated_at": now}
        if progress is not None:
            values["progress"] = max(0, min(99, int(progress)))
        with self._session() as s:
            res = cast(
                CursorResult[Any],
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
                    .values(**values)
                    .execution_options(synchronize_session=False)
                ),
            )
            s.commit()
            job = s.get(Job, job_id, populate_existing=True)
            return res.rowcount == 1, bool(job and job.cancel_requested)

    def finish(
        self,
        job_id: uuid.UUID,
        owner: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        result_media_id: uuid.UUID | None = None,
        on_commit: Callable[[Session, Job], None] | None = None,
    ) -> JobView | None:
        """Record the outcome, only if ``owner`` still holds the job. ``on_commit`` runs in the
        same transaction (e.g. to complete the export row and count it)."""
        assert status in FINISHED
        now = self._clock()
        with self._session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None or job.lease_owner != owner or job.status != "running":
                s.rollback()
                return None
            job.status, job.finished_at, job.lease_owner, job.lease_expires_at = status, now, None, None
            job.progress = 100 if status == "succeeded" else job.progress
            job.result, job.error = result, error
            if result_media_id is not None:
                job.result_media_id = result_media_id
            if on_commit is not None:
                on_commit(s, job)
            _end_exports(s, job)
            s.commit()
            return JobView.of(job)

    def release(self, job_id: uuid.UUID, owner: str, error: str) -> bool:
        """Give the job back to the queue after a transient failure (the caller re-enqueues it)."""
        now = self._clock()
        with self._session() as s:
            res = cast(
                CursorResult[Any],
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")
                    .values(status="queued", lease_owner=None, lease_expires_at=None, error=error, updated_at=now)
                    .execution_options(synchronize_session=False)
                ),
            )
            s.commit()
            return res.rowcount == 1

    def expired(self) -> tuple[builtins.list[uuid.UUID], builtins.list[uuid.UUID]]:
        """Running jobs whose worker stopped renewing its lease: (to run again, ended: given up or canceled)."""
        now = self._clock()
        again: list[uuid.UUID] = []
        failed: list[uuid.UUID] = []
        with self._session() as s:
            stale = list(
                s.scalars(
                    select(Job)
                    .where(Job.status == "running", Job.lease_expires_at < now)
                    .with_for_update(skip_locked=True)
                )
            )
            for job in stale:
                job.lease_owner, job.lease_expires_at = None, None
                if job.cancel_requested:
                    job.status, job.finished_at, job.error = "canceled", now, "canceled by the user"
                    failed.append(job.id)
                elif job.attempts >= job.max_attempts:
                    job.status, job.finished_at = "failed", now
                    job.error = f"its worker stopped {job.attempts} times; giving up"
                    failed.append(job.id)
                else:
                    job.status = "queued"
                    again.append(job.id)
                _end_exports(s, job)
            s.commit()
        return again, failed

    def stale_queued(self, *, older_than: timedelta) -> builtins.list[uuid.UUID]:
        """Queued jobs untouched for a while: their message may be lost (an enqueue that failed
        after the commit). Queueing them again is harmless: only one claim can win."""
        cutoff = self._clock() - older_than
        with self._session() as s:
            return list(
                s.scalars(
                    select(Job.id)
                    .where(Job.status == "queued", Job.updated_at < cutoff)
                    .order_by(Job.created_at)
                    .limit(500)
                )
            )
