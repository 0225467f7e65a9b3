"""JSON Schemas of the media library's bodies (issue 4): request validation and the OpenAPI document."""

from __future__ import annotations

from .schemas import Schema, _obj

_STR = {"type": "string"}
_UUID = {"type": "string", "format": "uuid"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}

MEDIA: Schema = _obj(
    ["id", "filename", "file_type", "mime_type", "file_size", "status", "created_at"],
    id=_UUID,
    filename=_STR,
    original_filename=_STR,
    file_type={"type": "string", "enum": ["video", "audio", "image"]},
    mime_type=_STR,
    file_size={"type": "integer"},
    duration=_NUM_OR_NULL,
    width=_INT_OR_NULL,
    height=_INT_OR_NULL,
    video_codec=_STR_OR_NULL,
    audio_codec=_STR_OR_NULL,
    checksum_sha256=_STR_OR_NULL,
    status={"type": "string", "enum": ["uploading", "processing", "ready", "failed", "deleting"]},
    has_thumbnail={"type": "boolean"},
    source_media_id=_STR_OR_NULL,
    metadata={"type": "object"},
    created_at={"type": "string", "format": "date-time"},
    updated_at={"type": "string", "format": "date-time"},
    download_url=_STR_OR_NULL,
    thumbnail_url=_STR_OR_NULL,
    urls_expire_at=_STR_OR_NULL,
)
MEDIA_LIST: Schema = _obj(
    ["media", "total", "page", "per_page"],
    media={"type": "array", "items": MEDIA}, total={"type": "integer"}, page={"type": "integer"},
    per_page={"type": "integer"},
)
UPLOAD: Schema = _obj(
    ["id", "filename", "status", "offset", "size", "part_size", "upload_url"],
    id=_UUID, filename=_STR, status=_STR, offset={"type": "integer"}, size=_INT_OR_NULL,
    reserved_bytes={"type": "integer"}, part_size={"type": "integer"}, upload_url=_STR,
)
UPLOAD_PROGRESS: Schema = _obj(
    ["id", "offset", "complete"],
    id=_UUID, offset={"type": "integer"}, size=_INT_OR_NULL, complete={"type": "boolean"}, media=MEDIA,
)
MULTIPART_BODY = {
    "multipart/form-data": {
        "schema": {"type": "object", "required": ["file"],
                   "properties": {"file": {"type": "string", "format": "binary"}}},
    }
}
CHUNK_BODY = {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}

SEGMENT: Schema = _obj(
    ["id", "media_id", "track", "position", "start", "end", "transformations"],
    id=_UUID, media_id=_UUID, track=_STR, position={"type": "integer"}, start={"type": "number"},
    end=_NUM_OR_NULL, transformations={"type": "object"},
)
PROJECT: Schema = _obj(
    ["id", "name", "status", "created_at", "updated_at"],
    id=_UUID, name=_STR, description=_STR_OR_NULL, status=_STR, settings={"type": "object"},
    duration=_NUM_OR_NULL, created_at={"type": "string", "format": "date-time"},
    updated_at={"type": "string", "format": "date-time"}, segments={"type": "array", "items": SEGMENT},
    segment_count={"type": "integer"},
)
PROJECT_LIST: Schema = _obj(
    ["projects", "total", "page", "per_page"],
    projects={"type": "array", "items": PROJECT}, total={"type": "integer"}, page={"type": "integer"},
    per_page={"type": "integer"},
)
