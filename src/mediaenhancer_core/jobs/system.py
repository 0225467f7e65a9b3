"""The job system wired from settings: what the server and `mediaenhancer-server worker` use.

jobs = JobSystem.open(core)            # service, queue, callbacks
view = jobs.submit(user_id, "auto", media_id=..., params={...})   # row first, then the message
jobs.start_embedded()                  # the server's own worker threads (queue = embedded)
jobs.run_worker()                      # a worker process: blocks until SIGINT/SIGTERM
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediaenhancer_core.errors import ConfigError
from mediaenhancer_core.jobs.callbacks import CallbackSender, user_secret
from mediaenhancer_core.jobs.queue import JobQueue
from mediaenhancer_core.jobs.runner import Handler, JobRunner
from mediaenhancer_core.jobs.service import JobService, JobView
from mediaenhancer_core.keyfile import secret_key
from mediaenhancer_core.settings import Settings

__all__ = ["JobSystem", "CALLBACK_KEY_FILE"]

log = logging.getLogger("mediaenhancer.jobs")
CALLBACK_KEY_FILE = "callback-signing.key"


@dataclass
class JobSystem:
    settings: Settings
    service: JobService
    queue: JobQueue
    callbacks: CallbackSender
    server_key: bytes
    core: Any = None
    runner: JobRunner | None = None
    extra_handlers: dict[str, Handler] = field(default_factory=dict)

    @classmethod
    def open(cls, core: Any, *, queue: JobQueue | None = None, post: Callable[..., int] | None = None) -> JobSystem:
        settings: Settings = core.settings
        service = JobService(core.db.session, clock=core.clock)
        queue = queue or JobQueue(settings)
        key = secret_key(
            settings.callback_signing_secret,
            settings.data_dir,
            CALLBACK_KEY_FILE,
            setting="MEDIAENHANCER_CALLBACK_SIGNING_SECRET",
        )
        callbacks = CallbackSender(
            service,
            key,
            lambda jid, attempt, delay: queue.enqueue_callback(jid, attempt, delay=delay),
            timeout=settings.callback_timeout_seconds,
            max_attempts=settings.callback_max_attempts,
            allow_private=settings.callback_allow_private,
            post=post,
            dns_timeout=settings.callback_dns_timeout_seconds,
        )
        return cls(settings=settings, service=service, queue=queue, callbacks=callbacks, server_key=key, core=core)

    # ---- the user's side ----------------------------------------------------------------
    @property
    def admission(self) -> Any:
        """What the API admits and shows (:class:`.admission.JobAdmission`)."""
        from mediaenhancer_core.jobs.admission import JobAdmission  # noqa: PLC0415 - admission imports this module

        return JobAdmission(self, self.core)

    def enqueue(self, job_id: uuid.UUID) -> None:
        self.queue.enqueue(job_id)

    def cancel(self, user_id: uuid.UUID, job_id: uuid.UUID) -> JobView:
        """Cancel a job; one that was still queued ends now, and its callback goes out."""
        view = self.service.request_cancel(user_id, job_id)
        if view.status == "canceled" and view.callback_url:
            self.queue.enqueue_callback(view.id, 1)
        return view

    def callback_secret(self, user_id: uuid.UUID) -> str:
        return user_secret(self.server_key, user_id)

    # ---- workers ------------------------------------------------------------------------
    def make_runner(self) -> JobRunner:
        from mediaenhancer_core.jobs.handlers import build_handlers  # noqa: PLC0415 - the engine: only worker processes load it

        core = self.core
        if core is None or core.library is None:
            raise ConfigError("a worker needs the media library (storage settings)")
        lib = core.library
        planner_factory, transcriber = _ai_hooks()
        handlers = build_handlers(
            self.settings, core.db, lib, lib.tools, planner_factory=planner_factory, transcriber=transcriber
        )
        handlers.update(self.extra_handlers)
        s = self.settings

        def finished(view: JobView) -> None:
            if view.callback_url:
                self.queue.enqueue_callback(view.id, 1)

        runner = JobRunner(
            self.service,
            self.queue,
            handlers,
            lease_seconds=s.job_lease_seconds,
            heartbeat_seconds=s.job_heartbeat_seconds,
            retry_base_seconds=s.job_retry_base_seconds,
            sweep_seconds=s.job_sweep_seconds,
            temp_dir=s.temp_dir,
            on_finished=finished,
        )
        self.queue.attach(run_job=runner.run, deliver=lambda jid, attempt: self.callbacks.deliver(jid, attempt))
        self.runner = runner
        return runner

    def reap_workdirs(self) -> None:
        """Remove the work folders of jobs whose process died (killed mid-job): never one a live
        process holds (see :mod:`..workdirs`)."""
        from mediaenhancer_core.engine.workdirs import reap  # noqa: PLC0415

        try:
            reap(self.settings.temp_dir)
        except Exception:  # a cleanup must never stop a worker from starting
            log.exception("removing old work folders failed")

    def start_embedded(self, threads: int) -> None:
        runner = self.runner or self.make_runner()
        self.reap_workdirs()
        runner.sweep()  # jobs a previous run left running
        runner.start_sweeper()
        self.queue.start_consumer(threads)

    def stop(self) -> None:
        """Stop taking jobs, then give the running ones back to the queue (another start runs them)."""
        if self.runner is not None:
            self.runner._stop.set()
        self.queue.stop_consumer(graceful=False)
        if self.runner is not None:
            self.runner.stop()

    def run_worker(self, threads: int) -> None:
        runner = self.runner or self.make_runner()
        self.reap_workdirs()
        runner.sweep()
        runner.start_sweeper()
        log.info("worker %s: %d thread(s) on the %s queue", runner.process_id, threads, self.settings.queue)
        try:
            self.queue.run_consumer(threads, on_stop=runner.stop)
        finally:
            runner.stop()


def _ai_hooks() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """Gemini planner and transcription (issue 7), when its module is there."""
    from mediaenhancer_core.ai import make_planner  # noqa: PLC0415

    def transcribe(
        src: Any,
        tools: Any,
        settings: Settings,
        *,
        language: str | None,
        workdir: Any,
        cancel: Any,
        report: Callable[[float], None],
    ) -> dict[str, Any]:
        from mediaenhancer_core.ai import SubtitleJob  # noqa: PLC0415
        from mediaenhancer_core.ai.transcribe import transcribe_file  # noqa: PLC0415

        job = SubtitleJob.from_settings(settings, language=language, formats=("srt", "vtt", "json"))
        try:
            t = transcribe_file(
                src,
                tools,
                job.model,
                language=language,
                chunk_seconds=job.chunk_seconds,
                concurrency=job.concurrency,
                chapters=True,
                timeout=job.timeout,
                temp_dir=workdir,
                cancel=cancel,
                on_progress=lambda d, total: report(d / total if total else 0.0),
            )
            from mediaenhancer_core.engine.subtitles import to_srt, to_vtt  # noqa: PLC0415

            return {**t.to_dict(), "srt": to_srt(t.segments), "vtt": to_vtt(t.segments, language=t.language)}
        finally:
            job.close()

    return make_planner, transcribe
