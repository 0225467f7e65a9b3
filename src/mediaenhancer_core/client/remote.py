"""Running work on the account server from the CLI: upload when needed, queue, follow, download.

    job, media, written = run_remote_enhance(client, "talk.mp4", "auto")  # -> talk.enhanced.mp4

A local path is uploaded first (resumable, through :mod:`.transfer`), unless the server
already holds a file with the same content (SHA-256, ``GET /api/media/by-checksum/...``): that
one is used, and nothing is uploaded or counted against the quota again. A media id is used as
it is. The job is followed by polling ``GET /api/jobs/{id}``; an interrupt cancels it on
the server (so its ffmpeg stops there too) before it propagates. A local output that exists
is never replaced without ``force`` (checked before the upload when its name is known, and
again before writing); the result then stays in the library, and the message says its id.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediaenhancer_core.client.api import ApiClient
from mediaenhancer_core.client.transfer import READ_BYTES, ResumeState, download_file, refuse_existing, upload_file
from mediaenhancer_core.errors import CancelledError, MediaEnhancerError, NotFoundError, RenderError

__all__ = [
    "watch_job",
    "run_remote_enhance",
    "run_remote_export",
    "save_outputs",
    "is_media_id",
    "job_error",
    "FINISHED",
    "stored_copy",
    "expected_outputs",
]

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
    from mediaenhancer_core.client.api import error_from_body  # noqa: PLC0415

    message = f"job {job['id']} failed on the server: {job.get('error') or 'no reason given'}"
    code = (job.get("result") or {}).get("error_code")
    if not code:
        return RenderError(message)
    return error_from_body(500, {"error": {"code": code, "message": message}})


def _outcome(job: dict[str, Any]) -> None:
    error = job_error(job)
    if error is not None:
        raise error


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def stored_copy(client: ApiClient, path: Path) -> dict[str, Any] | None:
    """The user's media on the server with exactly this file's content, or None (also from a
    server without the lookup route)."""
    try:
        return dict(client.get(f"/api/media/by-checksum/{sha256_of(path)}"))
    except NotFoundError:
        return None


def expected_outputs(
    source: str, job_type: str, *, output: Path | None, out_dir: Path | None, fmt: str | None
) -> list[Path]:
    """The local files a job's result will be saved as, when they can be known before it runs."""
    from mediaenhancer_core.engine.formats import FORMATS, format_for_input  # noqa: PLC0415

    remote = is_media_id(source)
    base = out_dir if out_dir is not None else (Path(".") if remote else Path(source).parent)
    if job_type == "transcribe":
        dest = output or base / f"{source[:8] if remote else Path(source).stem}.srt"
        return [dest.with_suffix(".srt"), dest.with_suffix(".vtt")]
    if output is not None:
        return [output]
    if remote:
        return []
    name = fmt or format_for_input(source)
    return [base / f"{Path(source).stem}.enhanced{FORMATS[name].extension}"] if name in FORMATS else []


def run_remote_enhance(
    client: ApiClient,
    source: str,
    job_type: str,
    *,
    preset: str | None = None,
    options: dict[str, Any] | None = None,
    output: Path | None = None,
    out_dir: Path | None = None,
    resume: ResumeState | None = None,
    force: bool = False,
    on_upload: Callable[[int], None] | None = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    on_download: Callable[[int], None] | None = None,
    on_reuse: Callable[[dict[str, Any]], None] | None = None,
    poll: float = 1.0,
) -> tuple[dict[str, Any], dict[str, Any] | None, Path | None]:
    """Upload (a path, unless the server has its content already) or use (a media id), queue,
    follow, then save what the job made (see :func:`save_outputs`). Returns the job, the result
    media (if any) and the file written."""
    fmt = (options or {}).get("format")
    if not force:  # before any upload or work on the server
        for dest in expected_outputs(source, job_type, output=output, out_dir=out_dir, fmt=fmt):
            refuse_existing(dest)
    if is_media_id(source):
        media = dict(client.get(f"/api/media/{source}"))
    else:
        found = stored_copy(client, Path(source))
        if found is not None and on_reuse is not None:
            on_reuse(found)
        media = found or upload_file(client, Path(source), state=resume, on_progress=on_upload)
    body: dict[str, Any] = {"type": job_type, "options": {k: v for k, v in (options or {}).items() if v is not None}}
    if preset:
        body["preset"] = preset
    job = dict(client.post(f"/api/media/{media['id']}/enhance", body))
    job = watch_job(client, job["id"], on_update=on_update, poll=poll)
    _outcome(job)
    result = dict(client.get(f"/api/media/{job['result_media_id']}")) if job.get("result_media_id") else None
    written = save_outputs(
        client, source, job, result, output=output, out_dir=out_dir, fmt=fmt, on_download=on_download, force=force
    )
    return job, result, written


def save_outputs(
    client: ApiClient,
    source: str,
    job: dict[str, Any],
    result: dict[str, Any] | None,
    *,
    output: Path | None = None,
    out_dir: Path | None = None,
    fmt: str | None = None,
    on_download: Callable[[int], None] | None = None,
    force: bool = True,
) -> Path | None:
    """Write what a finished job made beside its source (a media id: in the current folder),
    in ``out_dir``, or at ``output``: a transcription's NAME.srt and NAME.vtt, or the enhanced
    file NAME.enhanced.EXT downloaded. Returns the path written (the .srt for subtitles).
    ``force=False``: a file already there is kept (:class:`OutputExistsError`)."""
    from mediaenhancer_core.engine.formats import FORMATS  # noqa: PLC0415
    from mediaenhancer_core.files import atomic_write_text  # noqa: PLC0415

    remote = is_media_id(source)
    base = out_dir if out_dir is not None else (Path(".") if remote else Path(source).parent)
    transcript = (job.get("result") or {}).get("transcript")
    if transcript:
        dest = output or base / f"{source[:8] if remote else Path(source).stem}.srt"
        if not force:
            for path in (dest.with_suffix(".srt"), dest.with_suffix(".vtt")):
                refuse_existing(
                    path,
                    kept=f" (the transcript is kept in job {job['id']}: mediaenhancer jobs watch {job['id']} --json)",
                )
        atomic_write_text(dest.with_suffix(".srt"), transcript["srt"], replace=force)
        atomic_write_text(dest.with_suffix(".vtt"), transcript["vtt"], replace=force)
        return dest.with_suffix(".srt")
    if result is None or not result.get("download_url"):
        return None
    suffix = Path(result.get("filename") or "").suffix or FORMATS[fmt or "mp4"].extension
    stem = Path(result.get("original_filename") or source).stem if remote else Path(source).stem
    dest = output or base / f"{stem}.enhanced{suffix}"
    if not force:
        refuse_existing(
            dest,
            kept=f" (the result is kept in your library: mediaenhancer media download {result['id']} -o OTHER_NAME)",
        )
    download_file(client, result["download_url"], dest, on_progress=on_download, force=force)
    return dest


def run_remote_export(
    client: ApiClient,
    project_id: str,
    body: dict[str, Any],
    *,
    dest: Path | None = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    on_download: Callable[[int], None] | None = None,
    poll: float = 1.0,
    force: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    if dest is not None and not force:
        refuse_existing(dest)
    started = dict(client.post(f"/api/projects/{project_id}/export", {k: v for k, v in body.items() if v is not None}))
    job = watch_job(client, started["job"]["id"], on_update=on_update, poll=poll)
    _outcome(job)
    export = dict(client.get(f"/api/exports/{started['export_id']}"))
    if dest is not None and export.get("download_url"):
        if not force:
            refuse_existing(
                dest, kept=f" (the export is kept: mediaenhancer media download {export.get('result_media_id')})"
            )
        download_file(client, export["download_url"], dest, on_progress=on_download, force=force)
    return job, export
