"""Callback-URL DNS lookups do not hold the database threads (issue 12): they run on threads of
their own with a timeout. Before: 20 slow lookups delayed another user's GET by 3.8 s (each held
one of the app's database threads for as long as the name server took)."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env["MEDIAENHANCER_CALLBACK_DNS_TIMEOUT_SECONDS"] = "60"  # the slow lookups stay pending
    settings_env["MEDIAENHANCER_EMBEDDED_WORKERS"] = "0"
    return settings_env


@pytest.fixture
def slow_dns(monkeypatch):
    """Names ending in .slow.example resolve only when the test says so."""
    real = socket.getaddrinfo
    gate = threading.Event()
    started: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".slow.example"):
            started.append(host)
            gate.wait(120)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield gate, started
    gate.set()


def test_slow_callback_lookups_do_not_delay_other_users(live_server, make_account, slow_dns) -> None:
    gate, started = slow_dns
    alice, bob = make_account(), make_account()
    slow = 20
    answers: list[int] = []

    def register(i: int) -> None:
        r = httpx.put(
            f"{live_server.url}/api/users/callback",
            headers=alice.headers,
            json={"url": f"https://hook{i}.slow.example/x"},
            timeout=120,
        )
        answers.append(r.status_code)

    with ThreadPoolExecutor(max_workers=slow) as pool:
        futures = [pool.submit(register, i) for i in range(slow)]
        deadline = time.monotonic() + 30
        while len(started) < 8 and time.monotonic() < deadline:  # the lookups are under way
            time.sleep(0.02)
        assert len(started) >= 8
        other = httpx.get(f"{live_server.url}/api/users/profile", headers=bob.headers, timeout=30)
        assert other.status_code == 200  # answered while every slow lookup is still waiting
        assert answers == [] and not gate.is_set()
        gate.set()
        for f in futures:
            f.result(timeout=120)
    assert answers == [200] * slow


def test_a_lookup_that_takes_too_long_is_refused(core, make_account, slow_dns, monkeypatch) -> None:
    from starlette.testclient import TestClient

    from mediaenhancer_server import create_app

    object.__setattr__(core.settings, "callback_dns_timeout_seconds", 0.2)
    account = make_account()
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        r = client.put("/api/users/callback", headers=account.headers, json={"url": "https://late.slow.example/x"})
    assert r.status_code == 422 and "did not resolve within" in r.json()["error"]["message"]


def test_a_name_that_does_not_exist_is_refused_not_a_500(core, make_account, monkeypatch) -> None:
    from starlette.testclient import TestClient

    from mediaenhancer_server import create_app

    looked_up: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    account = make_account()
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        missing = client.put("/api/users/callback", headers=account.headers, json={"url": "https://nowhere.invalid/x"})
        other_scheme = client.put("/api/users/callback", headers=account.headers, json={"url": "ftp://x"})
    assert missing.status_code == 422 and "cannot resolve nowhere.invalid" in missing.json()["error"]["message"]
    assert other_scheme.status_code == 422
    assert looked_up == ["nowhere.invalid"]  # a scheme that is refused anyway is never looked up
