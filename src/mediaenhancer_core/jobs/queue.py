"""The task queue: Huey, on SQLite (embedded, no broker) or Redis (several machines).

Huey carries only "run job X" messages (and callback deliveries); the ``jobs`` table holds
the state and the leases (see ``service.py``). That split is what makes the guarantees hold
whatever the broker does: a message delivered twice finds the job already claimed; a
message lost with a killed worker is replaced by the recovery sweep, which re-enqueues jobs
whose lease expired.

* ``queue = "embedded"`` (default): ``SqliteHuey`` on a file in the data folder; the server
  runs its consumer in threads (``mediaenhancer-server``), and ``mediaenhancer-server worker``
  processes on the same machine may share it.
* ``queue = "redis"``: ``RedisHuey`` at ``redis_url``; ``mediaenhancer-server worker`` on any
  number of hosts sharing the database and the object storage.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediaenhancer_core.privatefs import make_dirs, touch_private
from mediaenhancer_core.settings import Settings

__all__ = ["JobQueue", "queue_path"]

log = logging.getLogger("mediaenhancer.jobs")


def queue_path(settings: Settings) -> Path:
    assert settings.data_dir is not None
    return settings.data_dir / "queue.sqlite3"


class JobQueue:
    """Producer and consumer side of the queue. Handlers are attached by the worker process."""

    def __init__(self, settings: Settings, *, immediate: bool = False) -> None:
        from mediaenhancer_core.extras import import_extra  # noqa: PLC0415

        huey = import_extra("huey", "server", "the job queue")  # lazy: the CLI never needs it

        self.settings = settings
        name = settings.queue_name
        kind = settings.queue
        if immediate:
            self.huey: Any = huey.MemoryHuey(name, immediate=True)
        elif kind == "embedded":
            path = queue_path(settings)
            make_dirs(path.parent)
            touch_private(path)  # job ids and callback deliveries: 0600 like the database
            self.huey = huey.SqliteHuey(name, filename=str(path), results=False, utc=True)
        else:  # "redis" (Settings.validate allows nothing else, and requires redis_url)
            assert settings.redis_url is not None
            import_extra("redis", "redis", 'queue = "redis"')  # RedisHuey imports it; say which extra adds it
            self.huey = huey.RedisHuey(name, url=settings.redis_url.reveal(), results=False, utc=True)
        self._run_job: Callable[[str], object] | None = None
        self._deliver: Callable[[str, int], object] | None = None
        self._consumer: Any = None
        # tasks are registered by name on every process (producers and consumers alike)
        self._task_run = self.huey.task(name="run_job")(self._dispatch_run)
        self._task_deliver = self.huey.task(name="deliver_callback")(self._dispatch_deliver)

    # ---- consumer wiring -------------------------------------------------
    def attach(self, *, run_job: Callable[[str], object], deliver: Callable[[str, int], object]) -> None:
        self._run_job, self._deliver = run_job, deliver

    def _dispatch_run(self, job_id: str) -> None:
        if self._run_job is None:
            raise RuntimeError("this process runs no worker")
        self._run_job(job_id)

    def _dispatch_deliver(self, job_id: str, attempt: int) -> None:
        if self._deliver is None:
            raise RuntimeError("this process runs no worker")
        self._deliver(job_id, attempt)

    # ---- producer side ---------------------------------------------------
    def enqueue(self, job_id: uuid.UUID, *, delay: float = 0.0) -> None:
        if delay > 0:
            self._task_run.schedule((str(job_id),), delay=delay)
        else:
            self._task_run(str(job_id))

    def enqueue_callback(self, job_id: uuid.UUID, attempt: int, *, delay: float = 0.0) -> None:
        if delay > 0:
            self._task_deliver.schedule((str(job_id), attempt), delay=delay)
        else:
            self._task_deliver(str(job_id), attempt)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def flush(self) -> None:
        self.huey.flush()

    # ---- running a consumer ------------------------------------------------
    def start_consumer(self, workers: int) -> None:
        """Run a consumer in threads of this process (the embedded worker of the server)."""
        from huey.consumer import Consumer  # noqa: PLC0415

        class EmbeddedConsumer(Consumer):
            def _set_signal_handlers(self) -> None:
                pass  # the host (uvicorn) owns the signals; it stops us through stop_consumer()

        self._consumer = EmbeddedConsumer(self.huey, **_consumer_options(workers))
        self._consumer.start()
        log.info("embedded worker started: %d thread(s), queue %s", workers, self.settings.queue)

    def stop_consumer(self, graceful: bool = True) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.stop(graceful=graceful)

    def run_consumer(self, workers: int, *, on_stop: Callable[[], None] | None = None) -> None:
        """Block running a consumer (``mediaenhancer-server worker``) until SIGINT/SIGTERM.

        ``on_stop`` runs first when a signal arrives: the runner hands its running jobs back
        to the queue (their ffmpeg stopped), so the graceful shutdown does not wait for them."""
        from huey.consumer import Consumer  # noqa: PLC0415

        class WorkerConsumer(Consumer):
            def _handle_signal(self, signum: int, frame: Any) -> None:
                if on_stop is not None:
                    on_stop()
                super()._handle_signal(signum, frame)

        WorkerConsumer(self.huey, **_consumer_options(workers), graceful_signal="TERM").run()


def _consumer_options(workers: int) -> dict[str, Any]:
    return {
        "workers": max(1, workers),
        "worker_type": "thread",
        "periodic": False,
        "initial_delay": 0.05,
        "backoff": 1.15,
        "max_delay": 0.5,
        "check_worker_health": True,
    }
