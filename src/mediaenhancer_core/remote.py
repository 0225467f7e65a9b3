"""Running work on the account server from the CLI: upload when needed, queue, follow, download.

    job, media = run_remote_enhance(client, "talk.mp4", "auto", params, dest=Path("talk.enhanced.mp4"))

A local path is uploaded first (resumable, through :mod:`.transfer`); a media id is used as
it is. The job is followed by polling ``GET /api/jobs/{id}``; an interrupt cancels it on
the server (so its ffmpeg stops there too) before it propagates.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import ApiClient
from .errors import CancelledError, MediaEnhancerError, RenderError
from .transfer import ResumeState, download_file, upload_file

__all__ = ["watch_job", "run_remote_enhance", "run_remote_export", "is_media_id", "job_error", "FINISHED"]

FINISHED = ("succeeded", "failed", "canceled")


def is_media_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return not Path(text).exists()


def watch_job(
    client: ApiClient,
    job_id: str,
    *,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    cancel_on_interrupt: bool = True,
) -> dict[str, Any]:
    """Follow a job until it ends; returns its last state."""
    try:
        while True:
            job = dict(client.get(f"/api/jobs/{job_id}"))
            if on_update:
                on_update(job)
            if job["status"] in FINISHED:
                return job
            sleep(poll)
    except KeyboardInterrupt:
        if cancel_on_interrupt:
            try:
                client.post(f"/api/jobs/{job_id}/cancel")
            except MediaEnhancerError:
                pass  # it may have just finished
        raise


def job_error(job: dict[str, Any]) -> MediaEnhancerError | None:
    """The error a finished job stands for (its class from the error code the server kept)."""
    if job["status"] == "canceled":
        return CancelledError(f"job {job['id']} was canceled")
    if job["status"] == "succeeded":
        return None
    from .client import error_from_body  # noqa: PLC0415

    message = f"job {job['id']} failed on the server: {job.get('error') or 'no reason given'}"
    code = (job.get("result") or {}).get("error_code")
    if not code:
        return RenderError(message)
    return error_from_body(500, {"error": {"code": code, "message": message}})


def _outcome(job: dict[str, Any]) -> None:
    error = job_error(job)
    if error is not None:
        raise error


def run_remote_enhance(
    client: ApiClient,
    source: str,
    job_type: str,
    *,
    preset: str | None = None,
    options: dict[str, Any] | None = None,
    dest: Path | None = None,
    resume: ResumeState | None = None,
    on_upload: Callable[[int], None] | None = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    on_download: Callable[[int], None] | None = None,
    poll: float = 1.0,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Upload (a path) or use (a media id), queue, follow; download the result to ``dest``."""
    if is_media_id(source):
        media = dict(client.get(f"/api/media/{source}"))
    else:
        media = upload_file(client, Path(source), state=resume, on_progress=on_upload)
    body: dict[str, Any] = {"type": job_type, "options": {k: v for k, v in (options or {}).items() if v is not None}}
    if preset:
        body["preset"] = preset
    job = dict(client.post(f"/api/media/{media['id']}/enhance", body))
    job = watch_job(client, job["id"], on_update=on_update, poll=poll)
    _outcome(job)
    result = None
    if job.get("result_media_id"):
        result = dict(client.get(f"/api/media/{job['result_media_id']}"))
        if dest is not None and result.get("download_url"):
            download_file(client, result["download_url"], dest, on_progress=on_download)
    return job, result


def run_remote_export(
    client: ApiClient,
    project_id: str,
    body: dict[str, Any],
    *,
    dest: Path | None = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    on_download: Callable[[int], None] | None = None,
    poll: float = 1.0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    started = dict(client.post(f"/api/projects/{project_id}/export", {k: v for k, v in body.items() if v is not None}))
    job = watch_job(client, started["job"]["id"], on_update=on_update, poll=poll)
    _outcome(job)
    export = dict(client.get(f"/api/exports/{started['export_id']}"))
    if dest is not None and export.get("download_url"):
        download_file(client, export["download_url"], dest, on_progress=on_download)
    return job, export
