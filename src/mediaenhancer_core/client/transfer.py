"""Uploading and downloading media from the CLI's side of the API (used by ``mediaenhancer upload``
and ``media download``).

:func:`upload_file` speaks the resumable protocol: it asks the server for an upload
(storage is reserved at once, so a file that does not fit is refused before a byte
moves), streams the file from the offset the server reports, and on a broken connection
or a 503 asks again where to resume and continues, a few times with backoff. The upload
id is kept in a small state file, so running the same command again after Ctrl-C or a
crash resumes too (same file, same size and modification time, same server).

:func:`download_file` streams a signed URL into a temporary file beside the destination
and renames it into place: the destination is whole or untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mediaenhancer_core import errors as E
from mediaenhancer_core.client.api import ApiClient
from mediaenhancer_core.engine.probe import check_input
from mediaenhancer_core.files import atomic_output, os_error

__all__ = ["upload_file", "download_file", "refuse_existing", "ResumeState", "READ_BYTES"]

READ_BYTES = 1024 * 1024
RETRYABLE = (E.ServerUnreachableError, E.StorageError, E.ServiceUnavailableError, E.DatabaseError, E.UploadOffsetError)
Progress = Callable[[int], None]  # called with the number of bytes just sent or received


class ResumeState:
    """Upload ids of unfinished uploads, by server and file (a JSON file in the cache folder)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "uploads.json"

    @staticmethod
    def key(server: str, path: Path) -> str:
        st = path.stat()
        raw = f"{server}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def set(self, key: str, upload_id: str | None) -> None:
        data = self._read()
        if upload_id is None:
            data.pop(key, None)
        else:
            data[key] = upload_id
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(data), "utf-8")
            os.replace(tmp, self.path)


def _chunks(path: Path, offset: int, on_progress: Progress | None) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            block = fh.read(READ_BYTES)
            if not block:
                return
            yield block
            if on_progress:
                on_progress(len(block))


def upload_file(
    client: ApiClient,
    path: Path,
    *,
    state: ResumeState | None = None,
    on_progress: Progress | None = None,
    on_resume: Callable[[int], None] | None = None,
    retries: int = 4,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Upload ``path``; returns the media as the server describes it. A ConnectionAbortedError
    raised by ``on_progress`` breaks the connection off (as a crash would)."""
    path = Path(path)
    check_input(path)
    size = path.stat().st_size
    key = ResumeState.key(client.base_url, path) if state else ""
    upload: dict[str, Any] | None = None
    known = state.get(key) if state else None
    if known:
        try:
            upload = client.get(f"/api/media/uploads/{known}")
        except (E.NotFoundError, E.ConflictError):
            upload = None
        if upload is not None and upload.get("status") == "ready":
            if state:
                state.set(key, None)
            return dict(client.get(f"/api/media/{known}"))
        if upload is not None and on_resume:
            on_resume(int(upload["offset"]))
    if upload is None:
        upload = client.post("/api/media/uploads", {"filename": path.name, "size": size})
        if state:
            state.set(key, upload["id"])
    url = f"/api/media/uploads/{upload['id']}"
    offset = int(upload["offset"])
    failures = 0
    while True:
        try:
            answer = client.request(
                "PATCH",
                url,
                content=_chunks(path, offset, on_progress),
                extra_headers={
                    "Upload-Offset": str(offset),
                    "Content-Length": str(size - offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
        except ConnectionAbortedError:
            raise E.ServerUnreachableError("the upload was interrupted; run the same command again to resume") from None
        except RETRYABLE as exc:
            failures += 1
            if failures > retries:
                raise
            sleep(min(30.0, 2.0**failures))
            try:
                status = client.get(url)
            except RETRYABLE:
                if failures >= retries:
                    raise exc from None
                continue
            offset = int(status["offset"])
            if on_resume:
                on_resume(offset)
            continue
        if answer.get("complete"):
            if state:
                state.set(key, None)
            return dict(answer["media"])
        offset = int(answer["offset"])


def refuse_existing(dest: Path, *, kept: str = "") -> None:
    """Raise :class:`OutputExistsError` when ``dest`` exists (callers skip this with ``--force``)."""
    if os.path.lexists(dest):
        raise E.OutputExistsError(f"{dest} exists; pass --force to replace it{kept}", path=dest)


def download_file(
    client: ApiClient, url: str, dest: Path, *, on_progress: Progress | None = None, force: bool = True
) -> int:
    """Stream ``url`` (a signed download URL) to ``dest`` atomically; returns the bytes written.
    ``force=False``: refuse (:class:`OutputExistsError`) when ``dest`` exists, before and after."""
    if not force:
        refuse_existing(dest)
    httpx = client._httpx
    total = 0
    with atomic_output(Path(dest), replace=force) as tmp:
        try:
            with client.http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    from mediaenhancer_core.client.api import error_from_body  # noqa: PLC0415

                    raise error_from_body(response.status_code, body)
                with open(tmp, "wb") as fh:
                    for block in response.iter_bytes(READ_BYTES):
                        fh.write(block)
                        total += len(block)
                        if on_progress:
                            on_progress(len(block))
                    fh.flush()
                    os.fsync(fh.fileno())
        except httpx.TransportError as exc:
            raise E.ServerUnreachableError(f"the download broke off ({exc.__class__.__name__}); run it again") from None
        except OSError as exc:
            raise os_error(exc, Path(dest)) from None
    return total
