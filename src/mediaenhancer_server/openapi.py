"""The OpenAPI 3.1 document, built from the same route table the app serves."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from mediaenhancer_core import __version__

from . import responses as R
from .routing import ApiRoute

__all__ = ["openapi_document", "openapi_path"]

_CONVERTOR = re.compile(r"\{(\w+)(?::\w+)?\}")
_DESCRIPTIONS = {
    400: "Bad request (device flow: the RFC 8628 error in error.code)",
    401: "Missing, invalid, expired or revoked token",
    402: "A plan limit is reached (the message states the limit, the usage and how to upgrade)",
    403: "Account disabled",
    404: "Not found (or not yours)",
    409: "Conflict",
    411: "Content-Length required",
    413: "Body too large",
    415: "Not audio, video or an image (identified by content, not name)",
    422: "Invalid field (error.field names it)",
    429: "Too many attempts (Retry-After)",
    503: "Not ready or not configured",
}


def openapi_path(path: str) -> str:
    """Starlette's ``/api/tokens/{token_id:uuid}`` -> OpenAPI's ``/api/tokens/{token_id}``."""
    return _CONVERTOR.sub(r"{\1}", path)


def _error_ref() -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema (2020-12, as OpenAPI 3.1 uses) and those of the models it holds."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = schema.pop("$defs", {})
    return {**nested, model.__name__: schema}


def openapi_document(routes: list[ApiRoute], *, server_url: str | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = _model_schemas(R.Error)
    for route in routes:
        op: dict[str, Any] = {"operationId": route.name, "summary": route.summary, "tags": [route.tag]}
        params = _CONVERTOR.findall(route.path)
        parameters = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"} if f"{{{p}:uuid}}" in route.path else {"type": "string"},
            }
            for p in params
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": dict(schema)}
            for name, schema in (route.query or {}).items()
        ]
        if parameters:
            op["parameters"] = parameters
        if route.request_model is not None:
            components.update(_model_schemas(route.request_model))
            ref = {"$ref": f"#/components/schemas/{route.request_model.__name__}"}
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        elif route.raw_body:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        elif route.request_body is not None:
            op["requestBody"] = {"required": True, "content": route.request_body}
        ok: dict[str, Any] = {"description": "Success"}
        if route.response_model is not None:
            components.update(_model_schemas(route.response_model))
            ref = {"$ref": f"#/components/schemas/{route.response_model.__name__}"}
            ok["content"] = {"application/json": {"schema": ref}}
        responses: dict[str, Any] = {str(route.status): ok}
        codes = set(route.errors)
        if not route.public:
            codes |= {401, 403}
            op["security"] = [{"bearer": []}]
        else:
            op["security"] = []
        if route.request_model is not None or route.raw_body:
            codes |= {413, 422}
        for code in sorted(codes):
            responses[str(code)] = {"description": _DESCRIPTIONS[code], **_error_ref()}
        op["responses"] = responses
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Media Enhancer API",
            "version": __version__,
            "description": "Accounts, media, projects, enhancement and export jobs, and billing. Errors are "
            '{"error": {"code": ..., "message": ...}}. Authenticate with '
            "'Authorization: Bearer TOKEN' (a personal API token, or an identity-provider JWT when configured).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components,
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
