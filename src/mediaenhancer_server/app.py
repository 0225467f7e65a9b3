"""Building the ASGI app: routes from ``api.py`` and ``web.py`` over a core :class:`Core`.

    app = create_app(Settings.load(os.environ))

Middleware, outermost first: request context (request id, access log, security
headers, last-resort 500), CORS from ``settings.cors_origins`` (none by default: a
preflight from any other origin answers 400 without CORS headers), body size limit.
On start the database is made ready (the embedded SQLite one migrates itself).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from mediaenhancer_core.engine.workdirs import reap as reap_workdirs
from mediaenhancer_core.jobs.system import JobSystem
from mediaenhancer_core.services import Core
from mediaenhancer_core.settings import Settings

from .api import API_ROUTES
from .api_billing import BILLING_ROUTES
from .api_jobs import JOB_ROUTES
from .api_media import MEDIA_ROUTES, install_media, start_reaper, upload_body_limits
from .errors import exception_handlers
from .middleware import BodyLimitMiddleware, RequestContextMiddleware
from .routing import build_routes
from .web import page_routes
from .web_billing import billing_page_routes

__all__ = ["create_app", "create_app_from_env"]

DB_THREADS = 16  # blocking database calls in flight per process (a pool connection each)


def create_app(
    settings: Settings | None = None,
    *,
    core: Core | None = None,
    body_limit_overrides: Mapping[str, int] | None = None,
    prepare_database: bool = True,
) -> Starlette:
    """The server app. Pass ``core`` to share one (tests); otherwise it is opened from settings."""
    if core is None:
        core = Core.open(settings or Settings.load(os.environ), path_env=os.environ.get("PATH"))
    settings = core.settings
    body_limit_overrides = {**upload_body_limits(core), **(body_limit_overrides or {})}

    api_routes = [
        *API_ROUTES,
        *MEDIA_ROUTES,
        *BILLING_ROUTES,
        *JOB_ROUTES,
    ]  # the table served and documented in /api/openapi.json
    jobs = _open_jobs(core)
    executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="mediaenhancer-db")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if prepare_database:
            await run_in_threadpool(core.prepare_database)
        reaper = start_reaper(core)  # storage reaper (issue 4), every storage_reap_interval_seconds
        await run_in_threadpool(reap_workdirs, settings.temp_dir)  # work folders of a killed run (issue 12)
        if (
            jobs is not None
            and settings.queue == "embedded"
            and settings.embedded_workers > 0
            and core.library is not None
        ):
            await run_in_threadpool(jobs.start_embedded, settings.embedded_workers)  # the broker-less default (issue 6)
        try:
            yield
        finally:
            if jobs is not None:
                await run_in_threadpool(jobs.stop)
            if reaper is not None:
                reaper.cancel()
            await run_in_threadpool(core.tokens.last_used.close)  # pending last_used_at written, its thread ended
            executor.shutdown(wait=False)

    app = Starlette(
        routes=[*build_routes(api_routes), *page_routes(), *billing_page_routes()],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Upload-Offset"],
                expose_headers=["X-Request-ID", "Retry-After", "Upload-Offset"],
                allow_credentials=False,
                max_age=600,
            ),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, overrides=body_limit_overrides),
        ],
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.core = core
    app.state.executor = executor
    app.state.api_routes = api_routes
    app.state.jobs = jobs
    checks: dict[str, Callable[[], Any]] = {"database": core.db.check_ready}  # schema current and writable
    app.state.readiness_checks = checks
    install_media(app, core)  # /storage/ signed downloads and the "storage" readiness check (issue 4)
    return app


def _open_jobs(core: Core) -> JobSystem | None:
    """The job system (issue 6); tests may hand one in as ``core.jobs``."""
    given = getattr(core, "jobs", None)
    if given is not None:
        return given
    return JobSystem.open(core)


def create_app_from_env() -> Starlette:
    """Factory for uvicorn workers (``--workers N``): settings from the environment."""
    from .logs import configure_logging  # noqa: PLC0415
    from .protocol import configure  # noqa: PLC0415

    settings = Settings.load(os.environ)
    configure_logging(settings.log_level)
    configure(header_timeout=settings.server_header_timeout_seconds, body_timeout=settings.server_body_timeout_seconds)
    return create_app(settings)
