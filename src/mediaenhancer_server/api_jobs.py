"""Jobs, enhancement requests, exports and completion callbacks (issue 6).

``POST /api/media/{id}/enhance`` and ``POST /api/projects/{id}/export`` record a job (and
an export) and answer 202 at once; a worker (the server's own threads with the embedded
queue, or ``mediaenhancer-server worker`` processes) runs it. ``GET /api/jobs/{id}`` shows
its status and progress; ``POST /api/jobs/{id}/cancel`` stops it, ffmpeg included.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit
from typing import Any

from sqlalchemy import select

from mediaenhancer_core.db.models import Export, Job, MediaFile, Project, User
from mediaenhancer_core.errors import ForbiddenError, MediaEnhancerError, NotFoundError, ValidationError
from mediaenhancer_core.jobs.callbacks import check_callback_url, resolve_host_async
from mediaenhancer_core import quotas
from mediaenhancer_core.db.types import utcnow
from mediaenhancer_core.jobs.service import ENHANCE_TYPES, JobView
from mediaenhancer_core.jobs.system import JobSystem
from mediaenhancer_core.media import ready_media
from mediaenhancer_core.plan import Plan
from mediaenhancer_core.plans import plan_allows_ai
from mediaenhancer_core.planner import RESOLUTIONS
from mediaenhancer_core.usage import export_period

from .api import ApiCall, ApiRoute
from .schemas import _obj

__all__ = ["JOB_ROUTES"]

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_UUID_OR_NULL = {"type": ["string", "null"], "format": "uuid"}
_FORMATS = ["mp4", "mov", "mkv", "webm", "mp3", "m4a", "wav", "flac", "ogg", "opus"]
_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "target_lufs": {"type": "number", "minimum": -40, "maximum": -5},
        "true_peak": {"type": "number", "minimum": -9, "maximum": 0},
        "resolution": {"type": "string", "enum": list(RESOLUTIONS)},
        "fps": {"type": "number", "minimum": 1, "maximum": 240},
        "format": {"type": "string", "enum": _FORMATS},
        "quality": {"type": "string", "enum": ["draft", "standard", "high", "archive"]},
        "trim_silence": {"type": "boolean"},
        "denoise": {"type": "boolean"},
        "language": {"type": "string", "maxLength": 16},
        "planner": {"type": "string", "enum": ["local", "gemini"]},
    },
}
ENHANCE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": list(ENHANCE_TYPES)},
        "preset": {"type": "string", "maxLength": 64},
        "options": _OPTIONS,
        "plan": {"type": "object"},
        "callback_url": {"type": ["string", "null"], "maxLength": 2000},
    },
}
EXPORT_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "format": {"type": "string", "enum": _FORMATS},
        "resolution": {"type": ["string", "null"], "enum": [*RESOLUTIONS, None]},
        "fps": {"type": ["number", "null"], "minimum": 1, "maximum": 240},
        "quality": {"type": "string", "enum": ["draft", "standard", "high", "archive"]},
        "preset": {"type": "string", "maxLength": 64},
        "enhance": {"type": "boolean"},
        "callback_url": {"type": ["string", "null"], "maxLength": 2000},
    },
}
JOB = _obj(
    ["id", "type", "status", "progress"],
    id={"type": "string", "format": "uuid"}, type=_STR, status={"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
    progress={"type": "integer"}, media_id=_UUID_OR_NULL, project_id=_UUID_OR_NULL, result_media_id=_UUID_OR_NULL,
    params={"type": "object"}, result={"type": ["object", "null"]}, error=_STR_OR_NULL, attempts={"type": "integer"},
    max_attempts={"type": "integer"}, cancel_requested={"type": "boolean"}, created_at=_STR, started_at=_STR_OR_NULL,
    finished_at=_STR_OR_NULL,
)
JOB_LIST = _obj(["jobs"], jobs={"type": "array", "items": JOB})
EXPORT = _obj(
    ["id", "project_id", "status", "progress", "format"],
    id={"type": "string", "format": "uuid"}, project_id={"type": "string", "format": "uuid"}, job_id=_UUID_OR_NULL,
    status=_STR, progress={"type": "integer"}, format=_STR, resolution=_STR_OR_NULL, fps={"type": ["number", "null"]},
    quality=_STR_OR_NULL, filename=_STR_OR_NULL, file_size={"type": ["integer", "null"]}, error=_STR_OR_NULL,
    result_media_id=_UUID_OR_NULL, download_url=_STR_OR_NULL, created_at=_STR, completed_at=_STR_OR_NULL,
    job=JOB,
)
EXPORT_LIST = _obj(["exports"], exports={"type": "array", "items": EXPORT})
CALLBACK = _obj(["url", "signing_secret"], url=_STR_OR_NULL, signing_secret=_STR, signature_header=_STR)
CALLBACK_IN = {"type": "object", "additionalProperties": False, "required": ["url"],
               "properties": {"url": {"type": ["string", "null"], "maxLength": 2000}}}


def _jobs(call: ApiCall) -> JobSystem:
    return call.request.app.state.jobs


def _callback(call: ApiCall, session: Any, given: str | None) -> str | None:
    """The request's URL (checked before the transaction), else the one the user registered
    (checked when registered, and again at delivery)."""
    if given:
        return given
    user = session.get(User, call.user.user_id)
    return user.callback_url if user is not None else None


async def resolve_callback(call: ApiCall) -> None:
    """The ``prepare`` step of routes that take a callback URL: its host is looked up on the event
    loop (on the DNS threads, bounded by callback_dns_timeout_seconds), never on a database
    thread; the handler then checks the addresses found here."""
    url = (call.data or {}).get("callback_url") or (call.data or {}).get("url")
    if not isinstance(url, str) or not url:
        return
    parts = urlsplit(url)
    host = parts.hostname
    if host and parts.scheme in ("http", "https"):  # other schemes are refused by the handler, unlooked-up
        call.extras["resolved"] = {host: await resolve_host_async(host, call.core.settings.callback_dns_timeout_seconds)}


def _check_url(call: ApiCall, url: str) -> None:
    resolved: dict[str, list[str]] = call.extras.get("resolved", {})

    def known(host: str) -> list[str]:
        if host not in resolved:  # pragma: no cover - prepare resolved it; never a lookup here
            raise ValidationError(f"callback_url: cannot resolve {host}", field="callback_url")
        return resolved[host]

    check_callback_url(url, allow_private=call.core.settings.callback_allow_private, resolve=known)


def _check_request(call: ApiCall) -> None:
    d = call.data
    if d.get("callback_url"):
        _check_url(call, d["callback_url"])
    if d.get("preset"):
        from mediaenhancer_core.presets import get_preset  # noqa: PLC0415

        try:
            get_preset(str(d["preset"]), call.core.settings.config_dir)
        except MediaEnhancerError as exc:
            raise ValidationError(f"preset: {exc.message}", field="preset") from None
    language = (d.get("options") or {}).get("language")
    if language is not None:
        from mediaenhancer_core.ai.subtitles import is_language_code  # noqa: PLC0415

        if not is_language_code(language):
            raise ValidationError("options.language: use a language code such as en, de or pt-BR", field="options.language")


def enhance_media(call: ApiCall) -> Any:
    jobs = _jobs(call)
    d = call.data
    _check_request(call)
    media_id = call.path_uuid("media_id")
    params: dict[str, Any] = dict(d.get("options") or {})  # the schema allows only the engine's options
    if d.get("preset"):
        params["preset"] = d["preset"]
    if d.get("plan") is not None:
        if d["type"] != "auto":
            raise ValidationError("plan: an explicit plan goes with type 'auto'", field="plan")
        params["plan"] = Plan.from_dict(d["plan"], source="plan").to_dict()  # validated against the allow-list
    with call.core.db.session() as session:
        quotas.lock_user(session, call.user.user_id)
        quotas.check_job_slots(session, call.user.user_id)  # the plan's jobs in flight (issue 12)
        row = ready_media(session, call.user.user_id, media_id)
        if d["type"] == "transcribe" and not plan_allows_ai(session, call.user.user_id):
            raise ForbiddenError("transcription is not part of your plan; upgrade to Creator or Professional to use it")
        if d["type"] in ("upscale", "colorgrade", "stabilize") and row.file_type != "video":
            raise ValidationError(f"type: {d['type']} needs a video; this media is {row.file_type}", field="type")
        view = jobs.service.create(call.user.user_id, d["type"], params=params, media_id=media_id,
                                   callback_url=_callback(call, session, d.get("callback_url")),
                                   max_attempts=call.core.settings.job_max_attempts, session=session)
    jobs.enqueue(view.id)  # after the commit: the message never points at a row that is not there
    return view.to_dict()


def list_jobs(call: ApiCall) -> Any:
    q = call.request.query_params
    limit, offset = call.query_int("limit", 50, low=1, high=200), call.query_int("offset", 0)
    return {"jobs": [v.to_dict() for v in _jobs(call).service.list(call.user.user_id, status=q.get("status") or None,
                                                                      limit=limit, offset=offset)]}


def get_job(call: ApiCall) -> Any:
    return _jobs(call).service.get(call.user.user_id, call.path_uuid("job_id")).to_dict()


def cancel_job(call: ApiCall) -> Any:
    return _jobs(call).cancel(call.user.user_id, call.path_uuid("job_id")).to_dict()


def export_project(call: ApiCall) -> Any:
    jobs = _jobs(call)
    d = call.data
    _check_request(call)
    project_id = call.path_uuid("project_id")
    user_id = call.user.user_id
    with call.core.db.session() as session:
        project = session.scalar(select(Project).where(Project.id == project_id, Project.user_id == user_id))
        if project is None:
            raise NotFoundError("no such project")
        # admitted under the user's lock, counting the exports still in flight: concurrent requests
        # cannot all pass; a failed export frees its place
        quotas.lock_user(session, user_id)
        quotas.check_job_slots(session, user_id)  # the plan's jobs in flight (issue 12)
        quotas.check_export_quota(session, user_id, quotas.effective_limits(session, user_id),
                                  export_period(session, user_id, utcnow()), in_flight=True)
        export = Export(user_id=call.user.user_id, project_id=project_id, format=d.get("format", "mp4"),
                        resolution=d.get("resolution"), fps=d.get("fps"), quality=d.get("quality", "standard"),
                        status="queued", progress=0)
        session.add(export)
        session.flush()
        params = {"export_id": str(export.id), **{k: d[k] for k in ("format", "resolution", "fps", "quality", "preset", "enhance") if k in d}}
        view = jobs.service.create(user_id, "export", params=params, project_id=project_id,
                                   callback_url=_callback(call, session, d.get("callback_url")),
                                   max_attempts=call.core.settings.job_max_attempts, session=session)
        export.job_id = view.id
        export_id = export.id
    jobs.enqueue(view.id)
    return {"export_id": str(export_id), "job": view.to_dict()}


def _export_dict(call: ApiCall, exp: Export, job: JobView | None,
                 results: Mapping[uuid.UUID, MediaFile] | None = None) -> dict[str, Any]:
    """An export as the API shows it. ``results``: the user's result media rows by id, loaded
    beforehand for a list (None: load this export's one)."""
    out: dict[str, Any] = {
        "id": str(exp.id), "project_id": str(exp.project_id), "job_id": str(exp.job_id) if exp.job_id else None,
        "status": job.status if job and exp.status in ("queued", "running") else exp.status,
        "progress": job.progress if job and exp.status in ("queued", "running") else exp.progress,
        "format": exp.format, "resolution": exp.resolution, "fps": exp.fps, "quality": exp.quality,
        "filename": exp.filename, "file_size": exp.file_size, "error": exp.error,
        "result_media_id": str(exp.result_media_id) if exp.result_media_id else None, "download_url": None,
        "created_at": exp.created_at.isoformat(), "completed_at": exp.completed_at.isoformat() if exp.completed_at else None,
    }
    if job is not None:
        out["job"] = job.to_dict()
    if exp.status == "succeeded" and exp.result_media_id and call.core.library is not None:
        lib = call.core.library
        row: MediaFile | None
        if results is None:
            try:
                row = lib.media.get(call.user.user_id, exp.result_media_id)
            except NotFoundError:
                row = None
        else:
            row = results.get(exp.result_media_id)
        if row is None:
            out["error"] = "the exported file was deleted"
        else:
            base = (call.core.settings.public_url or str(call.request.base_url)).rstrip("/")
            out["download_url"] = lib.media.urls(row, base_url=base).get("download_url")
    return out


def get_export(call: ApiCall) -> Any:
    export_id = call.path_uuid("export_id")
    with call.core.db.session() as session:
        exp = session.scalar(select(Export).where(Export.id == export_id, Export.user_id == call.user.user_id))
        if exp is None:
            raise NotFoundError("no such export")
    job = _jobs(call).service.load(exp.job_id) if exp.job_id else None
    return _export_dict(call, exp, job)


def list_exports(call: ApiCall) -> Any:
    """Three queries whatever the number of exports: the exports, their jobs, their result files."""
    user_id = call.user.user_id
    with call.core.db.session() as session:
        rows = list(session.scalars(select(Export).where(Export.user_id == user_id)
                                    .order_by(Export.created_at.desc()).limit(100)))
        job_ids = {e.job_id for e in rows if e.job_id}
        jobs = {j.id: JobView.of(j) for j in session.scalars(select(Job).where(Job.id.in_(job_ids)))} if job_ids else {}
        media_ids = {e.result_media_id for e in rows if e.status == "succeeded" and e.result_media_id}
        results = {m.id: m for m in session.scalars(select(MediaFile).where(
            MediaFile.id.in_(media_ids), MediaFile.user_id == user_id))} if media_ids else {}
    return {"exports": [_export_dict(call, e, jobs.get(e.job_id) if e.job_id else None, results) for e in rows]}


def get_callback(call: ApiCall) -> Any:
    with call.core.db.session() as session:
        user = session.get(User, call.user.user_id)
        url = user.callback_url if user else None
    return {"url": url, "signing_secret": _jobs(call).callback_secret(call.user.user_id),
            "signature_header": "MediaEnhancer-Signature"}


def set_callback(call: ApiCall) -> Any:
    url = call.data["url"]
    if url:
        _check_url(call, url)
    with call.core.db.session() as session:
        user = session.get(User, call.user.user_id)
        if user is None:
            raise NotFoundError("no such user")
        user.callback_url = url or None
    return get_callback(call)


_Q = (404, 409, 422)
JOB_ROUTES: list[ApiRoute] = [
    ApiRoute("/api/media/{media_id:uuid}/enhance", "POST", enhance_media,
             "Queue an enhancement of a media file: type denoise, upscale, colorgrade, stabilize, transcribe or auto "
             "(the local engine's full plan; an explicit 'plan' may be given). 202 with the job.", "jobs", status=202,
             request_schema=ENHANCE_REQUEST, response_schema=JOB, errors=(403, *_Q, 429), prepare=resolve_callback),
    ApiRoute("/api/jobs", "GET", list_jobs, "The user's jobs, newest first: ?status, ?limit (1-200), ?offset.", "jobs",
             response_schema=JOB_LIST, errors=(422,),
             query={"status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}}),
    ApiRoute("/api/jobs/{job_id:uuid}", "GET", get_job,
             "A job: status queued|running|succeeded|failed|canceled, progress 0-100, error, result_media_id, result.",
             "jobs", response_schema=JOB, errors=(404,)),
    ApiRoute("/api/jobs/{job_id:uuid}/cancel", "POST", cancel_job,
             "Cancel a job: a queued one at once, a running one within seconds (its ffmpeg is stopped).", "jobs",
             response_schema=JOB, errors=(404, 409)),
    ApiRoute("/api/projects/{project_id:uuid}/export", "POST", export_project,
             "Render a project (trims, concatenation, per-segment operations, music under, enhancement) in a job. "
             "Counts against the monthly exports only when it succeeds. 202 with the export id and the job.",
             "exports", status=202, request_schema=EXPORT_REQUEST, response_schema=_obj(["export_id", "job"], export_id=_STR, job=JOB),
             errors=(402, *_Q, 429), prepare=resolve_callback),
    ApiRoute("/api/exports", "GET", list_exports, "The user's exports, newest first.", "exports",
             response_schema=EXPORT_LIST),
    ApiRoute("/api/exports/{export_id:uuid}", "GET", get_export,
             "An export: status, progress, and a signed download URL once it succeeded.", "exports",
             response_schema=EXPORT, errors=(404,)),
    ApiRoute("/api/users/callback", "GET", get_callback,
             "The completion-callback URL and the secret its signatures use (MediaEnhancer-Signature: t=..,v1=HMAC).",
             "users", response_schema=CALLBACK),
    ApiRoute("/api/users/callback", "PUT", set_callback,
             "Register (or clear, with null) the URL that receives a signed POST when any of your jobs ends.", "users",
             request_schema=CALLBACK_IN, response_schema=CALLBACK, errors=(422,), prepare=resolve_callback),
]
