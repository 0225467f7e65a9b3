"""The security sweep (issue 12): every operation in the OpenAPI document is called

1. without a token (each non-public one must answer 401),
2. with another user's ids in its path (it must answer 4xx), and
3. with the bad inputs that used to give 500s: JSON nested 5000 deep, a lone surrogate and a NUL
   in every string field, 1e20 in every number field and integer query parameter, a NUL in an
   uploaded file's name,

and each call must answer 4xx with a JSON error body and change nothing: no row of any table
(the attempt counters aside: counting refused attempts is their job) and no stored file.

The operations come from GET /api/openapi.json, so a new route is swept without editing this file.
A route the sweep cannot call (a path parameter it has no id for, a body type it does not know)
fails the sweep until it is taught here. Both databases: NUL is refused by PostgreSQL itself.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from mediaenhancer_core.db.models import Base
from mediaenhancer_server import create_app

DEEP = b"[" * 5000 + b"]" * 5000
SURROGATE = "x\ud800y"
NUL = "x\x00y"
HUGE = 1e20
HUGE_QUERY = ("100000000000000000000", "1e20", "-100000000000000000000")
IGNORED_TABLES = {"alembic_version", "sign_in_throttle"}  # attempt counters count refused attempts by design
IGNORED_COLUMNS = {("api_tokens", "last_used_at")}  # written in the background when a token is used


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env.update(
        {
            "MEDIAENHANCER_EMBEDDED_WORKERS": "0",  # jobs stay queued: nothing changes behind the sweep's back
            "MEDIAENHANCER_STRIPE_WEBHOOK_SECRET": "whsec_" + "s" * 32,
            "MEDIAENHANCER_CLERK_WEBHOOK_SECRET": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
            "MEDIAENHANCER_DEVICE_CODE_IP_MAX": "10000",
        }
    )
    return settings_env


# --- the world: a victim with one of everything, and an attacker --------------------------------------


def _victim(client: TestClient, core: Any, make_account: Any, media: Path) -> tuple[Any, dict[str, str]]:
    victim = make_account()
    h = victim.headers
    with open(media, "rb") as fh:
        uploaded = client.post("/api/media/upload", headers=h, files={"file": ("tone.wav", fh, "audio/wav")})
    assert uploaded.status_code == 201, uploaded.text
    media_row = uploaded.json()
    project = client.post(
        "/api/projects",
        headers=h,
        json={"name": "Victim's project", "segments": [{"media_id": media_row["id"], "start": 0, "end": 1}]},
    ).json()
    exported = client.post(f"/api/projects/{project['id']}/export", headers=h, json={"format": "mp3"})
    assert exported.status_code == 202, exported.text
    upload = client.post("/api/media/uploads", headers=h, json={"filename": "later.wav", "size": 1000}).json()
    token = client.post("/api/tokens", headers=h, json={"name": "victim's laptop"}).json()
    ids = {
        "media_id": media_row["id"],
        "project_id": project["id"],
        "segment_id": project["segments"][0]["id"],
        "job_id": exported.json()["job"]["id"],
        "export_id": exported.json()["export_id"],
        "token_id": token["id"],
        "checksum": media_row["checksum_sha256"],
    }
    ids["upload_media_id"] = upload["id"]
    return victim, ids


def _snapshot(core: Any) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    with core.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in IGNORED_TABLES:
                continue
            columns = [c for c in table.columns if (table.name, c.name) not in IGNORED_COLUMNS]
            rows = conn.execute(select(*columns)).all()
            tables[table.name] = sorted(repr(tuple(r)) for r in rows)
    root = core.library.storage.root
    files = sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())
    return {"tables": tables, "files": files}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = [name for name in before["tables"] if before["tables"][name] != after["tables"].get(name)]
    if before["files"] != after["files"]:
        changed.append("stored files")
    return ", ".join(changed)


# --- building requests from the OpenAPI document ---------------------------------------------------------


def _sample(schema: dict[str, Any]) -> Any:
    """A small value that fits the schema (the body the bad inputs are planted into)."""
    kinds = schema.get("type")
    kind = (kinds if isinstance(kinds, list) else [kinds])[0] if kinds else "object"
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "null":
        return None
    props = schema.get("properties", {})
    return {name: _sample(props[name]) for name in schema.get("required", []) if name in props}


def _leaves(schema: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], set[str]]]:
    """Every property of the schema (nested objects included) with the kinds it accepts."""
    out = []
    for name, sub in schema.get("properties", {}).items():
        kinds = sub.get("type")
        kinds = set(kinds if isinstance(kinds, list) else [kinds]) if kinds else {"object"}
        out.append(((*path, name), kinds))
        if "object" in kinds and sub.get("properties"):
            out.extend(_leaves(sub, (*path, name)))
    return out


def _planted(base: Any, path: tuple[str, ...], value: Any) -> bytes:
    body = copy.deepcopy(base) if isinstance(base, dict) else {}
    target = body
    for part in path[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            return json.dumps({path[0]: value}).encode()
    target[path[-1]] = value
    return json.dumps(body).encode()  # "\ud800" and "\u0000" are valid JSON escapes


def _bad_bodies(operation: dict[str, Any]) -> list[tuple[str, bytes]]:
    content = (operation.get("requestBody") or {}).get("content", {})
    if "application/json" not in content:
        return []
    schema = content["application/json"]["schema"]
    base = _sample(schema)
    bodies = [("JSON nested 5000 deep", DEEP)]
    for path, kinds in _leaves(schema):
        name = ".".join(path)
        if "string" in kinds:
            bodies.append((f"a lone surrogate in {name}", _planted(base, path, SURROGATE)))
            bodies.append((f"NUL in {name}", _planted(base, path, NUL)))
        if kinds & {"integer", "number"}:
            bodies.append((f"1e20 in {name}", _planted(base, path, HUGE)))
    if schema.get("type") == "object" and not schema.get("properties"):  # free-form (webhooks)
        bodies.append(("a lone surrogate in a string", json.dumps({"type": SURROGATE}).encode()))
        bodies.append(("NUL in a string", json.dumps({"type": NUL}).encode()))
    return bodies


def _fill(path: str, ids: dict[str, str], operation: dict[str, Any]) -> str:
    for param in operation.get("parameters", []):
        if param["in"] != "path":
            continue
        name = param["name"]
        key = "upload_media_id" if path.startswith("/api/media/uploads/") and name == "media_id" else name
        if key not in ids:
            pytest.fail(f"{path}: the sweep has no id for the path parameter {name!r}; add one to _victim()")
        path = path.replace("{" + name + "}", ids[key])
    return path


def _valid_body(operation: dict[str, Any], ids: dict[str, str]) -> tuple[dict[str, Any], str]:
    """kwargs for a well-formed request (the cross-user call) and a label of the body kind."""
    content = (operation.get("requestBody") or {}).get("content", {})
    if not content:
        return {}, "none"
    if "application/json" in content:
        body = _sample(content["application/json"]["schema"])
        if isinstance(body, dict) and "media_id" in body:
            body["media_id"] = ids["media_id"]
        return {"content": json.dumps(body).encode(), "headers": {"Content-Type": "application/json"}}, "json"
    if "multipart/form-data" in content:
        return {"files": {"file": ("x.wav", b"RIFF" + b"\0" * 60, "audio/wav")}}, "multipart"
    if "application/offset+octet-stream" in content:
        return {
            "content": b"\0" * 16,
            "headers": {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        }, "chunk"
    pytest.fail(f"the sweep does not know how to send {sorted(content)}; teach _valid_body()")
    raise AssertionError  # unreachable


# --- the sweep -------------------------------------------------------------------------------------------------


def test_every_route_refuses_strangers_other_users_and_bad_input(media_core, make_account, media_files) -> None:
    core = media_core
    failures: list[str] = []
    with TestClient(create_app(core=core, prepare_database=False), raise_server_exceptions=False) as client:
        _, ids = _victim(client, core, make_account, media_files["tone"])
        attacker = make_account()
        doc = client.get("/api/openapi.json").json()
        operations = [(path, method, op) for path, methods in doc["paths"].items() for method, op in methods.items()]
        assert len(operations) >= 45  # the whole API, not an empty document

        def call(label: str, method: str, url: str, *, expect: set[int] | None = None, **kwargs: Any) -> None:
            before = _snapshot(core)
            response = client.request(method.upper(), url, **kwargs)
            status = response.status_code
            where = f"{method.upper()} {url.split('?')[0]} [{label}]"
            ok = status in expect if expect else 400 <= status < 500
            if not ok:
                failures.append(f"{where}: answered {status}: {response.text[:160]}")
            else:
                try:
                    assert response.json()["error"]["code"]
                except (ValueError, KeyError, TypeError, AssertionError):
                    failures.append(f"{where}: {status} without a JSON error body")
            changed = _diff(before, _snapshot(core))
            if changed:
                failures.append(f"{where}: answered {status} but changed {changed}")

        for path, method, op in operations:
            url = _fill(path, ids, op)
            valid, kind = _valid_body(op, ids)
            if op.get("security"):
                call("no token", method, url, expect={401}, **valid)
                call(
                    "bad token",
                    method,
                    url,
                    expect={401},
                    **{**valid, "headers": {**valid.get("headers", {}), "Authorization": "Bearer me_" + "A" * 43}},
                )
            auth = {"Authorization": f"Bearer {attacker.token}"}
            if "{" in path:
                call("another user's ids", method, url, **{**valid, "headers": {**valid.get("headers", {}), **auth}})
            for label, body in _bad_bodies(op):
                call(label, method, url, content=body, headers={**auth, "Content-Type": "application/json"})
            for param in op.get("parameters", []):
                if param["in"] == "query" and param["schema"].get("type") == "integer":
                    for value in HUGE_QUERY:
                        call(f"{param['name']}={value}", method, f"{url}?{param['name']}={value}", headers=auth)
            if kind == "multipart":
                call(
                    "NUL in the file name",
                    method,
                    url,
                    headers=auth,
                    files={"file": ("bad\x00name.wav", b"RIFF" + b"\0" * 60, "audio/wav")},
                )
    assert not failures, f"{len(failures)} calls failed the sweep:\n" + "\n".join(failures)


def test_the_sweep_would_notice_a_route_that_leaks(media_core, make_account, media_files) -> None:
    """The sweep's own check: a change made by a 4xx answer is seen by the snapshot."""
    core = media_core
    before = _snapshot(core)
    account = make_account()
    assert "users" in _diff(before, _snapshot(core)) and "api_tokens" in _diff(before, _snapshot(core))
    assert account.id == uuid.UUID(str(account.id))
