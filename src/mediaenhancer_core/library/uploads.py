"""Uploading media: quota reserved first, bytes streamed to storage in parts, content identified.

One upload, whatever the transport (a multipart/form-data POST or a resumable upload in
chunks)::

    info = uploads.create(user_id, filename="talk.mp4", size=n)      # 402 when it does not fit
    writer = uploads.open_writer(user_id, info.media_id, offset=0)   # 409 at the wrong offset
    writer.write(chunk) ...                                          # 415 when the first bytes are no media
    offset = writer.commit()                                         # or writer.discard() when cut off
    media = uploads.finish(user_id, info.media_id, window=writer.window)  # probe, thumbnail, "ready"

On a remote store the probe reads the first and last bytes that went through the writer
(:mod:`.bytewindow`) instead of the stored object, when one request carried the whole file
and ffprobe needed nothing else; otherwise it reads the object back, as it always could.

Order of writes, so that a crash anywhere leaves nothing the reaper cannot find: the media
row (status ``uploading``, ``file_size`` = the reserved bytes) is committed before storage
is touched; the object appears only when the upload completes; the row turns ``ready``
last. Any failure after the reservation removes the object, the parts and the row (so the
quota is free again); if even that fails (database down, process killed), the reaper
(:mod:`.reaper`) removes what is left once it is older than ``upload_stale_seconds``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import mimetypes
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import MediaFile, UsageEvent
from mediaenhancer_core.engine.ffmpeg import FFmpegTools
from mediaenhancer_core.engine.sniff import Sniffer, sniff_reader
from mediaenhancer_core.errors import (
    ConflictError,
    DatabaseError,
    EmptyInputError,
    LengthRequiredError,
    MediaEnhancerError,
    NotFoundError,
    NotMediaError,
    PayloadTooLargeError,
    RenderError,
    StorageError,
    UploadOffsetError,
    ValidationError,
)
from mediaenhancer_core.jsonbody import check_text
from mediaenhancer_core.library.bytewindow import ByteWindow, WindowCollector
from mediaenhancer_core.library.identify import MediaFacts, identify, identify_window, thumbnail_jpeg
from mediaenhancer_core.plans import quotas
from mediaenhancer_core.settings import Settings
from mediaenhancer_core.storage import PartWriter, Storage
from mediaenhancer_core.storage.keys import original_key, thumbnail_key

__all__ = ["Uploads", "UploadInfo", "ChunkWriter", "clean_filename", "SNIFF_BYTES", "MAX_PARTS"]

log = logging.getLogger("mediaenhancer.uploads")

SNIFF_BYTES = 512
NOT_MEDIA = (
    "the uploaded file is not audio, video or an image (its first bytes match no media format, whatever "
    "its name says); upload a media file"
)
MAX_PARTS = 10_000  # S3's limit on parts per upload
MiB = 1024 * 1024


def clean_filename(raw: str | None) -> str:
    """A display name: the last path segment, no control characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".") or "upload"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


@dataclass
class UploadInfo:
    media_id: uuid.UUID
    filename: str
    status: str
    offset: int
    size: int | None  # None: not declared (a multipart POST); the reservation is then an upper bound
    reserved_bytes: int
    part_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.media_id),
            "filename": self.filename,
            "status": self.status,
            "offset": self.offset,
            "size": self.size,
            "reserved_bytes": self.reserved_bytes,
            "part_size": self.part_size,
        }


class ChunkWriter:
    """One request's bytes of an upload: checks size and content, hashes, stores in parts."""

    def __init__(
        self,
        uploads: Uploads,
        media_id: uuid.UUID,
        part_writer: PartWriter,
        *,
        offset: int,
        size: int | None,
        limit: int,
        hasher: Any,
    ) -> None:
        self._uploads, self.media_id, self._pw = uploads, media_id, part_writer
        self.start, self.size, self.limit = offset, size, limit
        self.received = 0
        self._hasher = hasher
        self._sniffer: Sniffer | None = Sniffer() if offset == 0 else None
        self.family: str | None = None
        self._collector = WindowCollector() if offset == 0 and uploads.storage.remote else None
        self.window: ByteWindow | None = None  # set by commit when this request carried the whole file

    @property
    def position(self) -> int:
        return self.start + self.received

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.position + len(data) > self.limit:
            declared = "declared" if self.size is not None else "announced in Content-Length"
            raise PayloadTooLargeError(f"the upload is larger than the {self.limit} bytes it {declared}")
        if self._sniffer is not None and self._sniffer.feed(data):
            self._sniff(empty=False)
        if self._hasher is not None:
            self._hasher.update(data)
        if self._collector is not None:
            self._collector.add(data)
        self.received += len(data)
        self._pw.write(data)

    def write_many(self, chunks: Iterable[bytes]) -> None:
        """``write`` each chunk in turn (one thread hop for many small chunks)."""
        for chunk in chunks:
            self.write(chunk)

    def _sniff(self, *, empty: bool) -> None:
        """The first bytes decided (or the file ended): refuse what is not media."""
        assert self._sniffer is not None
        if empty:
            raise EmptyInputError("the uploaded file is empty (0 bytes); upload a media file")
        self.family = self._sniffer.finish()
        self._sniffer = None
        if self.family is None:
            raise NotMediaError(NOT_MEDIA)

    @property
    def complete(self) -> bool:
        return self.size is None or self.position == self.size

    def commit(self) -> int:
        """All of this request's bytes arrived: store them. Returns the durable offset."""
        if self._sniffer is not None and (self.complete or self.position == 0):
            self._sniff(empty=self.position == 0)  # the file ended before its first bytes were judged
        offset = self._pw.commit(final=self.complete)
        if self._collector is not None and self.complete and offset == self.position:
            self.window = self._collector.window()
        self._collector = None
        self._uploads._remember_hash(self.media_id, offset if offset == self.position else -1, self._hasher)
        if self.family is not None:
            self._uploads._remember_family(self.media_id, self.family)
        return offset

    def discard(self) -> int:
        """The request broke off: keep what storage holds durably."""
        offset = self._pw.discard()
        self._uploads._remember_hash(self.media_id, -1, None)
        return offset


class Uploads:
    def __init__(
        self,
        db: Database,
        storage: Storage,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        tools: Callable[[], FFmpegTools],
    ) -> None:
        self.db, self.storage, self.settings, self.clock = db, storage, settings, clock
        self._tools = tools
        self._hashes: dict[uuid.UUID, tuple[int, Any]] = {}
        self._families: dict[uuid.UUID, str] = {}
        self._lock = threading.Lock()

    # --- hashing across the requests of one process ---------------------------------------------
    def _remember_hash(self, media_id: uuid.UUID, offset: int, hasher: Any) -> None:
        with self._lock:
            if offset < 0 or hasher is None:
                self._hashes.pop(media_id, None)
            else:
                self._hashes[media_id] = (offset, hasher)
                while len(self._hashes) > 1000:
                    self._hashes.pop(next(iter(self._hashes)))

    def _remember_family(self, media_id: uuid.UUID, family: str) -> None:
        with self._lock:
            self._families[media_id] = family
            while len(self._families) > 1000:
                self._families.pop(next(iter(self._families)))

    def _family(self, media_id: uuid.UUID, key: str, size: int) -> str | None:
        """What the first bytes were sniffed as (read back when another process received them, or
        when the request that carried them ended inside a long ID3 tag)."""
        with self._lock:
            known = self._families.pop(media_id, None)

        def read(offset: int, length: int) -> bytes:
            length = min(length, size - offset)
            return b"".join(self.storage.read(key, offset, length)) if length > 0 else b""

        return known or sniff_reader(read)

    def _hasher_at(self, media_id: uuid.UUID, offset: int) -> Any:
        if offset == 0:
            return hashlib.sha256()
        with self._lock:
            known = self._hashes.get(media_id)
        return known[1] if known is not None and known[0] == offset else None

    # --- helpers ----------------------------------------------------------------------------------------
    def part_size_for(self, nbytes: int) -> int:
        need = math.ceil(nbytes / MAX_PARTS / MiB) * MiB
        return max(self.settings.upload_part_bytes, need)

    @staticmethod
    def _load(session: Session, user_id: uuid.UUID, media_id: uuid.UUID, *, lock: bool = False) -> MediaFile:
        query = select(MediaFile).where(MediaFile.id == media_id, MediaFile.user_id == user_id)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise NotFoundError("no such media")
        return row

    @staticmethod
    def _upload_meta(row: MediaFile) -> dict[str, Any]:
        meta = (row.media_metadata or {}).get("upload")
        if row.status != "uploading" or not isinstance(meta, dict):
            raise ConflictError(f"media {row.id} is not being uploaded (status {row.status})")
        return meta

    def _info(self, row: MediaFile, offset: int) -> UploadInfo:
        meta = (row.media_metadata or {}).get("upload") or {}
        return UploadInfo(
            row.id,
            row.filename,
            row.status,
            offset,
            meta.get("size"),
            row.file_size,
            int(meta.get("part_size") or self.settings.upload_part_bytes),
        )

    # --- the steps ---------------------------------------------------------------------------------------
    def create(
        self,
        user_id: uuid.UUID,
        *,
        filename: str | None,
        size: int | None = None,
        reserve: int | None = None,
        content_type: str | None = None,
        checksum_sha256: str | None = None,
        source_media_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
    ) -> UploadInfo:
        """Reserve storage and start an upload. ``size``: the file's exact size (resumable uploads);
        ``reserve``: an upper bound when the size is not known yet (a multipart body's Content-Length)."""
        nbytes = size if size is not None else reserve
        if nbytes is None:
            raise LengthRequiredError("send Content-Length (or the size of the file) so storage can be reserved")
        if nbytes < 0:
            raise ValidationError("size: must be 0 or more", field="size")
        if size == 0:
            raise EmptyInputError("the file is empty (0 bytes); upload a media file")
        limit = self.settings.max_upload_bytes
        if nbytes > limit:
            raise PayloadTooLargeError(
                f"the file is {quotas.human_bytes(nbytes)} and this server accepts uploads up to "
                f"{quotas.human_bytes(limit)} ({limit} bytes)"
            )
        if checksum_sha256 is not None and (
            len(checksum_sha256) != 64 or any(c not in "0123456789abcdef" for c in checksum_sha256.lower())
        ):
            raise ValidationError("checksum_sha256: give 64 hexadecimal digits", field="checksum_sha256")
        if filename is not None:
            check_text(filename, "filename")  # NUL or a lone surrogate: 422 here, not a database error
        if content_type is not None:
            check_text(content_type, "content_type")
        name = clean_filename(filename)
        guessed = (content_type or mimetypes.guess_type(name)[0] or "").split("/")[0]
        media_id = uuid.uuid4()
        key = original_key(user_id, media_id)
        part_size = self.part_size_for(nbytes)
        meta = {
            "id": None,
            "size": size,
            "part_size": part_size,
            "checksum_sha256": checksum_sha256.lower() if checksum_sha256 else None,
            "job_id": str(job_id) if job_id else None,
        }
        with self.db.session() as session:
            quotas.lock_user(session, user_id)
            quotas.reserve_storage(session, user_id, nbytes, quotas.effective_limits(session, user_id))
            session.add(
                MediaFile(
                    id=media_id,
                    user_id=user_id,
                    filename=name,
                    original_filename=(filename or name)[:255],
                    file_type=guessed if guessed in ("video", "audio", "image") else "video",
                    mime_type="application/octet-stream",
                    file_size=nbytes,
                    storage_key=key,
                    status="uploading",
                    media_metadata={"upload": meta},
                    source_media_id=source_media_id,
                )
            )
        try:
            upload_id = self.storage.start_upload(key, content_type="application/octet-stream")
        except BaseException:
            self._delete_row(media_id)
            raise
        try:
            with self.db.session() as session:
                row = self._load(session, user_id, media_id)
                row.media_metadata = {"upload": {**meta, "id": upload_id}}
                return self._info(row, 0)
        except BaseException:
            with contextlib.suppress(Exception):
                self.storage.abort_upload(key, upload_id)
            self._delete_row(media_id)
            raise

    def check_fits(self, user_id: uuid.UUID, nbytes: int) -> None:
        """Refuse early, before a request body is read, when ``nbytes`` cannot fit (not a reservation:
        :meth:`create` decides again under the user's lock)."""
        if nbytes > self.settings.max_upload_bytes:
            raise PayloadTooLargeError(
                f"the file is {nbytes} bytes and this server accepts uploads up to "
                f"{self.settings.max_upload_bytes} bytes"
            )
        with self.db.session() as session:
            quotas.reserve_storage(session, user_id, nbytes, quotas.effective_limits(session, user_id))

    def status(self, user_id: uuid.UUID, media_id: uuid.UUID) -> UploadInfo:
        with self.db.session() as session:
            row = self._load(session, user_id, media_id)
        if row.status != "uploading":
            return self._info(row, row.file_size)
        meta = self._upload_meta(row)
        offset = (
            self.storage.upload_offset(row.storage_key, meta["id"], part_size=meta["part_size"]) if meta["id"] else 0
        )
        return self._info(row, offset)

    def open_writer(
        self, user_id: uuid.UUID, media_id: uuid.UUID, *, offset: int, length: int | None = None
    ) -> ChunkWriter:
        """A writer for the next bytes, which must start where storage stands."""
        with self.db.session() as session:
            row = self._load(session, user_id, media_id)
            meta = self._upload_meta(row)
            row.updated_at = self.clock()  # keeps the reaper away while bytes arrive
        current = self.storage.upload_offset(row.storage_key, meta["id"], part_size=meta["part_size"])
        if offset != current:
            raise UploadOffsetError(
                f"this upload continues at byte {current}, not {offset}; send the file from there", offset=current
            )
        limit = meta["size"] if meta["size"] is not None else row.file_size
        if length is not None and offset + length > limit:
            raise PayloadTooLargeError(f"{offset} + {length} bytes is more than the {limit} bytes this upload declared")
        writer = self.storage.part_writer(
            row.storage_key, meta["id"], offset=offset, part_size=meta["part_size"], total_size=meta["size"]
        )
        return ChunkWriter(
            self,
            media_id,
            writer,
            offset=offset,
            size=meta["size"],
            limit=limit,
            hasher=self._hasher_at(media_id, offset),
        )

    def finish(self, user_id: uuid.UUID, media_id: uuid.UUID, *, window: ByteWindow | None = None) -> MediaFile:
        """Complete the stored object, identify it, make the thumbnail, and mark it ready. Any
        refusal (not media, too long for the plan, checksum mismatch) removes it all. ``window``
        (a :class:`ChunkWriter`'s, when one request carried the whole file) lets it be identified
        from the bytes that went through, not read back from a remote store."""
        with self.db.session() as session:
            row = self._load(session, user_id, media_id)
            if row.status == "ready":
                return row
            meta = self._upload_meta(row)
        key, upload_id, part_size = row.storage_key, meta["id"], meta["part_size"]
        if meta["size"] is not None:
            stored = self.storage.upload_offset(key, upload_id, part_size=part_size)
            if stored != meta["size"]:
                raise UploadOffsetError(
                    f"the upload is incomplete: {stored} of {meta['size']} bytes arrived; "
                    f"send the rest from byte {stored}",
                    offset=stored,
                )
        try:
            return self._finish(user_id, row, meta, window)
        except SQLAlchemyError as exc:
            self.discard(user_id, media_id, key=key, upload_id=upload_id)
            raise DatabaseError(
                f"the database failed while finishing the upload ({exc.__class__.__name__}); "
                "nothing was kept, upload the file again"
            ) from None
        except BaseException:
            self.discard(user_id, media_id, key=key, upload_id=upload_id)
            raise

    def _finish(self, user_id: uuid.UUID, row: MediaFile, meta: dict[str, Any], window: ByteWindow | None) -> MediaFile:
        key = row.storage_key
        size = self.storage.complete_upload(key, meta["id"], part_size=meta["part_size"])
        with self.db.session() as session:
            current = self._load(session, user_id, row.id)
            current.status, current.file_size = "processing", size
        checksum = self._checksum(row.id, key, size)
        if meta.get("checksum_sha256") and meta["checksum_sha256"] != checksum:
            raise ValidationError(
                "checksum_sha256: the file that arrived differs from the one you declared; upload it again",
                field="checksum_sha256",
            )
        family = self._family(row.id, key, size)
        if family is None:  # judged here when the first request ended inside a long ID3 tag
            raise NotMediaError(NOT_MEDIA)
        tools = self._tools()
        name = f"'{row.filename}'"
        usable = window is not None and window.size == size  # the bytes that went through are the object
        facts = identify_window(window, tools, family=family, name=name) if usable and window else None
        if facts is not None:
            self._check_duration(user_id, facts)
        thumb: bytes | None = None
        if facts is None or facts.file_type in ("video", "image"):
            with self.storage.readable(key) as source:
                if facts is None:
                    facts = identify(source, tools, family=family, name=name)
                    self._check_duration(user_id, facts)
                if facts.file_type in ("video", "image"):
                    try:
                        thumb = thumbnail_jpeg(
                            source, tools, facts, width=self.settings.thumbnail_width, temp_dir=self.settings.temp_dir
                        )
                    except RenderError as exc:
                        log.warning("no thumbnail for media %s: %s", row.id, exc.message)
        thumb_key = None
        if thumb:
            thumb_key = thumbnail_key(user_id, row.id)
            self.storage.put_bytes(thumb_key, thumb, content_type="image/jpeg")
        with self.db.session() as session:
            current = self._load(session, user_id, row.id)
            self._apply(current, facts, checksum, thumb_key, family)
            session.add(
                UsageEvent(
                    user_id=user_id,
                    kind="storage_added",
                    quantity=size,
                    media_id=row.id,
                    details={"file_type": facts.file_type},
                )
            )
            session.flush()
            return current

    def _check_duration(self, user_id: uuid.UUID, facts: MediaFacts) -> None:
        with self.db.session() as session:
            quotas.check_media_duration(session, quotas.effective_limits(session, user_id), facts.duration)

    @staticmethod
    def _apply(row: MediaFile, facts: MediaFacts, checksum: str, thumb_key: str | None, family: str | None) -> None:
        row.status = "ready"
        row.file_type, row.mime_type, row.duration = facts.file_type, facts.mime_type, facts.duration
        row.width, row.height = facts.width, facts.height
        row.video_codec, row.audio_codec = facts.video_codec, facts.audio_codec
        row.checksum_sha256, row.thumbnail_key = checksum, thumb_key
        job = (row.media_metadata or {}).get("upload", {}).get("job_id")
        row.media_metadata = {**facts.details, "container": family, **({"job_id": job} if job else {})}

    def _checksum(self, media_id: uuid.UUID, key: str, size: int) -> str:
        with self._lock:
            known = self._hashes.pop(media_id, None)
        if known is not None and known[0] == size:
            return str(known[1].hexdigest())
        hasher = hashlib.sha256()  # resumed in another process or after a break: read it back
        for chunk in self.storage.read(key):
            hasher.update(chunk)
        return hasher.hexdigest()

    def cancel(self, user_id: uuid.UUID, media_id: uuid.UUID) -> None:
        """Stop an upload: its parts and its row go, and the reserved storage is free again."""
        with self.db.session() as session:
            row = self._load(session, user_id, media_id)
            meta = self._upload_meta(row)
        self.discard(user_id, media_id, key=row.storage_key, upload_id=meta.get("id"))

    def discard(self, user_id: uuid.UUID, media_id: uuid.UUID, *, key: str, upload_id: str | None) -> None:
        """Best effort removal of everything an upload left (the reaper retries what fails)."""
        self._remember_hash(media_id, -1, None)
        for action in (
            (lambda: self.storage.abort_upload(key, upload_id)) if upload_id else None,
            lambda: self.storage.delete(key),
            lambda: self.storage.delete(thumbnail_key(user_id, media_id)),
        ):
            if action is None:
                continue
            try:
                action()
            except StorageError as exc:
                log.warning("cleanup of media %s left storage behind for the reaper: %s", media_id, exc.message)
        self._delete_row(media_id)

    def _delete_row(self, media_id: uuid.UUID) -> None:
        try:
            with self.db.session() as session:
                session.execute(delete(MediaFile).where(MediaFile.id == media_id))
        except MediaEnhancerError as exc:
            log.warning("media row %s left for the reaper: %s", media_id, exc.message)
        except Exception as exc:  # noqa: BLE001 - the database is down: the reaper removes the row later
            log.warning("media row %s left for the reaper (%s)", media_id, exc.__class__.__name__)
