"""A local stand-in for the Gemini API, for tests: the real google-genai SDK talks to it.

It runs a threading ``http.server`` on 127.0.0.1 with a free port, records every request,
and answers in Gemini's wire format:

``POST /{version}/models/{model}:generateContent``
    answered by ``standin.handler(call)``, a function of the recorded :class:`Call`
    that returns a :class:`Reply` (the helpers below build the usual ones: a structured
    JSON answer, plain text, an HTTP error, a safety block, a slow answer).
``POST /upload/{version}/files`` (``X-Goog-Upload-Protocol: resumable``)
    the Files API's resumable upload: ``X-Goog-Upload-Command: start`` opens a session
    and answers its URL in ``X-Goog-Upload-URL``; ``upload`` / ``upload, finalize``
    commands append bytes at ``X-Goog-Upload-Offset``; the final one answers
    ``{"file": {...}}`` with ``X-Goog-Upload-Status: final``.
``GET /{version}/files/{id}``, ``DELETE /{version}/files/{id}``
    file metadata (``state`` PROCESSING on the first look when ``processing_polls`` is
    set, then ACTIVE) and deletion.

A request without the expected ``x-goog-api-key`` gets Google's 400 API_KEY_INVALID.
Nothing here touches the network beyond loopback.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "GeminiStandIn",
    "Call",
    "Reply",
    "json_answer",
    "text_answer",
    "error_answer",
    "safety_block",
    "prompt_blocked",
    "slow",
]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    delay: float = 0.0  # seconds to wait before answering
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One generateContent request as the stand-in received it."""

    path: str
    model: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw_size: int
    standin: GeminiStandIn

    @property
    def parts(self) -> list[dict[str, Any]]:
        return [p for c in self.body.get("contents", []) for p in c.get("parts", [])]

    @property
    def text(self) -> str:
        return "\n".join(p["text"] for p in self.parts if "text" in p)

    @property
    def system_text(self) -> str:
        si = self.body.get("systemInstruction") or {}
        return "\n".join(p.get("text", "") for p in si.get("parts", []))

    @property
    def generation_config(self) -> dict[str, Any]:
        return self.body.get("generationConfig") or {}

    def media(self) -> list[tuple[str, bytes, str]]:
        """(mime type, bytes, "inline" or "file") of every media part, uploaded files resolved."""
        out = []
        for p in self.parts:
            # the SDK writes the inner keys in snake_case; the API accepts both spellings
            inline = p.get("inlineData") or p.get("inline_data")
            file = p.get("fileData") or p.get("file_data")
            if inline:
                mime = inline.get("mimeType") or inline.get("mime_type")
                out.append((mime, _b64(inline["data"]), "inline"))
            elif file:
                uri = file.get("fileUri") or file.get("file_uri")
                name = "files/" + uri.rstrip("/").rsplit("/", 1)[-1]
                mime = file.get("mimeType") or file.get("mime_type")
                out.append((mime, self.standin.file_bytes[name], "file"))
        return out


def _b64(text: str) -> bytes:
    """The SDK sends URL-safe base64 (the API takes either alphabet)."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------- answers


def _candidate(text: str, finish: str = "STOP") -> dict[str, Any]:
    return {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish, "index": 0}


def text_answer(text: str, *, finish: str = "STOP") -> Reply:
    return Reply(
        200,
        {
            "candidates": [_candidate(text, finish)],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
            "modelVersion": "standin-1",
        },
    )


def json_answer(obj: Any) -> Reply:
    return text_answer(json.dumps(obj))


def error_answer(code: int, status: str, message: str, *, delay: float = 0.0) -> Reply:
    return Reply(code, {"error": {"code": code, "message": message, "status": status}}, delay=delay)


def safety_block() -> Reply:
    """The model stopped for safety: a candidate without content and finishReason SAFETY."""
    return Reply(
        200,
        {
            "candidates": [
                {
                    "finishReason": "SAFETY",
                    "index": 0,
                    "safetyRatings": [
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                    ],
                }
            ],
            "modelVersion": "standin-1",
        },
    )


def prompt_blocked(reason: str = "SAFETY") -> Reply:
    """The prompt itself was refused: no candidates, promptFeedback.blockReason."""
    return Reply(200, {"promptFeedback": {"blockReason": reason}, "modelVersion": "standin-1"})


def slow(seconds: float, reply: Reply) -> Reply:
    reply.delay = seconds
    return reply


# --------------------------------------------------------------------------- server


class GeminiStandIn:
    def __init__(self, *, api_key: str = "test-key", processing_polls: int = 0) -> None:
        self.api_key = api_key
        self.processing_polls = processing_polls  # GETs a new file answers PROCESSING before ACTIVE
        self.handler: Callable[[Call], Reply] = lambda call: json_answer({})
        self.calls: list[Call] = []
        self.requests: list[tuple[str, str, dict[str, str], int]] = []  # method, path, headers, body size
        self.files: dict[str, dict[str, Any]] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self._uploads: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def reset(self, *, processing_polls: int = 0) -> None:
        """Forget what was recorded (for a server shared by several tests)."""
        with self._lock:
            self.handler = lambda call: json_answer({})
            self.processing_polls = processing_polls
            self.calls.clear()
            self.requests.clear()
            self.files.clear()
            self.file_bytes.clear()
            self.deleted.clear()
            self._uploads.clear()
            self._polls.clear()

    def answer(self, *replies: Reply) -> None:
        """Answer generateContent calls with these replies in turn (the last one repeats)."""
        queue = list(replies)

        def handler(call: Call) -> Reply:
            with self._lock:
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
            return Reply(reply.status, reply.body, reply.delay, dict(reply.headers))

        self.handler = handler

    @property
    def uploads(self) -> list[tuple[str, dict[str, str], int]]:
        """(path, headers, body size) of every Files API request."""
        return [(p, h, n) for m, p, h, n in self.requests if p.startswith("/upload/")]

    # -- lifecycle
    def start(self) -> GeminiStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                standin._dispatch(self, "POST")

            def do_GET(self) -> None:
                standin._dispatch(self, "GET")

            def do_DELETE(self) -> None:
                standin._dispatch(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- dispatch
    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append((method, url.path, headers, len(raw)))
        try:
            if method == "POST" and url.path.startswith("/upload/") and "upload_id" in parse_qs(url.query):
                # the session URL is the credential, as at Google: no API key on these
                reply = self._upload_chunk(parse_qs(url.query)["upload_id"][0], headers, raw)
            elif headers.get("x-goog-api-key") != self.api_key:
                reply = error_answer(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
            elif method == "POST" and url.path.endswith(":generateContent"):
                reply = self._generate(url.path, headers, raw)
            elif method == "POST" and url.path.startswith("/upload/") and url.path.endswith("/files"):
                reply = self._upload_start(url.path, headers, raw)
            elif method == "GET" and "/files/" in url.path:
                reply = self._file_get(url.path)
            elif method == "DELETE" and "/files/" in url.path:
                reply = self._file_delete(url.path)
            else:
                reply = error_answer(404, "NOT_FOUND", f"no route {method} {url.path}")
        except Exception as exc:  # noqa: BLE001 - a bug in a test handler: answer a 500 the test will see
            reply = error_answer(500, "INTERNAL", f"stand-in handler failed: {exc!r}")
        self._send(h, reply)

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        body = (
            reply.body
            if isinstance(reply.body, bytes)
            else json.dumps(reply.body if reply.body is not None else {}).encode()
        )
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", "application/json; charset=UTF-8")
            h.send_header("Content-Length", str(len(body)))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer

    # -- generateContent
    def _generate(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        call = Call(
            path=path, model=model, headers=headers, body=json.loads(raw or b"{}"), raw_size=len(raw), standin=self
        )
        with self._lock:
            self.calls.append(call)
        return self.handler(call)

    # -- Files API (resumable upload)
    def _upload_start(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        if headers.get("x-goog-upload-protocol") != "resumable" or headers.get("x-goog-upload-command") != "start":
            return error_answer(400, "INVALID_ARGUMENT", "expected a resumable upload start")
        meta = json.loads(raw or b"{}").get("file") or {}
        upload_id = uuid.uuid4().hex
        version = path.split("/")[2]
        with self._lock:
            self._uploads[upload_id] = {
                "size": int(headers.get("x-goog-upload-header-content-length", "0")),
                "mimeType": headers.get("x-goog-upload-header-content-type") or meta.get("mimeType"),
                "displayName": meta.get("displayName"),
                "data": bytearray(),
                "version": version,
            }
        url = f"{self.base_url}/upload/{version}/files?upload_id={upload_id}&upload_protocol=resumable"
        return Reply(200, {}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})

    def _upload_chunk(self, upload_id: str, headers: dict[str, str], raw: bytes) -> Reply:
        with self._lock:
            session = self._uploads.get(upload_id)
            if session is None:
                reply = error_answer(404, "NOT_FOUND", "no such upload session")
                reply.headers["X-Goog-Upload-Status"] = "final"
                return reply
            command = headers.get("x-goog-upload-command", "")
            offset = int(headers.get("x-goog-upload-offset", "-1"))
            if offset != len(session["data"]):
                return Reply(
                    400,
                    {"error": {"code": 400, "message": "bad offset", "status": "INVALID_ARGUMENT"}},
                    headers={"X-Goog-Upload-Status": "final"},
                )
            session["data"] += raw
            if "finalize" not in command:
                return Reply(200, {}, headers={"X-Goog-Upload-Status": "active"})
            name = f"files/{upload_id[:12]}"
            record = {
                "name": name,
                "displayName": session["displayName"],
                "mimeType": session["mimeType"],
                "sizeBytes": str(len(session["data"])),
                "uri": f"{self.base_url}/{session['version']}/{name}",
                "state": "PROCESSING" if self.processing_polls else "ACTIVE",
                "source": "UPLOADED",
            }
            self.files[name] = record
            self.file_bytes[name] = bytes(session["data"])
            self._polls[name] = 0
            del self._uploads[upload_id]
        return Reply(200, {"file": record}, headers={"X-Goog-Upload-Status": "final"})

    def _file_get(self, path: str) -> Reply:
        name = "files/" + path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            record = self.files.get(name)
            if record is None:
                return error_answer(404, "NOT_FOUND", f"{name} not found")
            self._polls[name] += 1
            if self._polls[name] > self.processing_polls:
                record["state"] = "ACTIVE"
            return Reply(200, dict(record))

    def _file_delete(self, path: str) -> Reply:
        name = "files/" + path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            self.deleted.append(name)
            self.files.pop(name, None)
        return Reply(200, {})
