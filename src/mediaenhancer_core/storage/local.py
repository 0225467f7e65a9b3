"""Media in a folder on this machine (the default backend).

    <root>/objects/<key>                 complete objects
    <root>/uploads/<upload id>.part      an upload in progress (bytes appended as they arrive)
    <root>/uploads/<upload id>.key       the key it will become

Completing an upload renames the staging file into place, so an object is either whole
or absent. Downloads go through the server's ``/storage/`` route behind HMAC-signed,
expiring URLs (:mod:`.signing`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mediaenhancer_core.errors import StorageError, StorageUnavailableError
from mediaenhancer_core.privatefs import make_dirs, open_private, touch_private
from mediaenhancer_core.storage.base import READ_CHUNK, ObjectInfo, PartWriter, PendingUpload, Storage, check_key
from mediaenhancer_core.storage.signing import UrlSigner

__all__ = ["LocalStorage"]


def _os_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageUnavailableError(f"media storage is full while {what}; free disk space on the server")
    return StorageUnavailableError(f"media storage failed while {what} ({exc.strerror or exc.__class__.__name__})")


class _LocalPartWriter(PartWriter):
    def __init__(self, path: Path, offset: int) -> None:
        self.offset = offset
        try:
            self._fh = open(path, "r+b")  # closed in commit/discard
            self._fh.seek(offset)
            self._fh.truncate()
        except OSError as exc:
            raise _os_error(exc, "continuing an upload") from None
        self._written = 0

    def write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
        except OSError as exc:
            self.discard()
            raise _os_error(exc, "writing an upload") from None
        self._written += len(data)

    def commit(self, *, final: bool) -> int:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            self.discard()
            raise _os_error(exc, "writing an upload") from None
        finally:
            self._fh.close()
        self.offset += self._written
        self._written = 0
        return self.offset

    def discard(self) -> int:
        with contextlib.suppress(OSError):
            self._fh.flush()
            self.offset = self._fh.tell()
        self._fh.close()
        self._written = 0
        return self.offset


class LocalStorage(Storage):
    backend = "local"
    remote = False

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.uploads = self.root / "uploads"
        self.signer = signer

    def describe(self) -> str:
        return f"local folder {self.root}"

    def path(self, key: str) -> Path:
        return self.objects / check_key(key)

    def _staging(self, upload_id: str) -> tuple[Path, Path]:
        try:
            uuid.UUID(hex=upload_id)
        except ValueError:
            raise StorageError(f"no upload {upload_id!r}") from None
        return self.uploads / f"{upload_id}.part", self.uploads / f"{upload_id}.key"

    def check(self) -> None:
        try:
            make_dirs(self.objects)
            make_dirs(self.uploads)
        except OSError as exc:
            raise _os_error(exc, f"creating {self.root}") from None
        if not os.access(self.objects, os.W_OK) or not os.access(self.uploads, os.W_OK):
            raise StorageUnavailableError(f"media storage folder {self.root} is not writable; fix its permissions")

    # --- whole objects -------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        final = self.path(key)
        tmp = final.with_name(f".tmp-{secrets.token_hex(6)}")
        try:
            make_dirs(final.parent)
            with open_private(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise _os_error(exc, "storing a file") from None

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = self.path(key)
        try:
            fh = open(path, "rb")  # closed by the generator
        except FileNotFoundError:
            raise StorageError(f"object {key} is missing from {self.root}") from None
        except OSError as exc:
            raise _os_error(exc, "reading a file") from None

        def chunks() -> Iterator[bytes]:
            with fh:
                fh.seek(start)
                left = length
                while left is None or left > 0:
                    chunk = fh.read(READ_CHUNK if left is None else min(READ_CHUNK, left))
                    if not chunk:
                        return
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return chunks()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(exc, "checking a file") from None

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(exc, "deleting a file") from None
        parent = path.parent
        while parent != self.objects and parent.is_relative_to(self.objects):
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break
            parent = parent.parent

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.objects.is_dir():
            return
        for folder, _dirs, files in os.walk(self.objects):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                path = Path(folder) / name
                key = path.relative_to(self.objects).as_posix()
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = path.stat()
                    yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    # --- resumable uploads -------------------------------------------------------------------
    def start_upload(self, key: str, *, content_type: str) -> str:
        check_key(key)
        upload_id = uuid.uuid4().hex
        part, keyfile = self._staging(upload_id)
        try:
            make_dirs(self.uploads)
            with open_private(keyfile, "w") as fh:
                fh.write(key)
            touch_private(part)
        except OSError as exc:
            raise _os_error(exc, "starting an upload") from None
        return upload_id

    def upload_offset(self, key: str, upload_id: str, *, part_size: int) -> int:
        part, _ = self._staging(upload_id)
        try:
            return part.stat().st_size
        except FileNotFoundError:
            raise StorageError(f"upload {upload_id} of {key} is gone (completed, aborted or reaped)") from None

    def part_writer(
        self, key: str, upload_id: str, *, offset: int, part_size: int, total_size: int | None
    ) -> PartWriter:
        part, _ = self._staging(upload_id)
        if not part.exists():
            raise StorageError(f"upload {upload_id} of {key} is gone (completed, aborted or reaped)")
        return _LocalPartWriter(part, offset)

    def complete_upload(self, key: str, upload_id: str, *, part_size: int) -> int:
        part, keyfile = self._staging(upload_id)
        final = self.path(key)
        try:
            size = part.stat().st_size
            make_dirs(final.parent)
            os.replace(part, final)
            keyfile.unlink(missing_ok=True)
        except FileNotFoundError:
            raise StorageError(f"upload {upload_id} of {key} is gone (completed, aborted or reaped)") from None
        except OSError as exc:
            raise _os_error(exc, "completing an upload") from None
        return size

    def abort_upload(self, key: str, upload_id: str) -> None:
        part, keyfile = self._staging(upload_id)
        try:
            part.unlink(missing_ok=True)
            keyfile.unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(exc, "aborting an upload") from None

    def list_uploads(self, prefix: str = "") -> Iterator[PendingUpload]:
        if not self.uploads.is_dir():
            return
        for keyfile in self.uploads.glob("*.key"):
            try:
                key = keyfile.read_text("utf-8")
                part = keyfile.with_suffix(".part")
                started = part.stat().st_mtime if part.exists() else keyfile.stat().st_mtime
            except OSError:
                continue
            if key.startswith(prefix):
                yield PendingUpload(key, keyfile.stem, datetime.fromtimestamp(started, UTC))

    # --- access ------------------------------------------------------------------------------------
    def download_url(self, key: str, *, ttl: int, filename: str, content_type: str, base_url: str) -> str:
        return self.signer.url(check_key(key), ttl=ttl, filename=filename, content_type=content_type, base_url=base_url)

    @contextlib.contextmanager
    def readable(self, key: str) -> Iterator[str]:
        yield str(self.path(key))
