"""The JSON API in-process: auth on every route, errors, validation, limits, headers, CORS, OpenAPI."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import timedelta

import pytest
from starlette.routing import Route

from mediaenhancer_server.api import API_ROUTES
from mediaenhancer_server.openapi import openapi_path

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/subscriptions/plans"),
    ("POST", "/api/device/code"),
    ("POST", "/api/device/token"),
    ("POST", "/api/webhooks/clerk"),
    ("POST", "/api/webhooks/stripe"),
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def _all_api_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(("/api/", "/health", "/ready")):
            out.extend((m, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
    return out


def test_exactly_the_expected_routes_are_public(app) -> None:
    public = {(r.method, r.path) for r in app.state.api_routes if r.public}
    assert all(r in app.state.api_routes for r in API_ROUTES)
    assert public == PUBLIC


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer me_" + "A" * 43},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    ],
    ids=["none", "unknown-token", "garbage", "basic", "unsigned-jwt"],
)
def test_every_private_api_route_answers_401_without_a_valid_token(app, client, headers) -> None:
    checked = 0
    for method, path in _all_api_routes(app):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
        checked += 1
    assert checked >= 9


def test_expired_and_revoked_tokens_answer_401(client, core, make_account, clock) -> None:
    account = make_account()
    _, expiring = core.tokens.create(account.id, "soon", expires_in=timedelta(hours=1))
    assert client.get("/api/auth/verify", headers={"Authorization": f"Bearer {expiring}"}).status_code == 200
    clock.advance(3601)
    response = client.get("/api/auth/verify", headers={"Authorization": f"Bearer {expiring}"})
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]
    assert client.delete("/api/tokens/current", headers=account.headers).status_code == 204
    response = client.get("/api/auth/me", headers=account.headers)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_disabled_account_answers_403_or_401(client, core, make_account) -> None:
    account = make_account()
    core.accounts.disable(account.email)
    assert client.get("/api/auth/me", headers=account.headers).status_code == 401  # tokens were revoked
    _, fresh = core.tokens.create(account.id, "after")  # an admin could still mint one: refused as disabled
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh}"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_disabled"


def test_one_users_token_cannot_touch_anothers_tokens(client, core, make_account) -> None:
    alice, bob = make_account(), make_account()
    bob_token_id = client.get("/api/tokens", headers=bob.headers).json()["tokens"][0]["id"]
    response = client.delete(f"/api/tokens/{bob_token_id}", headers=alice.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get("/api/auth/me", headers=bob.headers).status_code == 200
    assert bob_token_id not in json.dumps(client.get("/api/tokens", headers=alice.headers).json())


def test_me_verify_profile_and_usage(client, core, make_account) -> None:
    account = make_account("Me@Example.com")
    me = client.get("/api/auth/me", headers=account.headers).json()
    assert me["email"] == "me@example.com" and me["auth_method"] == "token" and me["plan"]["id"] == "starter"
    verify = client.get("/api/auth/verify", headers=account.headers).json()
    assert verify["valid"] is True and verify["user_id"] == str(account.id) and verify["token_id"]
    updated = client.put("/api/users/profile", headers=account.headers, json={"username": "Me"})
    assert updated.status_code == 200 and updated.json()["username"] == "Me"
    assert client.get("/api/users/profile", headers=account.headers).json()["username"] == "Me"
    core.accounts.set_plan(account.email, "professional")
    usage = client.get("/api/users/usage", headers=account.headers).json()
    assert usage["plan"]["id"] == "professional"
    assert usage["storage"] == {"used_bytes": 0, "limit_bytes": 500 * 1024**3}
    assert usage["projects"] == {"used": 0, "limit": None} and usage["exports"]["limit"] is None


def test_usage_counts_what_the_tables_hold(client, core, make_account, clock) -> None:
    from mediaenhancer_core.db.models import Export, MediaFile, Project, UsageEvent

    account = make_account()
    now = clock()
    with core.db.session() as s:
        for i, size in enumerate([1000, 2500]):
            s.add(
                MediaFile(
                    user_id=account.id,
                    filename=f"f{i}.mp4",
                    original_filename=f"f{i}.mp4",
                    file_type="video",
                    mime_type="video/mp4",
                    file_size=size,
                    storage_key=f"{account.id}/{uuid.uuid4()}",
                    status="ready",
                )
            )
        project = Project(user_id=account.id, name="p")
        s.add(project)
        s.flush()
        s.add(Export(user_id=account.id, project_id=project.id, format="mp4", status="failed", completed_at=now))
        for when in (now, now - timedelta(days=40)):  # succeeded: the export and its usage record (issue 12)
            done = Export(
                user_id=account.id,
                project_id=project.id,
                format="mp4",
                status="succeeded",
                progress=100,
                completed_at=when,
            )
            s.add(done)
            s.flush()
            s.add(
                UsageEvent(user_id=account.id, kind="export_succeeded", quantity=1, export_id=done.id, created_at=when)
            )
    usage = client.get("/api/users/usage", headers=account.headers).json()
    assert usage["storage"]["used_bytes"] == 3500 and usage["media"]["count"] == 2
    assert usage["projects"] == {"used": 1, "limit": 10}
    assert usage["exports"] == {"used": 1, "limit": 50}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": 5}, "username"),
        ({"avatar_url": "ftp://x"}, "avatar_url"),
        ({"email": "x@example.com"}, "email"),
        ({"username": "x" * 101}, "username"),
        ([1, 2], "body"),
    ],
)
def test_profile_validation_errors_name_the_field(client, make_account, body, field) -> None:
    account = make_account()
    response = client.put("/api/users/profile", headers=account.headers, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed" and response.json()["error"]["field"] == field


def test_malformed_json_is_422(client, make_account) -> None:
    account = make_account()
    response = client.put(
        "/api/users/profile", headers={**account.headers, "Content-Type": "application/json"}, content=b"{not json"
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "body"


def test_bodies_over_the_limit_are_413_before_and_while_reading(client, make_account, core) -> None:
    account = make_account()
    big = b'{"username": "' + b"x" * (core.settings.max_body_bytes + 10) + b'"}'
    response = client.put(
        "/api/users/profile", headers={**account.headers, "Content-Type": "application/json"}, content=big
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: counted while reading
        for _ in range(big.__len__() // 65536 + 1):
            yield b"x" * 65536

    response = client.put(
        "/api/users/profile", headers={**account.headers, "Content-Type": "application/json"}, content=chunks()
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_tokens_api_create_list_revoke(client, make_account) -> None:
    account = make_account()
    created = client.post("/api/tokens", headers=account.headers, json={"name": "ci", "expires_in_days": 30})
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("me_") and body["expires_at"] and body["source"] == "api"
    listed = client.get("/api/tokens", headers=account.headers).json()["tokens"]
    assert {t["name"] for t in listed} == {"test", "ci"} and all("token" not in t for t in listed)
    new_headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/auth/me", headers=new_headers).status_code == 200
    assert client.delete(f"/api/tokens/{body['id']}", headers=account.headers).status_code == 204
    assert client.get("/api/auth/me", headers=new_headers).status_code == 401
    bad = client.post("/api/tokens", headers=account.headers, json={"name": "x", "expires_in_days": 0})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "expires_in_days"
    bad = client.post("/api/tokens", headers=account.headers, json={"name": "x", "scope": "admin"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "scope"


def test_plans_are_public(client) -> None:
    plans = client.get("/api/subscriptions/plans").json()["plans"]
    assert [(p["id"], p["price_cents"]) for p in plans] == [("starter", 0), ("creator", 1499), ("professional", 4999)]
    assert plans[2]["limits"]["projects"] is None and plans[0]["limits"]["media_duration_seconds"] == 300


def test_device_flow_over_http(client, core, make_account) -> None:
    account = make_account()
    start = client.post("/api/device/code", json={"client_name": "test cli"}).json()
    assert start["verification_uri"] == "http://testserver/device"
    assert start["verification_uri_complete"].endswith(f"/device?code={start['user_code']}")
    pending = client.post("/api/device/token", json={"device_code": start["device_code"]})
    assert pending.status_code == 400 and pending.json()["error"]["code"] == "authorization_pending"
    core.devices.approve(start["user_code"], core.tokens.authenticate(account.token))
    core.clock.advance(start["interval"])  # type: ignore[attr-defined]
    done = client.post("/api/device/token", json={"device_code": start["device_code"]})
    assert done.status_code == 200 and done.json()["token_type"] == "Bearer"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {done.json()['access_token']}"})
    assert me.json()["email"] == account.email
    assert client.post("/api/device/token", json={}).status_code == 422


def test_errors_are_json_everywhere(client) -> None:
    for response, status in [(client.get("/api/nowhere"), 404), (client.post("/api/auth/me"), 405)]:
        assert response.status_code == status
        assert set(response.json()["error"]) >= {"code", "message"}


def test_security_headers_and_request_ids(client) -> None:
    response = client.get("/health")
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    injected = client.get("/health", headers={"X-Request-ID": "bad id\r\nx"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", injected)
    assert "strict-transport-security" not in headers
    assert "strict-transport-security" in client.get("https://testserver/health").headers


def test_cors_denies_by_default(client, make_account) -> None:
    preflight = client.options(
        "/api/auth/me", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    account = make_account()
    simple = client.get("/api/auth/me", headers={**account.headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cors_allows_listed_origins_only(settings_env, database, clock) -> None:
    from argon2.profiles import CHEAPEST
    from starlette.testclient import TestClient

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    settings = Settings.load({**settings_env, "MEDIAENHANCER_CORS_ORIGINS": "https://app.example.com"})
    app = create_app(
        core=Core.open(settings, db=database, passwords=Passwords(CHEAPEST), clock=clock), prepare_database=False
    )
    with TestClient(app) as client:
        ok = client.options(
            "/api/auth/me",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.com"
        bad = client.options(
            "/api/auth/me",
            headers={"Origin": "https://app.example.com.evil.net", "Access-Control-Request-Method": "GET"},
        )
        assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


def test_openapi_document_matches_the_routes_and_is_valid(app, client) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/api/openapi.json").json()
    validate(doc)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m, openapi_path(p)) for m, p in _all_api_routes(app)}
    assert documented == served
    for method, path in documented:
        op = doc["paths"][path][method.lower()]
        assert op["summary"] and op["responses"]
        assert (op["security"] == []) == ((method, path) in PUBLIC), (method, path)


def test_ready_reports_each_check(client, app) -> None:
    assert client.get("/ready").json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}

    def storage() -> None:
        from mediaenhancer_core.errors import ServiceUnavailableError

        raise ServiceUnavailableError("bucket unreachable")

    app.state.readiness_checks["storage"] = storage
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "storage": "failed"}
    assert "bucket unreachable" in response.json()["error"]["message"]


def test_access_logs_are_json_with_request_id_and_no_secrets(client, make_account) -> None:
    from mediaenhancer_server.logs import JsonFormatter

    account = make_account()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            record.formatted = JsonFormatter().format(record)  # type: ignore[attr-defined]

    logger = logging.getLogger("mediaenhancer.server.access")
    handler = Keep()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.get("/api/auth/me?x=1", headers={**account.headers, "X-Request-ID": "req-42"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    line = json.loads(records[-1].formatted)  # type: ignore[attr-defined]
    assert line["request_id"] == "req-42" and line["path"] == "/api/auth/me" and line["status"] == 200
    assert line["user_id"] == str(account.id) and line["method"] == "GET"
    assert account.token not in records[-1].formatted and account.token[:12] not in records[-1].formatted  # type: ignore[attr-defined]


def test_unexpected_errors_are_a_generic_500_with_request_id(app) -> None:
    from starlette.testclient import TestClient

    async def boom(request):
        raise RuntimeError("secret internals")

    app.add_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error" and "secret" not in response.text
    assert response.headers["x-request-id"] and response.headers["x-content-type-options"] == "nosniff"
