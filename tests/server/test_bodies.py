"""Request bodies are checked by their typed models (bodies.py), item by item, with one-line
errors that name the field; the OpenAPI document shows the same models."""

from __future__ import annotations

import pytest

from mediaenhancer_server.bodies import REQUEST_MODELS

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "p", "segments": ["not an object"]}, "segments[0]", "must be object"),
        ({"name": "p", "segments": [{"media_id": "x", "end": "5"}]}, "segments[0].end", "must be number"),
        ({"name": "p", "segments": [{"media_id": "x", "colour": 1}]}, "segments[0].colour", "unknown field"),
        ({"name": "p", "segments": [{}]}, "segments[0].media_id", "required"),
        ({"name": ""}, "name", "at least 1 characters"),
        ({"name": 7}, "name", "must be string"),
    ],
)
def test_project_bodies_are_checked_item_by_item(client, make_account, body, field, words) -> None:
    account = make_account()
    response = client.post("/api/projects", headers=account.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and error["field"] == field and words in error["message"]
    assert client.get("/api/projects", headers=account.headers).json()["total"] == 0  # nothing was made


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"type": "sharpen"}, "type", "type: use one of denoise, upscale, colorgrade, stabilize, transcribe or auto"),
        (
            {"type": "auto", "options": {"target_lufs": -3}},
            "options.target_lufs",
            "options.target_lufs: must be -5 or less",
        ),
        (
            {"type": "auto", "options": {"trim_silence": 1}},
            "options.trim_silence",
            "options.trim_silence: must be boolean",
        ),
        ({"type": "auto", "options": {"fps": "30"}}, "options.fps", "options.fps: must be number"),
        ({"type": "auto", "options": {"volume": 2}}, "options.volume", "unknown field"),
    ],
)
def test_enhance_options_are_strict(client, make_account, body, field, message) -> None:
    account = make_account()
    response = client.post(
        "/api/media/00000000-0000-0000-0000-000000000001/enhance", headers=account.headers, json=body
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field and message in response.json()["error"]["message"]


def test_nan_is_refused_before_the_model(client, make_account) -> None:
    account = make_account()
    response = client.post(
        "/api/media/00000000-0000-0000-0000-000000000001/enhance",
        headers=account.headers,
        content=b'{"type": "auto", "options": {"fps": NaN}}',
    )
    assert response.status_code == 422


def test_openapi_request_bodies_are_the_models(client) -> None:
    doc = client.get("/api/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert {m.__name__ for m in REQUEST_MODELS} <= set(schemas)
    create = doc["paths"]["/api/projects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/ProjectCreate"}
    segments = schemas["ProjectCreate"]["properties"]["segments"]
    assert segments["items"] == {"$ref": "#/components/schemas/SegmentNew"}  # items are described, and checked
    assert schemas["SegmentNew"]["additionalProperties"] is False and schemas["SegmentNew"]["required"] == ["media_id"]
