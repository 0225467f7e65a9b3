"""Receiving an upload's bytes: the protocol and its compensating cleanup, in one place.

A front end (the server) reads the request body and hands the receivers what it read; the
receivers decide what becomes of the upload when the body ends early or is refused:

- :class:`FormReceiver` (one ``multipart/form-data`` request): the file part's start creates the
  upload and reserves its space, its bytes are written, its end commits them; if anything fails
  before the end, what was written is discarded and the upload row removed, so nothing is left
  half-made (what a crash leaves, the reaper removes).
- :class:`ChunkReceiver` (a resumable ``PATCH`` from ``Upload-Offset``): on refused content (not
  media, empty, too large) the upload cannot succeed and is removed; on any other failure (a
  storage error, a dropped connection) only this request's bytes are discarded, and the client
  resumes from the offset the upload reports.

Every method is blocking (storage and database calls): call them off the event loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from mediaenhancer_core.db.models import MediaFile
from mediaenhancer_core.errors import EmptyInputError, NotMediaError, PayloadTooLargeError
from mediaenhancer_core.library.uploads import ChunkWriter, UploadInfo, Uploads

__all__ = ["FormReceiver", "ChunkReceiver", "REFUSED_CONTENT"]

log = logging.getLogger("mediaenhancer.uploads")

# the content itself is refused: the upload cannot succeed, whatever the client sends next
REFUSED_CONTENT = (NotMediaError, EmptyInputError, PayloadTooLargeError)


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - cleanup after a failure: the reaper covers what is left
        log.warning("upload cleanup failed (%s); the reaper will remove what is left", exc.__class__.__name__)


class FormReceiver:
    """One file sent in a multipart form: start → write… → end → finish, or abort."""

    def __init__(self, uploads: Uploads, user_id: uuid.UUID, *, reserve: int) -> None:
        self.uploads, self.user_id, self.reserve = uploads, user_id, reserve
        self.info: UploadInfo | None = None
        self.writer: ChunkWriter | None = None
        self.ended = False

    def check_fits(self) -> None:
        """Refuse (402) before a byte is read when the reservation would not fit the plan."""
        self.uploads.check_fits(self.user_id, self.reserve)

    def start(self, filename: str | None, content_type: str | None) -> None:
        self.info = self.uploads.create(
            self.user_id, filename=filename, reserve=self.reserve, content_type=content_type
        )
        self.writer = self.uploads.open_writer(self.user_id, self.info.media_id, offset=0)

    def write(self, chunks: list[bytes]) -> None:
        if self.writer is None:
            raise RuntimeError("write before start")
        self.writer.write_many(chunks)

    def end(self) -> None:
        if self.writer is None:
            raise RuntimeError("end before start")
        self.writer.commit()
        self.ended = True

    def abort(self) -> None:
        """The body failed or ended early: nothing of this upload stays."""
        if self.writer is not None and not self.ended:
            _quietly(self.writer.discard)
        if self.info is not None:
            _quietly(self.uploads.cancel, self.user_id, self.info.media_id)

    def finish(self) -> MediaFile:
        if self.info is None:
            raise EmptyInputError("the form holds no file part")
        return self.uploads.finish(
            self.user_id, self.info.media_id, window=self.writer.window if self.writer is not None else None
        )


class ChunkReceiver:
    """The bytes of one resumable PATCH: write… → commit (→ finish when complete), or fail."""

    def __init__(
        self, uploads: Uploads, user_id: uuid.UUID, media_id: uuid.UUID, *, offset: int, length: int | None
    ) -> None:
        self.uploads, self.user_id, self.media_id = uploads, user_id, media_id
        self.writer = uploads.open_writer(user_id, media_id, offset=offset, length=length)
        self.offset = offset

    def write(self, chunks: list[bytes]) -> None:
        self.writer.write_many(chunks)

    def commit(self) -> int:
        self.offset = self.writer.commit()
        return self.offset

    @property
    def size(self) -> int | None:
        return self.writer.size

    @property
    def complete(self) -> bool:
        return self.writer.size is not None and self.offset == self.writer.size

    def fail(self, exc: BaseException) -> None:
        """Undo this request; remove the whole upload only when its content was refused."""
        _quietly(self.writer.discard)
        if isinstance(exc, REFUSED_CONTENT):
            _quietly(self.uploads.cancel, self.user_id, self.media_id)

    def finish(self) -> MediaFile:
        return self.uploads.finish(self.user_id, self.media_id, window=self.writer.window)
