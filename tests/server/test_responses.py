"""Answers are declared as typed models (responses.py): the OpenAPI document shows them, and every
answer the in-process app gives in these tests is checked against them (conftest.py)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from mediaenhancer_server.responses import RESPONSE_MODELS

from .response_check import check_response

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _answer(path: str, body: object, status: int = 200, method: str = "GET") -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request(method, f"http://testserver{path}"))


def test_a_real_answer_fits_and_a_broken_one_does_not(app, client, make_account) -> None:
    account = make_account()
    profile = client.get("/api/users/profile", headers=account.headers).json()
    check_response(app, _answer("/api/users/profile", profile))  # what the API sends fits
    for broken in (
        {k: v for k, v in profile.items() if k != "email"},  # a required field missing
        {**profile, "has_password": "yes"},  # a wrong type
        {**profile, "plan": {"id": "free"}},  # a nested object missing a field
        {**profile, "shoe_size": 43},
    ):  # a field no model declares
        with pytest.raises(AssertionError, match="does not fit Profile"):
            check_response(app, _answer("/api/users/profile", broken))
    check_response(app, _answer("/api/users/profile", {"error": {}}, status=404))  # errors are not the model's


def test_every_answer_in_the_tests_is_checked(app, client) -> None:
    class HealthWithUptime(BaseModel):
        model_config = ConfigDict(extra="forbid")
        status: str
        uptime: float

    routes = app.state.api_routes
    i = next(i for i, r in enumerate(routes) if r.path == "/health")
    routes[i] = dataclasses.replace(routes[i], response_model=HealthWithUptime)  # the served handler is unchanged
    with pytest.raises(AssertionError, match="HealthWithUptime"):
        client.get("/health")


def test_openapi_responses_are_the_models(client) -> None:
    doc = client.get("/api/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert {m.__name__ for m in RESPONSE_MODELS} <= set(schemas)
    ok = doc["paths"]["/api/projects/{project_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/Project"}
    assert schemas["Project"]["properties"]["segments"]["items"] == {"$ref": "#/components/schemas/Segment"}
    assert "name" in schemas["Project"]["required"] and "description" not in schemas["Project"]["required"]
    assert "additionalProperties" not in schemas["Project"]  # clients should accept fields added later
    error = doc["paths"]["/api/projects/{project_id}"]["get"]["responses"]["404"]["content"]["application/json"]
    assert error["schema"] == {"$ref": "#/components/schemas/Error"}
    assert schemas["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
