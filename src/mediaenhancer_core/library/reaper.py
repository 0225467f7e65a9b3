"""Removing what interrupted uploads and deletes left behind.

Uploads write their media row (status ``uploading``) before any byte reaches storage,
and delete it last when they fail, so after a crash one of these is left:

- a row ``uploading`` or ``processing`` nobody continued, or ``deleting`` that did not
  finish, untouched for ``upload_stale_seconds``: its upload is aborted, its object and
  thumbnail deleted, then the row (which frees its reserved storage);
- an object of the library whose media row does not exist (the row's deletion ran but
  the object's did not), older than that age: deleted;
- a started upload (S3 multipart upload, local staging file) that no row refers to,
  older than that age: aborted.

Run by ``mediaenhancer-server storage reap`` and, every ``storage_reap_interval_seconds``,
by the server itself. Reaping twice changes nothing; several servers may reap at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select

from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import MediaFile
from mediaenhancer_core.errors import StorageError
from mediaenhancer_core.storage import Storage
from mediaenhancer_core.storage.keys import MEDIA_PREFIX, media_id_of, thumbnail_key

__all__ = ["Reaper", "ReapReport"]

log = logging.getLogger("mediaenhancer.reaper")
STALE_STATUSES = ("uploading", "processing", "deleting")


@dataclass
class ReapReport:
    stale_rows: int = 0
    orphan_objects: int = 0
    orphan_uploads: int = 0
    freed_bytes: int = 0
    expired_throttle_rows: int = 0  # sign-in, sign-up and device-code counters whose window ended (issue 15)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reaper:
    def __init__(self, db: Database, storage: Storage, *, clock: Callable[[], datetime]) -> None:
        self.db, self.storage, self.clock = db, storage, clock

    def _existing(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, MediaFile]:
        wanted = list(set(ids))
        found: dict[uuid.UUID, MediaFile] = {}
        with self.db.session() as session:
            for i in range(0, len(wanted), 500):
                for row in session.scalars(select(MediaFile).where(MediaFile.id.in_(wanted[i : i + 500]))):
                    found[row.id] = row
        return found

    def reap(self, *, older_than: timedelta) -> ReapReport:
        cutoff = self.clock() - older_than
        report = ReapReport()
        self._stale_rows(cutoff, report)
        self._orphan_objects(cutoff, report)
        self._orphan_uploads(cutoff, report)
        if report.stale_rows or report.orphan_objects or report.orphan_uploads:
            log.info("reaped storage", extra={"reap": report.to_dict()})
        return report

    def _stale_rows(self, cutoff: datetime, report: ReapReport) -> None:
        with self.db.session() as session:
            rows = list(
                session.scalars(
                    select(MediaFile)
                    .where(MediaFile.status.in_(STALE_STATUSES), MediaFile.updated_at < cutoff)
                    .limit(1000)
                )
            )
        for row in rows:
            upload = (row.media_metadata or {}).get("upload")
            try:
                if isinstance(upload, dict) and upload.get("id"):
                    self.storage.abort_upload(row.storage_key, upload["id"])
                self.storage.delete(row.storage_key)
                self.storage.delete(thumbnail_key(row.user_id, row.id))
            except StorageError as exc:
                report.errors.append(f"media {row.id}: {exc.message}")
                continue
            with self.db.session() as session:
                gone = cast(
                    CursorResult[Any],
                    session.execute(
                        delete(MediaFile).where(
                            MediaFile.id == row.id, MediaFile.status.in_(STALE_STATUSES), MediaFile.updated_at < cutoff
                        )
                    ),
                ).rowcount
            if gone:
                report.stale_rows += 1
                report.freed_bytes += row.file_size

    def _orphan_objects(self, cutoff: datetime, report: ReapReport) -> None:
        candidates = [o for o in self.storage.list_objects(MEDIA_PREFIX) if o.modified < cutoff]
        ids = {media_id_of(o.key) for o in candidates} - {None}
        rows = self._existing(i for i in ids if i is not None)
        for obj in candidates:
            media_id = media_id_of(obj.key)
            row = rows.get(media_id) if media_id else None
            if row is not None and obj.key in (row.storage_key, row.thumbnail_key, thumbnail_key(row.user_id, row.id)):
                continue
            try:
                self.storage.delete(obj.key)
                report.orphan_objects += 1
            except StorageError as exc:
                report.errors.append(f"{obj.key}: {exc.message}")

    def _orphan_uploads(self, cutoff: datetime, report: ReapReport) -> None:
        candidates = [u for u in self.storage.list_uploads(MEDIA_PREFIX) if u.started < cutoff]
        rows = self._existing(i for i in (media_id_of(u.key) for u in candidates) if i is not None)
        for upload in candidates:
            media_id = media_id_of(upload.key)
            row = rows.get(media_id) if media_id else None
            meta = (row.media_metadata or {}).get("upload") if row is not None and row.status == "uploading" else None
            if isinstance(meta, dict) and meta.get("id") == upload.upload_id:
                continue  # its row is there; _stale_rows decides by the row's age
            try:
                self.storage.abort_upload(upload.key, upload.upload_id)
                report.orphan_uploads += 1
            except StorageError as exc:
                report.errors.append(f"upload {upload.upload_id}: {exc.message}")
