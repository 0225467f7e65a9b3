"""JSON Schemas of the API's bodies: used to validate requests and to write the OpenAPI document."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_DATETIME = {"type": "string", "format": "date-time"}
_DATETIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def _obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


ERROR: Schema = _obj(
    ["error"],
    error=_obj(["code", "message"], code=_STR, message=_STR, field=_STR),
)
HEALTH: Schema = _obj(["status"], status=_STR)
READY: Schema = _obj(["status", "checks"], status=_STR, checks={"type": "object", "additionalProperties": _STR})
PLAN_REF: Schema = _obj(["id", "name"], id=_STR, name=_STR)
PROFILE: Schema = _obj(
    ["id", "email", "username", "avatar_url", "has_password", "created_at", "plan"],
    id={"type": "string", "format": "uuid"},
    email={"type": "string", "format": "email"},
    username=_STR_OR_NULL,
    avatar_url=_STR_OR_NULL,
    has_password={"type": "boolean"},
    identity_provider=_STR_OR_NULL,
    created_at=_DATETIME,
    plan=PLAN_REF,
)
ME: Schema = {**PROFILE, "properties": {**PROFILE["properties"], "auth_method": {"type": "string", "enum": ["token", "jwt"]}}}
VERIFY: Schema = _obj(
    ["valid", "user_id", "email", "auth_method"],
    valid={"type": "boolean"},
    user_id=_STR,
    email=_STR,
    auth_method=_STR,
    token_id=_STR_OR_NULL,
)
_LIMIT = _obj(["used", "limit"], used={"type": "integer"}, limit=_INT_OR_NULL)
USAGE: Schema = _obj(
    ["plan", "period", "storage", "media", "projects", "exports"],
    plan=PLAN_REF,
    period=_obj(["start", "end"], start=_DATETIME, end=_DATETIME),
    storage=_obj(["used_bytes", "limit_bytes"], used_bytes={"type": "integer"}, limit_bytes=_INT_OR_NULL),
    media=_obj(["count", "max_duration_seconds"], count={"type": "integer"}, max_duration_seconds={"type": "integer"}),
    projects=_LIMIT,
    exports=_LIMIT,
    uploads=_obj(["in_progress", "reserved_bytes"], in_progress={"type": "integer"}, reserved_bytes={"type": "integer"}),
)
PLAN: Schema = _obj(
    ["id", "name", "price_cents", "currency", "interval", "features", "limits"],
    id=_STR,
    name=_STR,
    price_cents={"type": "integer"},
    currency=_STR,
    interval=_STR,
    features={"type": "array", "items": _STR},
    limits=_obj(
        ["storage_bytes", "projects", "exports_per_month", "media_duration_seconds"],
        storage_bytes=_INT_OR_NULL,
        projects=_INT_OR_NULL,
        exports_per_month=_INT_OR_NULL,
        media_duration_seconds={"type": "integer"},
    ),
)
PLANS: Schema = _obj(["plans"], plans={"type": "array", "items": PLAN})
TOKEN: Schema = _obj(
    ["id", "name", "prefix", "source", "created_at", "expires_at", "last_used_at", "expired"],
    id=_STR,
    name=_STR,
    prefix=_STR,
    source={"type": "string", "enum": ["api", "device", "admin"]},
    created_at=_DATETIME,
    expires_at=_DATETIME_OR_NULL,
    last_used_at=_DATETIME_OR_NULL,
    expired={"type": "boolean"},
)
TOKEN_LIST: Schema = _obj(["tokens"], tokens={"type": "array", "items": TOKEN})
TOKEN_CREATED: Schema = {**TOKEN, "required": [*TOKEN["required"], "token"], "properties": {**TOKEN["properties"], "token": _STR}}
DEVICE_CODE: Schema = _obj(
    ["device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval"],
    device_code=_STR,
    user_code=_STR,
    verification_uri=_STR,
    verification_uri_complete=_STR,
    expires_in={"type": "integer"},
    interval={"type": "integer"},
)
DEVICE_TOKEN: Schema = _obj(["access_token", "token_type"], access_token=_STR, token_type=_STR)
WEBHOOK_RESULT: Schema = _obj(["status"], status={"type": "string", "enum": ["processed", "duplicate", "ignored"]})
