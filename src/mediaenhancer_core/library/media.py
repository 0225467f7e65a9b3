"""The media library: a user's files, listed, described with signed URLs, and deleted.

Uploading is :mod:`.uploads`; this module reads and removes. Deleting marks the row
``deleting``, removes the object and its thumbnail, then the row (which frees its
storage); a storage failure leaves the row ``deleting`` and answers 503, and a retry or
the reaper finishes the job. Media used by a project cannot be deleted (409).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import asc, delete, desc, func, select
from sqlalchemy.orm import Session

from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import (
    MEDIA_STATUSES,
    MEDIA_TYPES,
    MediaFile,
    Project,
    ProjectMedia,
    UsageEvent,
)
from mediaenhancer_core.errors import ConflictError, NotFoundError, StorageError, ValidationError
from mediaenhancer_core.settings import Settings
from mediaenhancer_core.storage import Storage
from mediaenhancer_core.storage.keys import thumbnail_key

__all__ = ["MediaLibrary", "MediaPage", "SORTS"]

log = logging.getLogger("mediaenhancer.media")

SORTS = {
    "created_at": MediaFile.created_at,
    "filename": MediaFile.filename,
    "file_size": MediaFile.file_size,
    "duration": MediaFile.duration,
}
MAX_PER_PAGE = 200


@dataclass
class MediaPage:
    items: list[MediaFile]
    total: int
    page: int
    per_page: int


def ready_media(session: Session, user_id: uuid.UUID, media_id: uuid.UUID) -> MediaFile:
    """The user's media file, ready to be used (in a project, a job): 404 when it is not theirs or
    not there, 409 while it is still uploading or being processed."""
    row = session.scalar(select(MediaFile).where(MediaFile.id == media_id, MediaFile.user_id == user_id))
    if row is None:
        raise NotFoundError(f"no such media {media_id}")
    if row.status != "ready":
        raise ConflictError(f"media {media_id} is {row.status}, not ready; wait for its upload to finish")
    return row


class MediaLibrary:
    def __init__(self, db: Database, storage: Storage, settings: Settings, *, clock: Callable[[], datetime]) -> None:
        self.db, self.storage, self.settings, self.clock = db, storage, settings, clock

    def list(
        self,
        user_id: uuid.UUID,
        *,
        page: int = 1,
        per_page: int = 50,
        file_type: str | None = None,
        status: str | None = None,
        sort: str = "-created_at",
    ) -> MediaPage:
        if page < 1:
            raise ValidationError("page: must be 1 or more", field="page")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValidationError(f"per_page: must be 1 to {MAX_PER_PAGE}", field="per_page")
        if file_type is not None and file_type not in MEDIA_TYPES:
            raise ValidationError(f"type: use one of {', '.join(MEDIA_TYPES)}", field="type")
        if status is not None and status not in MEDIA_STATUSES:
            raise ValidationError(f"status: use one of {', '.join(MEDIA_STATUSES)}", field="status")
        column = SORTS.get(sort.lstrip("-"))
        if column is None:
            raise ValidationError(f"sort: use one of {', '.join(SORTS)}, with - for descending", field="sort")
        direction = desc if sort.startswith("-") else asc
        where = [MediaFile.user_id == user_id]
        if file_type:
            where.append(MediaFile.file_type == file_type)
        if status:
            where.append(MediaFile.status == status)
        with self.db.session() as session:
            total = int(session.scalar(select(func.count(MediaFile.id)).where(*where)) or 0)
            items = list(
                session.scalars(
                    select(MediaFile)
                    .where(*where)
                    .order_by(direction(column), direction(MediaFile.id))
                    .offset((page - 1) * per_page)
                    .limit(per_page)
                )
            )
        return MediaPage(items, total, page, per_page)

    def get(self, user_id: uuid.UUID, media_id: uuid.UUID) -> MediaFile:
        with self.db.session() as session:
            row = session.scalar(select(MediaFile).where(MediaFile.id == media_id, MediaFile.user_id == user_id))
        if row is None:
            raise NotFoundError("no such media")
        return row

    def find_by_checksum(self, user_id: uuid.UUID, checksum_sha256: str) -> MediaFile:
        """The user's newest ready media file with this content (SHA-256), so a client can reuse
        it instead of uploading (and counting) the same bytes again. Only the user's own files."""
        digest = checksum_sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValidationError("checksum_sha256: give 64 hexadecimal digits", field="checksum_sha256")
        with self.db.session() as session:
            row = session.scalar(
                select(MediaFile)
                .where(MediaFile.user_id == user_id, MediaFile.checksum_sha256 == digest, MediaFile.status == "ready")
                .order_by(desc(MediaFile.created_at), desc(MediaFile.id))
                .limit(1)
            )
        if row is None:
            raise NotFoundError("no media with this content")
        return row

    def urls(self, row: MediaFile, *, base_url: str) -> dict[str, Any]:
        """Signed download and thumbnail URLs of a ready file (None while it is not ready)."""
        if row.status != "ready":
            return {"download_url": None, "thumbnail_url": None, "urls_expire_at": None}
        ttl = self.settings.signed_url_ttl_seconds
        download = self.storage.download_url(
            row.storage_key, ttl=ttl, filename=row.filename, content_type=row.mime_type, base_url=base_url
        )
        thumb = None
        if row.thumbnail_key:
            stem = row.filename.rsplit(".", 1)[0]
            thumb = self.storage.download_url(
                row.thumbnail_key, ttl=ttl, filename=f"{stem}.jpg", content_type="image/jpeg", base_url=base_url
            )
        expires = (self.clock() + timedelta(seconds=ttl)).isoformat()
        return {"download_url": download, "thumbnail_url": thumb, "urls_expire_at": expires}

    @staticmethod
    def to_dict(row: MediaFile) -> dict[str, Any]:
        return {
            "id": str(row.id),
            "filename": row.filename,
            "original_filename": row.original_filename,
            "file_type": row.file_type,
            "mime_type": row.mime_type,
            "file_size": row.file_size,
            "duration": row.duration,
            "width": row.width,
            "height": row.height,
            "video_codec": row.video_codec,
            "audio_codec": row.audio_codec,
            "checksum_sha256": row.checksum_sha256,
            "status": row.status,
            "has_thumbnail": row.thumbnail_key is not None,
            "source_media_id": str(row.source_media_id) if row.source_media_id else None,
            "metadata": {k: v for k, v in (row.media_metadata or {}).items() if k != "upload"},
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
        }

    def delete(self, user_id: uuid.UUID, media_id: uuid.UUID) -> None:
        """Remove the object, its thumbnail and its row; frees the storage it used."""
        with self.db.session() as session:
            row = session.scalar(
                select(MediaFile).where(MediaFile.id == media_id, MediaFile.user_id == user_id).with_for_update()
            )
            if row is None:
                raise NotFoundError("no such media")
            used_by = session.scalars(
                select(Project.name)
                .join(ProjectMedia, ProjectMedia.project_id == Project.id)
                .where(ProjectMedia.media_id == media_id)
                .distinct()
                .limit(3)
            ).all()
            if used_by:
                raise ConflictError(
                    f"media {media_id} is used by the project(s) {', '.join(used_by)}; remove it from them first"
                )
            upload = (row.media_metadata or {}).get("upload") if row.status == "uploading" else None
            row.status = "deleting"
            key, size = row.storage_key, row.file_size
        try:
            if isinstance(upload, dict) and upload.get("id"):
                self.storage.abort_upload(key, upload["id"])
            self.storage.delete(key)
            self.storage.delete(thumbnail_key(user_id, media_id))
        except StorageError:
            log.warning("media %s stays 'deleting' until storage answers", media_id)
            raise
        with self.db.session() as session:
            session.execute(delete(MediaFile).where(MediaFile.id == media_id))
            session.add(
                UsageEvent(user_id=user_id, kind="storage_freed", quantity=size, details={"media_id": str(media_id)})
            )
