"""Slow clients cannot hold connections (issue 12): the server's HTTP protocol closes a connection
whose headers do not arrive within server_header_timeout_seconds, or whose body stalls for
server_body_timeout_seconds while the app waits for it. A body that keeps coming is never cut.

Before: uvicorn had no such timeouts; a client that sent half a request kept its connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from mediaenhancer_server import create_app
from mediaenhancer_server.protocol import PROTOCOL, GuardedH11Protocol, configure

from .conftest import free_port


@pytest.fixture
def guarded_server(core) -> Iterator[int]:
    saved = (GuardedH11Protocol.header_timeout, GuardedH11Protocol.body_timeout)
    configure(header_timeout=1.0, body_timeout=2.0)
    port = free_port()
    config = uvicorn.Config(
        create_app(core=core, prepare_database=False),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=PROTOCOL,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)
    GuardedH11Protocol.header_timeout, GuardedH11Protocol.body_timeout = saved


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed the connection (EOF) before our 30 s patience ran out."""
    with sock:
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def test_a_connection_that_never_finishes_its_headers_is_closed(guarded_server) -> None:
    sock = _connect(guarded_server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert _closed_by_server(sock)
    silent = _connect(guarded_server)  # and one that connects and says nothing
    assert _closed_by_server(silent)


def test_a_stalled_body_is_closed(guarded_server) -> None:
    sock = _connect(guarded_server)
    sock.sendall(
        b"POST /api/device/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"client_name": '
    )
    assert _closed_by_server(sock)


def test_a_body_that_keeps_coming_is_served(guarded_server) -> None:
    body = b'{"client_name": "' + b"x" * 40 + b'"}'
    sock = _connect(guarded_server)
    sock.sendall(
        b"POST /api/device/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    for i in range(0, len(body), 4):  # about 3 s in all, longer than the body timeout, never a long pause
        sock.sendall(body[i : i + 4])
        time.sleep(0.25)
    answer = b""
    with sock:
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
