"""Media in memory, for unit tests: the same behaviour as the local backend, no disk."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mediaenhancer_core.errors import StorageError
from mediaenhancer_core.storage.base import READ_CHUNK, ObjectInfo, PartWriter, PendingUpload, Storage, check_key
from mediaenhancer_core.storage.signing import UrlSigner

__all__ = ["MemoryStorage"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Upload:
    key: str
    data: bytearray = field(default_factory=bytearray)
    started: datetime = field(default_factory=utcnow)


class _MemoryPartWriter(PartWriter):
    def __init__(self, upload: _Upload, offset: int, lock: threading.Lock) -> None:
        self._upload, self.offset, self._lock = upload, offset, lock
        with lock:
            del upload.data[offset:]

    def write(self, data: bytes) -> None:
        with self._lock:
            self._upload.data += data

    def commit(self, *, final: bool) -> int:
        self.offset = len(self._upload.data)
        return self.offset

    def discard(self) -> int:
        return self.commit(final=False)


class MemoryStorage(Storage):
    backend = "memory"

    def __init__(self, signer: UrlSigner | None = None) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self.uploads: dict[str, _Upload] = {}
        self.signer = signer or UrlSigner(b"memory-storage-signing-key")
        self.available = True
        self._lock = threading.Lock()

    def check(self) -> None:
        if not self.available:
            from mediaenhancer_core.errors import StorageUnavailableError  # noqa: PLC0415

            raise StorageUnavailableError("memory storage switched off by the test")

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self.check()
        with self._lock:
            self.objects[check_key(key)] = (bytes(data), utcnow())

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            data = self.objects[key][0]
        except KeyError:
            raise StorageError(f"object {key} is missing") from None
        end = len(data) if length is None else min(len(data), start + length)
        return (data[i : min(i + READ_CHUNK, end)] for i in range(start, end, READ_CHUNK))

    def size(self, key: str) -> int | None:
        entry = self.objects.get(key)
        return None if entry is None else len(entry[0])

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            items = list(self.objects.items())
        return (ObjectInfo(k, len(v[0]), v[1]) for k, v in items if k.startswith(prefix))

    def _get(self, upload_id: str) -> _Upload:
        try:
            return self.uploads[upload_id]
        except KeyError:
            raise StorageError(f"upload {upload_id} is gone (completed, aborted or reaped)") from None

    def start_upload(self, key: str, *, content_type: str) -> str:
        self.check()
        upload_id = uuid.uuid4().hex
        with self._lock:
            self.uploads[upload_id] = _Upload(check_key(key))
        return upload_id

    def upload_offset(self, key: str, upload_id: str, *, part_size: int) -> int:
        return len(self._get(upload_id).data)

    def part_writer(
        self, key: str, upload_id: str, *, offset: int, part_size: int, total_size: int | None
    ) -> PartWriter:
        self.check()
        return _MemoryPartWriter(self._get(upload_id), offset, self._lock)

    def complete_upload(self, key: str, upload_id: str, *, part_size: int) -> int:
        with self._lock:
            upload = self.uploads.pop(upload_id, None)
            if upload is None:
                raise StorageError(f"upload {upload_id} is gone (completed, aborted or reaped)")
            self.objects[key] = (bytes(upload.data), utcnow())
            return len(upload.data)

    def abort_upload(self, key: str, upload_id: str) -> None:
        with self._lock:
            self.uploads.pop(upload_id, None)

    def list_uploads(self, prefix: str = "") -> Iterator[PendingUpload]:
        with self._lock:
            items = list(self.uploads.items())
        return (PendingUpload(u.key, uid, u.started) for uid, u in items if u.key.startswith(prefix))

    def download_url(self, key: str, *, ttl: int, filename: str, content_type: str, base_url: str) -> str:
        return self.signer.url(key, ttl=ttl, filename=filename, content_type=content_type, base_url=base_url)

    @contextlib.contextmanager
    def readable(self, key: str) -> Iterator[str]:
        with super().readable(key) as path:
            yield path
