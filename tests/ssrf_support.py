"""Helpers of the media-probing (SSRF) tests: a trap listener on loopback, a loopback server
that serves one file the way S3 does, and the crafted uploads of issue 12."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests import media as M


class Listener:
    """A TCP listener on loopback that records every connection (and the request line sent on it)
    and answers 404. The tests point crafted media at it: it must receive nothing."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/x.ts") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = ""
                self.requests.append(first or "(a connection)")
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@contextlib.contextmanager
def served(data: bytes, name: str = "object") -> Iterator[str]:
    """``data`` at http://127.0.0.1:PORT/NAME (with byte ranges), as S3 serves a stored object
    to ffprobe through a presigned URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] != f"/{name}":
                self.send_error(404)
                return
            start = 0
            rng = self.headers.get("Range", "")
            if rng.startswith("bytes=") and rng[6:].split("-")[0].isdigit():
                start = int(rng[6:].split("-")[0])
            body = data[start:]
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
        server.server_close()


def playlist(*segments: str, id3: bool = True) -> bytes:
    """The issue's file: an empty ID3v2.4 tag, an HLS playlist behind it, 600 newlines."""
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2"]
    for seg in segments:
        lines += ["#EXTINF:2.0,", seg]
    lines.append("#EXT-X-ENDLIST")
    return (b"ID3\x04\0\0\0\0\0\0" if id3 else b"") + ("\n".join(lines) + "\n").encode() + b"\n" * 600


def concat_list(*files: str) -> bytes:
    """An ffconcat script naming other files (the concat demuxer reads them)."""
    return ("ffconcat version 1.0\n" + "".join(f"file '{f}'\n" for f in files)).encode()


def server_secret(folder: Path) -> Path:
    """A file on the machine that no user gave: a 2 s red video with a 1 kHz tone."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret.mp4"
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x48:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=1000:d=2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    )
    return path
