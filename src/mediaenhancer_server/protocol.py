"""uvicorn's HTTP/1.1 protocol (h11) with the two timeouts it lacks (issue 12):

- **headers**: a request line and headers must arrive within ``header_timeout`` seconds of the
  first byte of the request (or of connecting). uvicorn's keep-alive timer only runs between
  requests and is reset by every byte, so a client trickling headers (slowloris) kept a
  connection, and a worker slot, open for as long as it liked.
- **body**: while the application waits for a request body, a pause longer than ``body_timeout``
  between two pieces of it closes the connection. A pause the server caused (reading paused
  because the application is busy with what came) does not count.

Served as ``mediaenhancer-server`` runs uvicorn: ``http="mediaenhancer_server.protocol:GuardedH11Protocol"``
(a string, so worker processes import it too); :func:`configure` sets the timeouts from settings
in each process. A reverse proxy in front should have its own limits (see docs/server.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol", "configure", "PROTOCOL"]

log = logging.getLogger("mediaenhancer.server")
PROTOCOL = "mediaenhancer_server.protocol:GuardedH11Protocol"


class GuardedH11Protocol(H11Protocol):
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE:  # (part of) the next request's headers
            self._arm_headers()
        elif state is h11.SEND_BODY:
            self._cancel_headers()
            self._arm_body()
        else:
            self._cancel()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_body()

    # --- timers -----------------------------------------------------------------------------
    def _arm_headers(self) -> None:
        if self._header_timer is None:  # counted from the request's first byte: never pushed back
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired, "headers")

    def _arm_body(self) -> None:
        self._cancel_body()
        self._body_timer = self.loop.call_later(self.body_timeout, self._expired, "body")

    def _cancel_headers(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel(self) -> None:
        self._cancel_headers()
        self._cancel_body()

    def _expired(self, what: str) -> None:
        if what == "headers":
            self._header_timer = None
            if self.conn.their_state is not h11.IDLE or (self.cycle is not None and not self.cycle.response_complete):
                return  # the headers came (the request is being served): not ours to close
        else:
            self._body_timer = None
            if self.conn.their_state is not h11.SEND_BODY:
                return
            if self.flow.read_paused:  # we stopped reading, not the client: wait again
                self._arm_body()
                return
        if self.transport.is_closing():
            return
        log.warning(
            "closing a connection: the request's %s did not arrive in time",
            what,
            extra={"client": self.client[0] if self.client else None},
        )
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def configure(*, header_timeout: float, body_timeout: float) -> None:
    """Set the timeouts for this process (each uvicorn worker calls it through the app factory)."""
    GuardedH11Protocol.header_timeout = header_timeout
    GuardedH11Protocol.body_timeout = body_timeout
