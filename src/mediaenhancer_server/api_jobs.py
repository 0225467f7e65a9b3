"""Jobs, enhancement requests, exports and completion callbacks (issue 6).

``POST /api/media/{id}/enhance`` and ``POST /api/projects/{id}/export`` record a job (and
an export) and answer 202 at once; a worker (the server's own threads with the embedded
queue, or ``mediaenhancer-server worker`` processes) runs it. ``GET /api/jobs/{id}`` shows
its status and progress; ``POST /api/jobs/{id}/cancel`` stops it, ffmpeg included.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mediaenhancer_core.choices import JOB_STATUSES
from mediaenhancer_core.engine.plan import Plan
from mediaenhancer_core.errors import ValidationError
from mediaenhancer_core.jobs.admission import check_options
from mediaenhancer_core.jobs.callbacks import check_callback_url, resolve_host_async
from mediaenhancer_core.jobs.system import JobSystem

from . import bodies as B
from . import responses as R
from .routing import ApiCall, ApiRoute

__all__ = ["JOB_ROUTES"]


def _jobs(call: ApiCall) -> JobSystem:
    return call.request.app.state.jobs


def _base_url(call: ApiCall) -> str:
    return (call.core.settings.public_url or str(call.request.base_url)).rstrip("/")


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
        call.extras["resolved"] = {
            host: await resolve_host_async(host, call.core.settings.callback_dns_timeout_seconds)
        }


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
    check_options(
        call.core.settings.config_dir, preset=d.get("preset"), language=(d.get("options") or {}).get("language")
    )


def enhance_media(call: ApiCall) -> Any:
    d = call.data
    _check_request(call)
    params: dict[str, Any] = dict(d.get("options") or {})  # the schema allows only the engine's options
    if d.get("preset"):
        params["preset"] = d["preset"]
    if d.get("plan") is not None:
        if d["type"] != "auto":
            raise ValidationError("plan: an explicit plan goes with type 'auto'", field="plan")
        params["plan"] = Plan.from_dict(d["plan"], source="plan").to_dict()  # validated against the allow-list
    view = _jobs(call).admission.enhance(
        call.user.user_id, call.path_uuid("media_id"), d["type"], params, callback_url=d.get("callback_url")
    )
    return view.to_dict()


def list_jobs(call: ApiCall) -> Any:
    q = call.request.query_params
    limit, offset = call.query_int("limit", 50, low=1, high=200), call.query_int("offset", 0)
    return {
        "jobs": [
            v.to_dict()
            for v in _jobs(call).service.list(
                call.user.user_id, status=q.get("status") or None, limit=limit, offset=offset
            )
        ]
    }


def get_job(call: ApiCall) -> Any:
    return _jobs(call).service.get(call.user.user_id, call.path_uuid("job_id")).to_dict()


def cancel_job(call: ApiCall) -> Any:
    return _jobs(call).cancel(call.user.user_id, call.path_uuid("job_id")).to_dict()


def export_project(call: ApiCall) -> Any:
    _check_request(call)
    export_id, view = _jobs(call).admission.export(
        call.user.user_id, call.path_uuid("project_id"), call.data, callback_url=call.data.get("callback_url")
    )
    return {"export_id": str(export_id), "job": view.to_dict()}


def get_export(call: ApiCall) -> Any:
    return _jobs(call).admission.get_export(call.user.user_id, call.path_uuid("export_id"), base_url=_base_url(call))


def list_exports(call: ApiCall) -> Any:
    return {"exports": _jobs(call).admission.list_exports(call.user.user_id, base_url=_base_url(call))}


def get_callback(call: ApiCall) -> Any:
    return _jobs(call).admission.callback_settings(call.user.user_id)


def set_callback(call: ApiCall) -> Any:
    url = call.data["url"]
    if url:
        _check_url(call, url)
    return _jobs(call).admission.set_callback_url(call.user.user_id, url)


_Q = (404, 409, 422)
JOB_ROUTES: list[ApiRoute] = [
    ApiRoute(
        "/api/media/{media_id:uuid}/enhance",
        "POST",
        enhance_media,
        "Queue an enhancement of a media file: type denoise, upscale, colorgrade, stabilize, transcribe or auto "
        "(the local engine's full plan; an explicit 'plan' may be given). 202 with the job.",
        "jobs",
        status=202,
        request_model=B.EnhanceRequest,
        response_model=R.Job,
        errors=(403, *_Q, 429),
        prepare=resolve_callback,
    ),
    ApiRoute(
        "/api/jobs",
        "GET",
        list_jobs,
        "The user's jobs, newest first: ?status, ?limit (1-200), ?offset.",
        "jobs",
        response_model=R.JobList,
        errors=(422,),
        query={
            "status": {"type": "string", "enum": list(JOB_STATUSES)},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0},
        },
    ),
    ApiRoute(
        "/api/jobs/{job_id:uuid}",
        "GET",
        get_job,
        "A job: status queued|running|succeeded|failed|canceled, progress 0-100, error, result_media_id, result.",
        "jobs",
        response_model=R.Job,
        errors=(404,),
    ),
    ApiRoute(
        "/api/jobs/{job_id:uuid}/cancel",
        "POST",
        cancel_job,
        "Cancel a job: a queued one at once, a running one within seconds (its ffmpeg is stopped).",
        "jobs",
        response_model=R.Job,
        errors=(404, 409),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}/export",
        "POST",
        export_project,
        "Render a project (trims, concatenation, per-segment operations, music under, enhancement) in a job. "
        "Counts against the monthly exports only when it succeeds. 202 with the export id and the job.",
        "exports",
        status=202,
        request_model=B.ExportRequest,
        response_model=R.ExportStarted,
        errors=(402, *_Q, 429),
        prepare=resolve_callback,
    ),
    ApiRoute(
        "/api/exports", "GET", list_exports, "The user's exports, newest first.", "exports", response_model=R.ExportList
    ),
    ApiRoute(
        "/api/exports/{export_id:uuid}",
        "GET",
        get_export,
        "An export: status, progress, and a signed download URL once it succeeded.",
        "exports",
        response_model=R.Export,
        errors=(404,),
    ),
    ApiRoute(
        "/api/users/callback",
        "GET",
        get_callback,
        "The completion-callback URL and the whsec_ secret its Standard Webhooks signatures use (webhook-id, -timestamp, -signature).",
        "users",
        response_model=R.CallbackSettings,
    ),
    ApiRoute(
        "/api/users/callback",
        "PUT",
        set_callback,
        "Register (or clear, with null) the URL that receives a signed POST when any of your jobs ends.",
        "users",
        request_model=B.CallbackIn,
        response_model=R.CallbackSettings,
        errors=(422,),
        prepare=resolve_callback,
    ),
]
