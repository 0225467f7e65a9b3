"""What a job does: the engine the CLI uses, on media from storage.

Enhance jobs (``denoise``, ``upscale``, ``colorgrade``, ``stabilize``, ``auto``,
``transcribe``) stream the source from storage into the job's temporary folder, run
:func:`~mediaenhancer_core.engine.enhance.enhance_file` exactly as ``mediaenhancer enhance`` does
(each type but ``auto`` with its plan cut down to the type's scope, :mod:`..scopes`),
and store the output as a new media file linked to its source (through the same upload
path as any upload: quota, content check, probe, thumbnail); the job's result records the
plan and the measurements before and after. Export jobs render a project with
:func:`~mediaenhancer_core.engine.export.export_project`; the export counts against the monthly
quota only in the transaction that records its success.

Anything stored for a job that then cannot record its outcome (it lost its lease) is
removed again, so a result is never left without its job, nor counted twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from mediaenhancer_core.choices import ENHANCE_TYPES
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import Export, Job, MediaFile, UsageEvent
from mediaenhancer_core.db.types import utcnow
from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
from mediaenhancer_core.engine.export import AudioTrack, Project, Segment, Title, export_project
from mediaenhancer_core.engine.ffmpeg import FFmpegTools
from mediaenhancer_core.engine.formats import FORMATS
from mediaenhancer_core.engine.planner import RESOLUTIONS, EnhanceOptions, MeasurementPlanner, Planner
from mediaenhancer_core.engine.presets import get_preset
from mediaenhancer_core.errors import (
    AIKeyRejectedError,
    AINotConfiguredError,
    AIServerNotConfiguredError,
    CancelledError,
    ForbiddenError,
    MediaEnhancerError,
    NotFoundError,
    ValidationError,
)
from mediaenhancer_core.jobs.runner import Handler, JobContext, JobOutcome
from mediaenhancer_core.jobs.scopes import ScopedPlanner, scope_for
from mediaenhancer_core.library.services import MediaServices
from mediaenhancer_core.plans import quotas
from mediaenhancer_core.plans.catalogue import plan_allows_ai, require_ai
from mediaenhancer_core.plans.usage import export_period
from mediaenhancer_core.settings import Settings

__all__ = ["build_handlers", "ENHANCE_PARAMS", "options_for"]

log = logging.getLogger("mediaenhancer.jobs")

CHUNK = 1024 * 1024
SERVER_NO_KEY = (
    "this server has no Gemini API key, so it cannot use Gemini; ask its administrator to set "
    "MEDIAENHANCER_GEMINI_API_KEY on the server (docs/settings-ai.md), or run it on your own machine "
    "with your key (mediaenhancer transcribe FILE)"
)
SERVER_KEY_REJECTED = (
    "Gemini refused this server's API key; ask its administrator to check "
    "MEDIAENHANCER_GEMINI_API_KEY on the server, or run it on your own machine with your key"
)
ENHANCE_PARAMS = {
    "preset",
    "target_lufs",
    "true_peak",
    "resolution",
    "fps",
    "format",
    "quality",
    "trim_silence",
    "denoise",
    "language",
    "planner",
}


def options_for(job_type: str, params: dict[str, Any], settings: Settings, *, has_video: bool) -> EnhanceOptions:
    """The engine options of a job type; ``params`` are checked already (API schema)."""
    preset = get_preset(str(params.get("preset") or settings.preset), settings.config_dir)
    no_video = dataclasses.replace(preset, video=False, sharpen=False)
    audio_off = dataclasses.replace(preset, denoise=False, dehum=False, derumble=False, declip=False)
    common: dict[str, Any] = {
        "target_lufs": params.get("target_lufs"),
        "true_peak": params.get("true_peak"),
        "format": params.get("format"),
        "quality": str(params.get("quality") or settings.quality),
    }
    if job_type == "auto":
        return EnhanceOptions(
            preset=preset,
            trim_silence=bool(params.get("trim_silence", False)),
            resolution=params.get("resolution"),
            fps=params.get("fps"),
            denoise=params.get("denoise"),
            **common,
        )
    # what each type may change is cut from the plan by its scope (scopes.py): the options only plan it
    if job_type == "denoise":  # noise in sound and picture: hum and rumble too
        return EnhanceOptions(
            preset=dataclasses.replace(preset, dehum=True, derumble=True, sharpen=False), denoise=True, **common
        )
    if job_type == "colorgrade":
        if not has_video:
            raise ValidationError("type: colorgrade needs a video; this media has no picture", field="type")
        return EnhanceOptions(preset=dataclasses.replace(audio_off, sharpen=False), denoise=False, **common)
    if job_type == "upscale":
        if not has_video:
            raise ValidationError("type: upscale needs a video; this media has no picture", field="type")
        resolution = params.get("resolution") or "1080p"
        return EnhanceOptions(
            preset=dataclasses.replace(audio_off, video=False),
            resolution=resolution,
            denoise=False,
            fps=params.get("fps"),
            **common,
        )
    if job_type == "stabilize":
        if not has_video:
            raise ValidationError("type: stabilize needs a video; this media has no picture", field="type")
        return EnhanceOptions(
            preset=dataclasses.replace(audio_off, video=False), stabilize=True, denoise=False, **common
        )
    if job_type == "transcribe":
        return EnhanceOptions(preset=no_video, **common)
    raise ValidationError(f"type: {job_type!r} is not an enhancement", field="type")


class _Handlers:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        library: MediaServices,
        tools: Callable[[], FFmpegTools],
        *,
        planner_factory: Callable[[str, Settings, FFmpegTools], Planner] | None = None,
        transcriber: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        self.settings, self.db, self.lib, self.tools = settings, db, library, tools
        self.planner_factory = planner_factory
        self.transcriber = transcriber

    # ---- storage in and out ---------------------------------------------------------
    def _source(self, ctx: JobContext, media_id: uuid.UUID, name: str) -> tuple[Path, MediaFile]:
        row = self.lib.media.get(ctx.job.user_id, media_id)
        if row.status != "ready":
            raise ValidationError(
                f"media {media_id} is {row.status}, not ready; wait for its upload to finish", field="media_id"
            )
        ext = Path(row.filename).suffix.lower()
        if not ext or len(ext) > 6:
            ext = {"video": ".mp4", "audio": ".m4a", "image": ".png"}.get(row.file_type, ".bin")
        path = ctx.workdir / f"{name}{ext}"
        with open(path, "wb") as fh:
            for chunk in self.lib.storage.read(row.storage_key):
                if ctx.cancel.cancelled:
                    raise CancelledError("download canceled")
                fh.write(chunk)
        return path, row

    def _store(self, ctx: JobContext, path: Path, filename: str, source: uuid.UUID | None) -> MediaFile:
        """Store ``path`` as a new media file of the job's user, through the normal upload path."""
        user = ctx.job.user_id
        size = path.stat().st_size
        # the link to the source and the job are written with the row: no second update to lose
        info = self.lib.uploads.create(user, filename=filename, size=size, source_media_id=source, job_id=ctx.job.id)
        try:
            writer = self.lib.uploads.open_writer(user, info.media_id, offset=0, length=size)
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    writer.write(chunk)
            writer.commit()
            return self.lib.uploads.finish(user, info.media_id, window=writer.window)
        except BaseException:
            try:
                self.lib.uploads.cancel(user, info.media_id)
            except MediaEnhancerError:
                pass  # the reaper removes what is left
            raise

    def _forget(self, user_id: uuid.UUID, media_id: uuid.UUID) -> Callable[[], None]:
        def undo() -> None:
            try:
                self.lib.media.delete(user_id, media_id)
            except MediaEnhancerError as exc:
                log.warning("could not remove the result %s of a discarded job: %s", media_id, exc.message)

        return undo

    # ---- enhance ----------------------------------------------------------------------
    def enhance(self, ctx: JobContext) -> JobOutcome:
        job = ctx.job
        if job.media_id is None:
            raise NotFoundError("the job's media is gone")
        with self.db.session() as session:  # the plan may have changed since the job was queued
            ai = plan_allows_ai(session, job.user_id)
            if job.type == "transcribe":
                require_ai(session, job.user_id)
        src, row = self._source(ctx, job.media_id, "source")
        ctx.report(0.05)
        tools = self.tools()
        if job.type == "transcribe":
            return self._transcribe(ctx, src, row, tools)
        options = options_for(job.type, job.params, self.settings, has_video=row.file_type == "video")
        planner = None
        if job.type == "auto" and ai and self.planner_factory is not None:
            name = str(job.params.get("planner") or self.settings.planner)
            planner = self.planner_factory(name, self.settings, tools)
            if hasattr(planner, "no_key_reason"):  # its fallback note names the server's key, not the user's
                planner.no_key_reason = SERVER_NO_KEY
        scope = scope_for(job.type)
        if scope is not None:  # the type's part of the plan only; what it leaves alone is copied
            planner = ScopedPlanner(planner or MeasurementPlanner(), scope)
        out_dir = ctx.workdir / "out"
        out_dir.mkdir()

        def progress(event: Any) -> None:
            ctx.report(0.05 + 0.85 * event.fraction)

        plan_file = None
        if job.params.get("plan"):  # an explicit plan (validated when the job was queued, and again on load)
            plan_file = ctx.workdir / "plan.json"
            plan_file.write_text(json.dumps(job.params["plan"]), "utf-8")
        try:
            result = enhance_file(
                src,
                EnhanceJob(options=options, out_dir=out_dir, plan_file=plan_file),
                tools,
                planner=planner,
                temp_dir=ctx.workdir,
                on_progress=progress,
                cancel=ctx.cancel,
            )
        finally:
            if planner is not None and hasattr(planner, "close"):
                planner.close()
        if result.status != "enhanced" or result.output is None:
            if result.exit_error is not None:
                raise result.exit_error
            raise ValidationError(f"nothing was rendered: {result.reason or result.status}")
        out = Path(result.output)
        stem = Path(row.filename).stem or "media"
        stored = self._store(ctx, out, f"{stem}.{job.type}{out.suffix}", source=row.id)
        ctx.report(0.99)

        def count(session: Session, job_row: Job) -> None:
            session.add(
                UsageEvent(
                    user_id=job_row.user_id,
                    kind="job_succeeded",
                    quantity=1,
                    media_id=stored.id,
                    details={"job_id": str(job_row.id), "type": job_row.type},
                )
            )

        return JobOutcome(
            result={
                "plan": result.plan,
                "before": result.before,
                "after": result.after,
                "output": {"media_id": str(stored.id), "filename": stored.filename, "file_size": stored.file_size},
            },
            result_media_id=stored.id,
            on_commit=count,
            on_abandon=self._forget(job.user_id, stored.id),
        )

    def _transcribe(self, ctx: JobContext, src: Path, row: MediaFile, tools: FFmpegTools) -> JobOutcome:
        if self.transcriber is None:
            raise ForbiddenError("transcription is not configured on this server (no Gemini key)")
        try:
            transcript = self.transcriber(
                src,
                tools,
                self.settings,
                language=ctx.job.params.get("language"),
                workdir=ctx.workdir,
                cancel=ctx.cancel,
                report=ctx.report,
            )
        except (AINotConfiguredError, AIKeyRejectedError) as exc:
            if isinstance(exc, AIServerNotConfiguredError):
                raise
            # the server's key, not the user's: their GEMINI_API_KEY cannot help
            raise AIServerNotConfiguredError(
                SERVER_NO_KEY if isinstance(exc, AINotConfiguredError) else SERVER_KEY_REJECTED
            ) from None
        return JobOutcome(result={"transcript": transcript})

    # ---- export ----------------------------------------------------------------------
    def export(self, ctx: JobContext) -> JobOutcome:
        job = ctx.job
        if job.project_id is None:
            raise NotFoundError("the job's project is gone")
        export_id = uuid.UUID(str(job.params["export_id"]))
        with self.db.session() as session:
            limits = quotas.effective_limits(session, job.user_id)
            # this export is already counted as in flight: check what succeeded meanwhile, under the lock
            quotas.lock_user(session, job.user_id)
            quotas.check_export_quota(session, job.user_id, limits, export_period(session, job.user_id, utcnow()))
            session.execute(update(Export).where(Export.id == export_id).values(status="running"))
        data = self.lib.projects.get(job.user_id, job.project_id)
        params = job.params
        project = project_from_api(data, params)
        files: dict[str, Path] = {}

        def resolve(media: str) -> Path:
            if media not in files:
                path, _ = self._source(ctx, uuid.UUID(media), f"media-{len(files)}")
                files[media] = path
            return files[media]

        for seg in project.segments:
            resolve(seg.media)
        for track in project.audio_tracks:
            resolve(track.media)
        ctx.report(0.1)
        fmt = project.output.format
        dest = ctx.workdir / f"export{FORMATS[fmt].extension}"
        preset = get_preset(str(params.get("preset") or self.settings.preset), self.settings.config_dir)
        result = export_project(
            project,
            dest,
            self.tools(),
            preset=preset,
            resolve=resolve,
            font_file=self.settings.font_file,
            temp_dir=ctx.workdir,
            cancel=ctx.cancel,
            on_progress=lambda phase, done, total: ctx.report(0.1 + 0.8 * (done / total if total else 0)),
        )
        name = (
            "".join(c if c.isalnum() or c in " -_" else "_" for c in data.get("name") or "export").strip() or "export"
        )
        stored = self._store(ctx, dest, f"{name}{FORMATS[fmt].extension}", source=None)

        def complete(session: Session, job_row: Job) -> None:
            # in the transaction that records the job's success: the export counts only now
            exp = session.get(Export, export_id, with_for_update=True)
            if exp is not None:
                exp.status, exp.progress, exp.completed_at = "succeeded", 100, job_row.finished_at
                exp.result_media_id, exp.storage_key, exp.file_size = stored.id, stored.storage_key, stored.file_size
                exp.filename = stored.filename
            session.add(
                UsageEvent(
                    user_id=job_row.user_id,
                    kind="export_succeeded",
                    quantity=1,
                    media_id=stored.id,
                    export_id=export_id,  # the record outlives the project (issue 12)
                    details={"export_id": str(export_id), "project_id": str(job_row.project_id)},
                )
            )

        return JobOutcome(
            result={
                "export_id": str(export_id),
                "export": result.to_dict(),
                "output": {"media_id": str(stored.id), "filename": stored.filename, "file_size": stored.file_size},
            },
            result_media_id=stored.id,
            on_commit=complete,
            on_abandon=self._forget(job.user_id, stored.id),
        )


def project_from_api(data: dict[str, Any], params: dict[str, Any]) -> Project:
    """The export model of a stored project: main-track segments in order, audio-track ones mixed under."""
    segments: list[Segment] = []
    tracks: list[AudioTrack] = []
    for s in data.get("segments", []):
        t = s.get("transformations") or {}
        volume_db = t.get("volume_db")
        if volume_db is None and "volume" in t:
            factor = float(t["volume"])
            volume_db = -120.0 if factor <= 0 else 20 * math.log10(factor)
        if s["track"] == "main":
            segments.append(
                Segment(
                    media=s["media_id"],
                    start=float(s.get("start") or 0.0),
                    end=s.get("end"),
                    volume_db=float(volume_db or 0.0),
                    rotate=int(t.get("rotate", 0)),
                    flip=t.get("flip"),
                    titles=[
                        Title(
                            text=x["text"],
                            start=float(x.get("start", 0)),
                            duration=float(x.get("duration", 3)),
                            color=str(x.get("color", "white")),
                            size=int(x.get("size", 48)),
                            position=str(x.get("position", "bottom")),
                        )
                        for x in t.get("titles", [])
                    ],
                )
            )
        else:  # the audio track: its segments play one after the other under the programme, each its span
            tracks.append(
                AudioTrack(
                    media=s["media_id"],
                    volume_db=float(volume_db if volume_db is not None else -18.0),
                    start=None,
                    loop=bool(t.get("loop", False)),
                    duck=bool(t.get("duck", True)),
                    source_start=float(s.get("start") or 0.0),
                    source_end=s.get("end"),
                )
            )
    if not segments:
        raise ValidationError(
            "the project has no segments on its main track; add some before exporting", field="segments"
        )
    fmt = str(params.get("format") or "mp4")
    if fmt not in FORMATS:
        raise ValidationError(f"format: use one of {', '.join(FORMATS)}", field="format")
    resolution = params.get("resolution")
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ValidationError(f"resolution: use one of {', '.join(RESOLUTIONS)}", field="resolution")
    # the same checks as a project file: titles' colours and positions, spans
    checked = Project.from_dict(
        {
            "name": data.get("name") or "export",
            "segments": [_segment_dict(s) for s in segments],
            "output": {
                "format": fmt,
                "resolution": resolution,
                "fps": params.get("fps"),
                "quality": params.get("quality") or "standard",
                "enhance": bool(params.get("enhance", True)),
            },
        },
        source="project",
    )
    checked.audio_tracks = tracks
    return checked


def _segment_dict(s: Segment) -> dict[str, Any]:
    d: dict[str, Any] = {
        "media": s.media,
        "start": s.start,
        "volume_db": s.volume_db,
        "rotate": s.rotate,
        "titles": [dataclasses.asdict(t) for t in s.titles],
    }
    if s.end is not None:
        d["end"] = s.end
    if s.flip:
        d["flip"] = s.flip
    return d


def build_handlers(
    settings: Settings,
    db: Database,
    library: MediaServices,
    tools: Callable[[], FFmpegTools],
    **kw: Any,
) -> dict[str, Handler]:
    """The job handlers of a worker."""
    h = _Handlers(settings, db, library, tools, **kw)
    handlers: dict[str, Handler] = {t: h.enhance for t in ENHANCE_TYPES}
    handlers["export"] = h.export
    return handlers
