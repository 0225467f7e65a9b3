"""What the API admits as a job, and the exports and callback settings it shows.

The rules live here, not in the server: a job is admitted under the user's row lock, counting
the jobs in flight against the plan (:func:`..quotas.check_job_slots`); transcription needs a
plan with the AI features (:func:`..plans.require_ai`); an export also counts the exports in
flight against the monthly quota, and its ``exports`` row is written in the same transaction as
its job, so a crash leaves neither or both. The message to the queue goes out only after the
commit: it never names a row that is not there.

Callback URLs are checked by the caller (the server resolves their host on its event loop,
see ``check_callback_url``); this module only stores them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from mediaenhancer_core.db.models import Export, Job, MediaFile, Project, User
from mediaenhancer_core.db.types import utcnow
from mediaenhancer_core.errors import NotFoundError, ValidationError
from mediaenhancer_core.jobs.callbacks import SIGNATURE_HEADER
from mediaenhancer_core.jobs.service import JobView
from mediaenhancer_core.jobs.system import JobSystem
from mediaenhancer_core.library.media import ready_media
from mediaenhancer_core.plans import quotas
from mediaenhancer_core.plans.catalogue import require_ai
from mediaenhancer_core.plans.usage import export_period

__all__ = ["SIGNATURE_HEADER", "JobAdmission", "VIDEO_ONLY_TYPES", "EXPORT_PARAMS", "check_options"]

VIDEO_ONLY_TYPES = ("upscale", "colorgrade", "stabilize")
EXPORT_PARAMS = ("format", "resolution", "fps", "quality", "preset", "enhance")


def check_options(config_dir: Any, *, preset: str | None = None, language: str | None = None) -> None:
    """A request's preset must exist (built in or the server's own) and its language be a code."""
    if preset:
        from mediaenhancer_core.engine.presets import get_preset  # noqa: PLC0415
        from mediaenhancer_core.errors import MediaEnhancerError  # noqa: PLC0415

        try:
            get_preset(str(preset), config_dir)
        except MediaEnhancerError as exc:
            raise ValidationError(f"preset: {exc.message}", field="preset") from None
    if language is not None:
        from mediaenhancer_core.engine.subtitles import is_language_code  # noqa: PLC0415

        if not is_language_code(language):
            raise ValidationError(
                "options.language: use a language code such as en, de or pt-BR", field="options.language"
            )


class JobAdmission:
    """Admits enhancement and export jobs for a user, and shows their exports and callback settings."""

    def __init__(self, jobs: JobSystem, core: Any) -> None:
        self.jobs, self.core = jobs, core

    @property
    def _db(self) -> Any:
        return self.core.db

    def _callback(self, session: Any, user_id: uuid.UUID, given: str | None) -> str | None:
        """The request's URL, else the one the user registered (checked again at delivery)."""
        if given:
            return given
        user = session.get(User, user_id)
        return user.callback_url if user is not None else None

    # ---- admission ------------------------------------------------------------------------
    def enhance(
        self,
        user_id: uuid.UUID,
        media_id: uuid.UUID,
        job_type: str,
        params: dict[str, Any],
        *,
        callback_url: str | None = None,
    ) -> JobView:
        with self._db.session() as session:
            quotas.lock_user(session, user_id)
            quotas.check_job_slots(session, user_id)
            row = ready_media(session, user_id, media_id)
            if job_type == "transcribe":
                require_ai(session, user_id)
            if job_type in VIDEO_ONLY_TYPES and row.file_type != "video":
                raise ValidationError(f"type: {job_type} needs a video; this media is {row.file_type}", field="type")
            view = self.jobs.service.create(
                user_id,
                job_type,
                params=params,
                media_id=media_id,
                callback_url=self._callback(session, user_id, callback_url),
                max_attempts=self.core.settings.job_max_attempts,
                session=session,
            )
        self.jobs.enqueue(view.id)  # after the commit
        return view

    def export(
        self, user_id: uuid.UUID, project_id: uuid.UUID, request: Mapping[str, Any], *, callback_url: str | None = None
    ) -> tuple[uuid.UUID, JobView]:
        """Queue an export of a project; ``request`` holds the export's options (see EXPORT_PARAMS)."""
        with self._db.session() as session:
            project = session.scalar(select(Project).where(Project.id == project_id, Project.user_id == user_id))
            if project is None:
                raise NotFoundError("no such project")
            # admitted under the user's lock, counting the exports still in flight: concurrent
            # requests cannot all pass; a failed export frees its place
            quotas.lock_user(session, user_id)
            quotas.check_job_slots(session, user_id)
            quotas.check_export_quota(
                session,
                user_id,
                quotas.effective_limits(session, user_id),
                export_period(session, user_id, utcnow()),
                in_flight=True,
            )
            export = Export(
                user_id=user_id,
                project_id=project_id,
                format=request.get("format", "mp4"),
                resolution=request.get("resolution"),
                fps=request.get("fps"),
                quality=request.get("quality", "standard"),
                status="queued",
                progress=0,
            )
            session.add(export)
            session.flush()
            params = {"export_id": str(export.id), **{k: request[k] for k in EXPORT_PARAMS if k in request}}
            view = self.jobs.service.create(
                user_id,
                "export",
                params=params,
                project_id=project_id,
                callback_url=self._callback(session, user_id, callback_url),
                max_attempts=self.core.settings.job_max_attempts,
                session=session,
            )
            export.job_id = view.id
            export_id = export.id
        self.jobs.enqueue(view.id)
        return export_id, view

    # ---- exports ----------------------------------------------------------------------------
    def get_export(self, user_id: uuid.UUID, export_id: uuid.UUID, *, base_url: str) -> dict[str, Any]:
        with self._db.session() as session:
            exp = session.scalar(select(Export).where(Export.id == export_id, Export.user_id == user_id))
            if exp is None:
                raise NotFoundError("no such export")
        job = self.jobs.service.load(exp.job_id) if exp.job_id else None
        return self._export_view(user_id, exp, job, base_url=base_url)

    def list_exports(self, user_id: uuid.UUID, *, base_url: str, limit: int = 100) -> list[dict[str, Any]]:
        """Three queries whatever the number of exports: the exports, their jobs, their result files."""
        with self._db.session() as session:
            rows = list(
                session.scalars(
                    select(Export).where(Export.user_id == user_id).order_by(Export.created_at.desc()).limit(limit)
                )
            )
            job_ids = {e.job_id for e in rows if e.job_id}
            jobs = (
                {j.id: JobView.of(j) for j in session.scalars(select(Job).where(Job.id.in_(job_ids)))}
                if job_ids
                else {}
            )
            media_ids = {e.result_media_id for e in rows if e.status == "succeeded" and e.result_media_id}
            results = (
                {
                    m.id: m
                    for m in session.scalars(
                        select(MediaFile).where(MediaFile.id.in_(media_ids), MediaFile.user_id == user_id)
                    )
                }
                if media_ids
                else {}
            )
        return [
            self._export_view(user_id, e, jobs.get(e.job_id) if e.job_id else None, base_url=base_url, results=results)
            for e in rows
        ]

    def _export_view(
        self,
        user_id: uuid.UUID,
        exp: Export,
        job: JobView | None,
        *,
        base_url: str,
        results: Mapping[uuid.UUID, MediaFile] | None = None,
    ) -> dict[str, Any]:
        """An export as the API shows it. ``results``: the user's result media rows by id, loaded
        beforehand for a list (None: load this export's one)."""
        live = job is not None and exp.status in ("queued", "running")
        out: dict[str, Any] = {
            "id": str(exp.id),
            "project_id": str(exp.project_id),
            "job_id": str(exp.job_id) if exp.job_id else None,
            "status": job.status if live and job else exp.status,
            "progress": job.progress if live and job else exp.progress,
            "format": exp.format,
            "resolution": exp.resolution,
            "fps": exp.fps,
            "quality": exp.quality,
            "filename": exp.filename,
            "file_size": exp.file_size,
            "error": exp.error,
            "result_media_id": str(exp.result_media_id) if exp.result_media_id else None,
            "download_url": None,
            "created_at": exp.created_at.isoformat(),
            "completed_at": exp.completed_at.isoformat() if exp.completed_at else None,
        }
        if job is not None:
            out["job"] = job.to_dict()
        lib = self.core.library
        if exp.status == "succeeded" and exp.result_media_id and lib is not None:
            row: MediaFile | None
            if results is None:
                try:
                    row = lib.media.get(user_id, exp.result_media_id)
                except NotFoundError:
                    row = None
            else:
                row = results.get(exp.result_media_id)
            if row is None:
                out["error"] = "the exported file was deleted"
            else:
                out["download_url"] = lib.media.urls(row, base_url=base_url).get("download_url")
        return out

    # ---- completion callbacks -----------------------------------------------------------------
    def callback_settings(self, user_id: uuid.UUID) -> dict[str, Any]:
        with self._db.session() as session:
            user = session.get(User, user_id)
            url = user.callback_url if user else None
        return {"url": url, "signing_secret": self.jobs.callback_secret(user_id), "signature_header": SIGNATURE_HEADER}

    def set_callback_url(self, user_id: uuid.UUID, url: str | None) -> dict[str, Any]:
        """Register (or clear with None/"") the URL that receives a signed POST when a job ends.
        The caller has checked the URL."""
        with self._db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError("no such user")
            user.callback_url = url or None
        return self.callback_settings(user_id)
