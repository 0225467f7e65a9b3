"""Running jobs: claim the lease, keep it alive, run the handler, record the outcome.

One :class:`JobRunner` per worker process. Each job runs under a lease renewed by a
heartbeat thread, which also carries the user's cancel request to the running ffmpeg
(through the handler's :class:`~mediaenhancer_core.engine.ffmpeg.CancelToken`). Transient
failures (storage, network, database) are retried with exponential backoff up to the
job's ``max_attempts``; permanent ones (bad input, invalid plan) fail the job at once.
A sweeper thread re-queues jobs whose worker died (their lease expired).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from mediaenhancer_core.db.models import Job
from mediaenhancer_core.engine.ffmpeg import CancelToken
from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir
from mediaenhancer_core.errors import (
    AIQuotaError,
    AIServiceError,
    AITimeoutError,
    CancelledError,
    ConfigError,
    DatabaseError,
    MediaEnhancerError,
    ServiceUnavailableError,
    StorageError,
)
from mediaenhancer_core.jobs.queue import JobQueue
from mediaenhancer_core.jobs.service import JobService, JobView

__all__ = ["JobContext", "JobOutcome", "JobRunner", "Handler", "TRANSIENT_ERRORS"]

log = logging.getLogger("mediaenhancer.jobs")


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    StorageError,
    ServiceUnavailableError,
    DatabaseError,
    ConnectionError,
    TimeoutError,
    AIQuotaError,
    AIServiceError,
    AITimeoutError,  # Gemini busy or down: try again later
)


@dataclass
class JobContext:
    job: JobView
    workdir: Path
    cancel: CancelToken
    report: Callable[[float], None]  # fraction 0..1 of the job done
    attempt: int


@dataclass
class JobOutcome:
    result: dict[str, Any] = field(default_factory=dict)
    result_media_id: uuid.UUID | None = None
    on_commit: Callable[[Session, Job], None] | None = None  # runs in the transaction that ends the job
    on_abandon: Callable[[], None] | None = None  # undo side effects when the outcome cannot be recorded


Handler = Callable[[JobContext], JobOutcome]


class JobRunner:
    def __init__(
        self,
        service: JobService,
        queue: JobQueue,
        handlers: dict[str, Handler],
        *,
        lease_seconds: float = 60.0,
        heartbeat_seconds: float = 5.0,
        retry_base_seconds: float = 10.0,
        sweep_seconds: float = 15.0,
        temp_dir: Path | None = None,
        on_finished: Callable[[JobView], None] | None = None,
    ) -> None:
        self.service = service
        self.queue = queue
        self.handlers = handlers
        self.lease = timedelta(seconds=lease_seconds)
        self.heartbeat_seconds = heartbeat_seconds
        self.retry_base = retry_base_seconds
        self.sweep_seconds = sweep_seconds
        self.temp_dir = temp_dir
        self.on_finished = on_finished
        self.defer_seconds = max(0.2, heartbeat_seconds)  # a job held back by its user's running limit looks again
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self.running: dict[uuid.UUID, CancelToken] = {}
        self._lock = threading.Lock()

    # ---- one job -----------------------------------------------------------
    def run(self, job_id: str) -> None:
        hint = uuid.UUID(job_id)
        owner = f"{self.process_id}:{threading.get_ident()}"
        # the message says "a job is ready"; which one runs is decided fairly between users, within
        # each user's running limit (issue 12; see JobService.claim_fair)
        job, later = self.service.claim_fair(hint, owner, self.lease)
        if later is not None:
            self.queue.enqueue(later, delay=self.defer_seconds)
        if job is None:
            log.info("job %s: nothing claimed (taken, finished, canceled, or its user is at the running limit)", hint)
            return
        jid = job.id
        handler = self.handlers.get(job.type)
        token = CancelToken()
        progress = {"value": 0}
        done = threading.Event()
        lost = threading.Event()

        def heartbeat() -> None:
            while not done.wait(self.heartbeat_seconds):
                try:
                    ours, cancel = self.service.heartbeat(jid, owner, self.lease, progress["value"])
                except Exception as exc:  # noqa: BLE001 - a database blip: the lease has slack, beat again
                    log.warning("job %s: heartbeat failed: %s", jid, exc)
                    continue
                if cancel:
                    token.cancel("canceled")
                if not ours:
                    lost.set()
                    token.cancel("lease lost")
                    return

        beat = threading.Thread(target=heartbeat, name=f"heartbeat-{jid}", daemon=True)
        beat.start()
        with self._lock:
            self.running[jid] = token
        workdir: Path | None = None
        outcome: JobOutcome | None = None
        try:
            # owned (locked) while the job runs: a worker that starts after this one died removes it
            workdir = make_workdir(f"mediaenhancer-job-{jid.hex[:8]}-", self.temp_dir)
            if handler is None:
                raise ConfigError(f"no worker here can run {job.type} jobs; start one with the handlers for it")

            def report(fraction: float) -> None:
                progress["value"] = int(max(0.0, min(0.99, fraction)) * 100)

            outcome = handler(JobContext(job=job, workdir=workdir, cancel=token, report=report, attempt=job.attempts))
        except CancelledError:
            self._end_after_cancel(jid, owner, lost)
            return
        except TRANSIENT_ERRORS as exc:
            code = exc.code if isinstance(exc, MediaEnhancerError) else "service_unavailable"
            self._retry_or_fail(job, owner, str(exc) or type(exc).__name__, code)
            return
        except MediaEnhancerError as exc:
            self._record(jid, owner, "failed", error=exc.message, code=exc.code)
            return
        except Exception as exc:  # the outermost boundary of a job: record, never crash the worker
            log.exception("job %s: unexpected error", jid)
            self._record(
                jid, owner, "failed", error=f"internal error ({type(exc).__name__}); the job was not completed"
            )
            return
        finally:
            done.set()
            beat.join(timeout=5)
            with self._lock:
                self.running.pop(jid, None)
            if workdir is not None:
                remove_workdir(workdir)
        assert outcome is not None
        try:
            view = self.service.finish(
                jid,
                owner,
                "succeeded",
                result=outcome.result,
                result_media_id=outcome.result_media_id,
                on_commit=outcome.on_commit,
            )
        except Exception as exc:  # the outcome could not be recorded: undo it, try again later
            log.exception("job %s: recording its result failed", jid)
            if outcome.on_abandon:
                outcome.on_abandon()
            try:
                self._retry_or_fail(job, owner, f"recording the result failed ({type(exc).__name__})")
            except Exception:  # the database is down: the lease runs out and the sweep retries
                log.exception("job %s: could not release it either", jid)
            return
        if view is None:
            # we lost the lease (another worker took over after a long stall): our result must not count
            log.warning("job %s: finished after losing its lease; result discarded", jid)
            if outcome.on_abandon:
                outcome.on_abandon()
            return
        self._finished(view)

    def _end_after_cancel(self, jid: uuid.UUID, owner: str, lost: threading.Event) -> None:
        if lost.is_set():
            return  # someone else holds the job now
        if self._stop.is_set():  # the worker is shutting down, not the user canceling: run it again later
            if self.service.release(jid, owner, "its worker stopped; queued again"):
                self.queue.enqueue(jid)
            return
        self._record(jid, owner, "canceled", error="canceled by the user")

    def _retry_or_fail(self, job: JobView, owner: str, error: str, code: str = "service_unavailable") -> None:
        if job.attempts < job.max_attempts:
            delay = self.retry_base * (2 ** (job.attempts - 1)) * random.uniform(0.8, 1.2)
            if self.service.release(job.id, owner, f"attempt {job.attempts} failed: {error}; retrying"):
                log.info("job %s: attempt %d failed (%s); retrying in %.1f s", job.id, job.attempts, error, delay)
                self.queue.enqueue(job.id, delay=delay)
            return
        self._record(job.id, owner, "failed", error=f"{error} (after {job.attempts} attempts)", code=code)

    def _record(
        self, jid: uuid.UUID, owner: str, status: str, *, error: str | None = None, code: str | None = None
    ) -> None:
        # the error's code travels with the job, so clients can tell a quota refusal from a render failure
        view = self.service.finish(jid, owner, status, error=error, result={"error_code": code} if code else None)
        if view is not None:
            self._finished(view)

    def _finished(self, view: JobView) -> None:
        """Every ending a worker sees goes through here (the completion callback is queued)."""
        if self.on_finished is None:
            return
        try:
            self.on_finished(view)
        except Exception:  # a hook problem must not undo the job
            log.exception("job %s: after-finish hook failed", view.id)

    # ---- recovery -------------------------------------------------------------
    def sweep(self) -> None:
        """Queue again the jobs whose worker died, and queued jobs whose message was lost; end
        those out of attempts (or canceled meanwhile) through the same hooks as any ending."""
        again, ended = self.service.expired()
        stale = self.service.stale_queued(older_than=self.lease)
        for jid in [*again, *stale]:
            log.warning("job %s: queued again (its worker stopped, or its message was lost)", jid)
            self.queue.enqueue(jid)
        for jid in ended:
            view = self.service.load(jid)
            if view is not None:
                self._finished(view)

    def start_sweeper(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.sweep_seconds):
                try:
                    self.sweep()
                except Exception:  # keep sweeping after a database blip
                    log.exception("job sweep failed")

        self._sweeper = threading.Thread(target=loop, name="job-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop: running jobs stop their ffmpeg and go back to the queue (not canceled)."""
        self._stop.set()
        with self._lock:
            tokens = list(self.running.values())
        for token in tokens:
            token.cancel("worker stopping")
