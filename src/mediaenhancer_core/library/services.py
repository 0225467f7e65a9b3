"""The media library's services wired together from settings (held by :class:`~.services.Core`).

    lib = MediaServices.open(settings, db, clock=utcnow)
    lib.uploads.create(...); lib.media.list(...); lib.projects.create(...); lib.reaper.reap(...)

The storage backend is built from settings unless one is passed (tests pass a
:class:`~.storage.MemoryStorage` or an S3 storage on a local test server); ffmpeg is
located on first use, with the PATH the front end passes in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mediaenhancer_core.db import Database
from mediaenhancer_core.engine.ffmpeg import FFmpegTools, locate_ffmpeg
from mediaenhancer_core.library.media import MediaLibrary
from mediaenhancer_core.library.projects import Projects
from mediaenhancer_core.library.reaper import Reaper
from mediaenhancer_core.library.uploads import Uploads
from mediaenhancer_core.settings import Settings
from mediaenhancer_core.storage import Storage, open_storage

__all__ = ["MediaServices"]


@dataclass
class MediaServices:
    storage: Storage
    media: MediaLibrary
    uploads: Uploads
    projects: Projects
    reaper: Reaper
    _locate: Callable[[], FFmpegTools] | None = None

    def tools(self) -> FFmpegTools:
        """The ffmpeg in use (located on first use)."""
        if self._locate is None:  # pragma: no cover - open() always sets it
            raise RuntimeError("MediaServices was not opened with open()")
        return self._locate()

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database,
        *,
        clock: Callable[[], datetime],
        storage: Storage | None = None,
        path_env: str | None = None,
    ) -> MediaServices:
        storage = storage or open_storage(settings, clock=lambda: clock().timestamp())
        found: list[FFmpegTools] = []
        lock = threading.Lock()

        def tools() -> FFmpegTools:
            with lock:
                if not found:
                    found.append(
                        locate_ffmpeg(
                            settings.ffmpeg,
                            settings.ffprobe,
                            path_env=path_env,
                            threads=settings.ffmpeg_threads,
                            cache_dir=settings.cache_dir,
                        )
                    )
                return found[0]

        return cls(
            storage=storage,
            media=MediaLibrary(db, storage, settings, clock=clock),
            uploads=Uploads(db, storage, settings, clock=clock, tools=tools),
            projects=Projects(db, clock=clock),
            reaper=Reaper(db, storage, clock=clock),
            _locate=tools,
        )

    def close(self) -> None:
        self.storage.close()
