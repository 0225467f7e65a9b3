"""The first and last bytes of an upload, kept while it streams through, so that it can be
identified without reading it back from storage.

ffprobe reads a file's header and, for some formats, its end (an MP4's ``moov`` written last,
a WAV's trailing chunks, an MPEG-TS's last timestamps). :class:`WindowCollector` keeps the
first ``head`` and last ``tail`` bytes of a file received in one go, and :func:`serve` hands
ffprobe an HTTP URL on loopback that answers byte ranges from them, as S3 answers ffprobe for
a stored object. A read that reaches bytes the window does not hold is refused (a range that
starts there) or cut short (one that runs into it), and either is noticed: :class:`Served`
records refused ranges, and ffprobe reports a response that ended before the bytes it asked
for. The caller then probes the stored object, so a window gives the file's answer or none.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["ByteWindow", "WindowCollector", "Served", "serve", "HEAD_BYTES", "TAIL_BYTES"]

# What ffprobe reads of most files fits (a WAV's header and first packets, an MP4's moov of a
# long recording written at the end, an MPEG-TS's first and last timestamps); what does not is
# read back from storage. 2 MiB each answered more, for 8 MB more of the server's peak memory.
HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class ByteWindow:
    """``head`` is bytes ``[0, len(head))`` of a ``size``-byte file, ``tail`` its last bytes."""

    size: int
    head: bytes
    tail: bytes = b""

    @property
    def tail_start(self) -> int:
        return self.size - len(self.tail)

    def span(self, start: int) -> bytes | None:
        """The known bytes from ``start`` up to the next unknown byte (or the end), or None when
        the byte at ``start`` is not in the window."""
        if start < len(self.head):
            return self.head[start:]
        if self.tail and self.tail_start <= start < self.size:
            return self.tail[start - self.tail_start :]
        return None


class WindowCollector:
    """Fed every chunk of a file in order from its first byte; :meth:`window` is then the head and
    the tail (the whole file when it is no longer than both). Holds at most ``head_bytes`` plus
    ``tail_bytes`` and one chunk: the tail keeps references to the received chunks, no copies."""

    def __init__(self, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES) -> None:
        self._head = bytearray()
        self._head_bytes, self._tail_bytes = head_bytes, tail_bytes
        self._tail: deque[bytes] = deque()
        self._held = 0
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        if len(self._head) < self._head_bytes:
            self._head += chunk[: self._head_bytes - len(self._head)]
        chunk = chunk if type(chunk) is bytes else bytes(chunk)  # never a view of a buffer reused later
        self._tail.append(chunk)
        self._held += len(chunk)
        self.size += len(chunk)
        while self._tail and self._held - len(self._tail[0]) >= self._tail_bytes:
            self._held -= len(self._tail.popleft())

    def window(self) -> ByteWindow:
        tail = b"".join(self._tail)
        tail_start = self.size - len(tail)
        if tail_start <= len(self._head):  # head and tail meet: the whole file
            return ByteWindow(self.size, bytes(self._head) + tail[len(self._head) - tail_start :])
        return ByteWindow(self.size, bytes(self._head), tail)


@dataclass
class Served:
    url: str
    refused: list[str] = field(default_factory=list)  # ranges asked for that start outside the window


@contextlib.contextmanager
def serve(window: ByteWindow) -> Iterator[Served]:
    """Serve ``window`` at a random path on 127.0.0.1 for the block's duration."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415 - only when probing

    path = "/" + secrets.token_urlsafe(16)
    served = Served(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # the base class's name
            pass

        def _refuse(self, status: int, why: str) -> None:
            served.refused.append(why)
            self.send_response(status)
            self.send_header("Content-Range", f"bytes */{window.size}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # http.server's name
            if self.path != path:
                self.send_error(404)
                return
            match = _RANGE.match(self.headers.get("Range", "bytes=0-"))
            if match is None:
                self._refuse(416, f"range {self.headers.get('Range')!r}")
                return
            start = int(match.group(1))
            last = min(int(match.group(2)) if match.group(2) else window.size - 1, window.size - 1)
            known = window.span(start) if start <= last else None
            if known is None:
                self._refuse(416, f"bytes {start}-{last}")
                return
            body = known[: last - start + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{window.size}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            with contextlib.suppress(OSError):  # the reader seeks elsewhere and hangs up
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # shutdown() waits for the loop to look at its flag: every 20 ms, not the default 500 ms
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="mediaenhancer-window", daemon=True)
    thread.start()
    try:
        served.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        yield served
    finally:
        server.shutdown()
        server.server_close()
