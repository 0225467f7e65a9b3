"""The media library's API (issue 4): streamed uploads, media, projects, signed downloads.

Declared as :class:`~.routing.ApiRoute` rows like the rest of the API (so /api/openapi.json
lists them). The two routes that receive file bytes are ``stream`` routes: their handler
is a coroutine that reads ``request.stream()`` itself, hands the bytes to the core in
1 MiB batches on the thread pool, and never holds the file in memory:

- ``POST /api/media/upload``: multipart/form-data, the file in the field ``file``.
  Content-Length is required and checked (size limit, quota) before a byte is read;
  the real size is checked while reading.
- ``PATCH /api/media/uploads/{id}``: the resumable protocol (tus-like): ``POST
  /api/media/uploads`` with the size reserves storage and answers an upload URL; each
  PATCH sends bytes from ``Upload-Offset``; ``GET`` says where to resume; the PATCH that
  delivers the last byte answers the finished media.

``/storage/{key}`` (outside /api: the URL itself is the credential) serves the local
backend's files behind HMAC-signed expiring URLs, with HTTP Range requests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mediaenhancer_core.errors import (
    LengthRequiredError,
    MediaEnhancerError,
    NotFoundError,
    PayloadTooLargeError,
    RangeNotSatisfiableError,
    ValidationError,
)
from mediaenhancer_core.library.media import MediaLibrary
from mediaenhancer_core.library.receive import ChunkReceiver, FormReceiver
from mediaenhancer_core.library.services import MediaServices
from mediaenhancer_core.services import Core
from mediaenhancer_core.storage import STORAGE_ROUTE

from . import bodies as B
from . import responses as R
from .errors import error_response, status_for
from .formdata import FormFileParser, boundary_of
from .routing import PAGE_QUERY, ApiCall, ApiRoute, in_thread

__all__ = ["MEDIA_ROUTES", "install_media", "upload_body_limits", "start_reaper", "serve_storage", "MULTIPART_SLACK"]

log = logging.getLogger("mediaenhancer.server.media")

BATCH = 1024 * 1024  # bytes handed to the core per thread hop
MULTIPART_SLACK = 64 * 1024  # multipart boundaries and part headers around the file
MULTIPART_BODY = {  # the streamed request bodies, as the OpenAPI document shows them
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        },
    }
}
CHUNK_BODY = {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _lib(call: ApiCall) -> MediaServices:
    assert call.core.library is not None
    return call.core.library


def _base_url(call: ApiCall) -> str:
    return (call.core.settings.public_url or str(call.request.base_url)).rstrip("/")


def _media_out(call: ApiCall, row: Any) -> dict[str, Any]:
    return {**MediaLibrary.to_dict(row), **_lib(call).media.urls(row, base_url=_base_url(call))}


def _int_header(request: Request, name: str, *, required: bool) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        if required:
            if name == "content-length":
                raise LengthRequiredError(
                    "Content-Length is required: storage is reserved for the upload before it is read"
                )
            raise ValidationError(f"{name}: header required", field=name)
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name}: must be a whole number of bytes", field=name) from None
    if value < 0:
        raise ValidationError(f"{name}: must be 0 or more", field=name)
    return value


def _query_int(call: ApiCall, name: str, default: int) -> int:
    return call.query_int(name, default)


async def _batches(request: Request) -> AsyncIterator[list[bytes]]:
    """The body as lists of the chunks the server received, about BATCH bytes each: one thread
    hop per list, and no bytes copied into bigger buffers on the way (the part buffers in
    storage are the only copy)."""
    batch: list[bytes] = []
    held = 0
    async for chunk in request.stream():
        if chunk:
            batch.append(chunk)
            held += len(chunk)
        if held >= BATCH:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _disconnected() -> Response:
    return error_response(400, "client_disconnected", "the client closed the connection before the upload ended")


# --- uploads ------------------------------------------------------------------------------------


async def upload_media(call: ApiCall) -> Response:
    """POST /api/media/upload: one multipart/form-data request."""
    request, lib, user_id = call.request, _lib(call), call.user.user_id
    length = _int_header(request, "content-length", required=True)
    assert length is not None
    limit = lib.uploads.settings.max_upload_bytes
    if length > limit + MULTIPART_SLACK:
        raise PayloadTooLargeError(f"the upload is {length} bytes and this server accepts files up to {limit} bytes")
    boundary = boundary_of(request.headers.get("content-type"))
    rx = FormReceiver(lib.uploads, user_id, reserve=min(length, limit))
    await in_thread(request, rx.check_fits)  # 402 before reading
    form = FormFileParser(boundary)
    batch: list[bytes] = []
    held = 0
    try:
        async for chunk in request.stream():
            for event in form.feed(chunk):
                if event[0] == "data":
                    batch.append(event[1])
                    held += len(event[1])
                    if held >= BATCH:
                        await in_thread(request, rx.write, batch)
                        batch, held = [], 0
                elif event[0] == "start":
                    await in_thread(request, rx.start, event[1], event[2])
                else:
                    if batch:
                        await in_thread(request, rx.write, batch)
                        batch, held = [], 0
                    await in_thread(request, rx.end)
        form.close()
    except BaseException as exc:
        await in_thread(request, rx.abort)
        if isinstance(exc, ClientDisconnect):
            return _disconnected()
        raise
    media = await in_thread(request, rx.finish)
    return JSONResponse(_media_out(call, media), status_code=201)


def _upload_out(info: Any) -> dict[str, Any]:
    return {**info.to_dict(), "upload_url": f"/api/media/uploads/{info.media_id}"}


def create_upload(call: ApiCall) -> Any:
    d = call.data
    info = _lib(call).uploads.create(
        call.user.user_id,
        filename=d["filename"],
        size=d["size"],
        content_type=d.get("content_type"),
        checksum_sha256=d.get("checksum_sha256"),
    )
    return _upload_out(info)


def upload_status(call: ApiCall) -> Any:
    info = _lib(call).uploads.status(call.user.user_id, call.path_uuid("media_id"))
    return JSONResponse(_upload_out(info), headers={"Upload-Offset": str(info.offset)})


def cancel_upload(call: ApiCall) -> Any:
    _lib(call).uploads.cancel(call.user.user_id, call.path_uuid("media_id"))
    return Response(status_code=204)


async def upload_chunk(call: ApiCall) -> Response:
    """PATCH /api/media/uploads/{id}: bytes from Upload-Offset."""
    request, lib, user_id = call.request, _lib(call), call.user.user_id
    media_id = call.path_uuid("media_id")
    offset = _int_header(request, "upload-offset", required=True)
    length = _int_header(request, "content-length", required=False)
    assert offset is not None
    rx = await in_thread(
        request, functools.partial(ChunkReceiver, lib.uploads, user_id, media_id, offset=offset, length=length)
    )
    try:
        async for batch in _batches(request):
            await in_thread(request, rx.write, batch)
        new_offset = await in_thread(request, rx.commit)
    except BaseException as exc:
        await in_thread(request, rx.fail, exc)
        if isinstance(exc, ClientDisconnect):
            return _disconnected()
        raise
    body: dict[str, Any] = {"id": str(media_id), "offset": new_offset, "size": rx.size, "complete": rx.complete}
    if rx.complete:
        body["media"] = _media_out(call, await in_thread(request, rx.finish))
    return JSONResponse(body, headers={"Upload-Offset": str(new_offset)})


# --- media ------------------------------------------------------------------------------------------


def list_media(call: ApiCall) -> Any:
    q = call.request.query_params
    page = _lib(call).media.list(
        call.user.user_id,
        page=_query_int(call, "page", 1),
        per_page=_query_int(call, "per_page", 50),
        file_type=q.get("type") or None,
        status=q.get("status") or None,
        sort=q.get("sort") or "-created_at",
    )
    return {
        "media": [_media_out(call, row) for row in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


def find_media(call: ApiCall) -> Any:
    """GET /api/media/by-checksum/{sha256}: issue 12, `enhance --remote` reuses what is stored."""
    return _media_out(
        call, _lib(call).media.find_by_checksum(call.user.user_id, str(call.request.path_params["checksum"]))
    )


def get_media(call: ApiCall) -> Any:
    return _media_out(call, _lib(call).media.get(call.user.user_id, call.path_uuid("media_id")))


def delete_media(call: ApiCall) -> Any:
    _lib(call).media.delete(call.user.user_id, call.path_uuid("media_id"))
    return Response(status_code=204)


# --- projects -------------------------------------------------------------------------------------


def list_projects(call: ApiCall) -> Any:
    return _lib(call).projects.list(
        call.user.user_id,
        page=_query_int(call, "page", 1),
        per_page=_query_int(call, "per_page", 50),
        status=call.request.query_params.get("status") or None,
    )


def create_project(call: ApiCall) -> Any:
    return _lib(call).projects.create(call.user.user_id, call.data)


def get_project(call: ApiCall) -> Any:
    return _lib(call).projects.get(call.user.user_id, call.path_uuid("project_id"))


def update_project(call: ApiCall) -> Any:
    return _lib(call).projects.update(call.user.user_id, call.path_uuid("project_id"), call.data)


def delete_project(call: ApiCall) -> Any:
    _lib(call).projects.delete(call.user.user_id, call.path_uuid("project_id"))
    return Response(status_code=204)


def add_segment(call: ApiCall) -> Any:
    return _lib(call).projects.add_segment(call.user.user_id, call.path_uuid("project_id"), call.data)


def update_segment(call: ApiCall) -> Any:
    return _lib(call).projects.update_segment(
        call.user.user_id, call.path_uuid("project_id"), call.path_uuid("segment_id"), call.data
    )


def delete_segment(call: ApiCall) -> Any:
    return _lib(call).projects.remove_segment(
        call.user.user_id, call.path_uuid("project_id"), call.path_uuid("segment_id")
    )


def reorder_segments(call: ApiCall) -> Any:
    d = call.data
    return _lib(call).projects.reorder(
        call.user.user_id, call.path_uuid("project_id"), d["segment_ids"], d.get("track") or "main"
    )


_UPLOAD_ERRORS = (402, 404, 409, 411, 413, 415, 422, 503)

MEDIA_ROUTES: list[ApiRoute] = [
    ApiRoute(
        "/api/media/upload",
        "POST",
        upload_media,
        "Upload a file in one multipart/form-data request (field 'file'); streamed to storage. 201 with the "
        "media once identified by its content.",
        "media",
        status=201,
        stream=True,
        request_body=MULTIPART_BODY,
        response_model=R.Media,
        errors=_UPLOAD_ERRORS,
    ),
    ApiRoute(
        "/api/media/uploads",
        "POST",
        create_upload,
        "Start a resumable upload: reserves the file's size against the plan and answers its upload_url.",
        "media",
        status=201,
        request_model=B.UploadCreate,
        response_model=R.Upload,
        errors=(402, 413, 422, 503),
    ),
    ApiRoute(
        "/api/media/uploads/{media_id:uuid}",
        "GET",
        upload_status,
        "Where a resumable upload stands: the offset to send from (also in Upload-Offset).",
        "media",
        response_model=R.Upload,
        errors=(404, 409, 503),
    ),
    ApiRoute(
        "/api/media/uploads/{media_id:uuid}",
        "PATCH",
        upload_chunk,
        "Send bytes of a resumable upload from the Upload-Offset header (409 at another offset). The "
        "request that delivers the last byte answers the finished media.",
        "media",
        stream=True,
        request_body=CHUNK_BODY,
        response_model=R.UploadProgress,
        errors=_UPLOAD_ERRORS,
    ),
    ApiRoute(
        "/api/media/uploads/{media_id:uuid}",
        "DELETE",
        cancel_upload,
        "Cancel a resumable upload: its bytes are dropped and the reserved storage freed.",
        "media",
        status=204,
        errors=(404, 409, 503),
    ),
    ApiRoute(
        "/api/media",
        "GET",
        list_media,
        "The user's media: ?page, ?per_page (1-200), ?type=video|audio|image, ?status, "
        "?sort=created_at|filename|file_size|duration (- for descending; default -created_at).",
        "media",
        response_model=R.MediaList,
        errors=(422,),
        query={
            **PAGE_QUERY,
            "type": {"type": "string", "enum": ["video", "audio", "image"]},
            "status": {"type": "string"},
            "sort": {"type": "string"},
        },
    ),
    ApiRoute(
        "/api/media/by-checksum/{checksum}",
        "GET",
        find_media,
        "Your newest ready media file whose content has this SHA-256 (64 hex digits), with signed URLs; "
        "404 when you have none. Lets a client reuse a file instead of uploading it again.",
        "media",
        response_model=R.Media,
        errors=(404, 422),
    ),
    ApiRoute(
        "/api/media/{media_id:uuid}",
        "GET",
        get_media,
        "One media file with signed download and thumbnail URLs (expiring).",
        "media",
        response_model=R.Media,
        errors=(404,),
    ),
    ApiRoute(
        "/api/media/{media_id:uuid}",
        "DELETE",
        delete_media,
        "Delete a media file: its stored object and thumbnail go and its storage is freed (409 while a "
        "project uses it).",
        "media",
        status=204,
        errors=(404, 409, 503),
    ),
    ApiRoute(
        "/api/projects",
        "GET",
        list_projects,
        "The user's projects, newest change first: ?page, ?per_page, ?status.",
        "projects",
        response_model=R.ProjectList,
        errors=(422,),
        query={**PAGE_QUERY, "status": {"type": "string", "enum": ["draft", "active", "archived"]}},
    ),
    ApiRoute(
        "/api/projects",
        "POST",
        create_project,
        "Create a project, optionally with its ordered segments (counts against the plan's projects).",
        "projects",
        status=201,
        request_model=B.ProjectCreate,
        response_model=R.Project,
        errors=(402, 404, 409, 422),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}",
        "GET",
        get_project,
        "A project with its segments in order.",
        "projects",
        response_model=R.Project,
        errors=(404,),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}",
        "PUT",
        update_project,
        "Change a project's fields; 'segments' replaces the whole ordered list.",
        "projects",
        request_model=B.ProjectUpdate,
        response_model=R.Project,
        errors=(404, 409, 422),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}",
        "DELETE",
        delete_project,
        "Delete a project (its media stay).",
        "projects",
        status=204,
        errors=(404,),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}/segments",
        "POST",
        add_segment,
        "Add a segment (a span of a ready media file) at 'position' (default: the end of its track).",
        "projects",
        status=201,
        request_model=B.SegmentIn,
        response_model=R.Project,
        errors=(404, 409, 422),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}/segments/order",
        "PUT",
        reorder_segments,
        "Reorder a track's segments: every segment id of the track, in the new order.",
        "projects",
        request_model=B.SegmentOrder,
        response_model=R.Project,
        errors=(404, 422),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}/segments/{segment_id:uuid}",
        "PUT",
        update_segment,
        "Change a segment's start, end or transformations.",
        "projects",
        request_model=B.SegmentUpdate,
        response_model=R.Project,
        errors=(404, 409, 422),
    ),
    ApiRoute(
        "/api/projects/{project_id:uuid}/segments/{segment_id:uuid}",
        "DELETE",
        delete_segment,
        "Remove a segment; the ones after it move up.",
        "projects",
        response_model=R.Project,
        errors=(404,),
    ),
]


# --- signed downloads from the local backend ----------------------------------------------------------


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as (start, end inclusive); None to send the whole file (no Range,
    another unit, or several ranges, which RFC 9110 lets a server ignore)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiableError(f"Range {header!r}: an empty suffix")
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None  # malformed: ignored, the whole file is sent
    if start >= size or end < start:
        raise RangeNotSatisfiableError(f"Range {header!r} is outside the file ({size} bytes)")
    return start, min(end, size - 1)


def _disposition(filename: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


async def serve_storage(request: Request) -> Response:
    core: Core = request.app.state.core
    storage = core.library.storage if core.library is not None else None
    signer = getattr(storage, "signer", None)
    if storage is None or signer is None:
        raise NotFoundError("this server keeps media in S3; use the download_url from GET /api/media/{id}")
    key = request.path_params["key"]
    filename, content_type = signer.verify(key, request.query_params)
    size = await in_thread(request, storage.size, key)
    if size is None:
        raise NotFoundError("the file of this link is gone")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(filename),
        "Cache-Control": "private, no-transform",
    }
    try:
        span = _parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiableError as exc:
        return error_response(status_for(exc), exc.code, exc.message, headers={"Content-Range": f"bytes */{size}"})
    status, start, length = 200, 0, size
    if span is not None:
        status, start, length = 206, span[0], span[1] - span[0] + 1
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=content_type)
    chunks = await in_thread(request, storage.read, key, start, length)
    return StreamingResponse(chunks, status_code=status, headers=headers, media_type=content_type)


# --- wiring into the app ------------------------------------------------------------------------------


def upload_body_limits(core: Core) -> dict[str, int]:
    """Body limits of the upload routes (the rest of the API keeps max_body_bytes)."""
    return {"/api/media/upload": core.settings.max_upload_bytes + MULTIPART_SLACK}


def install_media(app: Starlette, core: Core) -> None:
    """The /storage/ download route and the storage readiness check."""
    app.router.routes.append(
        Route(STORAGE_ROUTE + "{key:path}", serve_storage, methods=["GET", "HEAD"], name="storage_download")
    )
    if core.library is not None:
        app.state.readiness_checks["storage"] = core.library.storage.check


def start_reaper(core: Core) -> asyncio.Task[None] | None:
    """Run the reaper every storage_reap_interval_seconds in the background (None when off)."""
    interval = core.settings.storage_reap_interval_seconds
    if not interval or core.library is None:
        return None
    from datetime import timedelta  # noqa: PLC0415

    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    age = timedelta(seconds=core.settings.upload_stale_seconds)

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                # the storage reaper and the expired sign-in counters (Core.maintenance_round)
                await run_in_threadpool(functools.partial(core.maintenance_round, older_than=age))
            except (MediaEnhancerError, Exception) as exc:  # noqa: BLE001 - a failed round is retried next time
                log.warning("storage reaper round failed (%s)", exc.__class__.__name__)

    return asyncio.get_running_loop().create_task(loop())
