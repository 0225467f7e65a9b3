"""Projects: ordered segments of a user's media, each trimmed and with its own operations.

A segment is a span (``start`` to ``end`` seconds, ``end`` None = to the end) of a ready
media file of the same user, on the ``main`` track (the picture and sound, in order) or
the ``audio`` track (extra sound mixed under). ``transformations`` hold the seed editor's
per-segment operations, checked here for shape and rendered by exports (issue 6):

    {"volume": 0.8 | "volume_db": -3, "rotate": 0|90|180|270, "flip": "h"|"v"|"hv",
     "titles": [{"text", "start", "duration", "color", "size", "position"}], "loop": bool, "duck": bool}

Creating a project counts against the plan's project limit, decided under the user's
quota lock like storage (:mod:`.quotas`).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import (
    PROJECT_STATUSES,
    SEGMENT_TRACKS,
    MediaFile,
    Project,
    ProjectMedia,
)
from mediaenhancer_core.errors import NotFoundError, ValidationError
from mediaenhancer_core.library.media import ready_media
from mediaenhancer_core.plans import quotas

__all__ = ["Projects", "check_transformations"]

MAX_SEGMENTS = 500
MAX_TRANSFORM_BYTES = 16_384
_SHIFT = 1_000_000  # positions are moved out of the way while reordering (UNIQUE project, track, position)


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValidationError(f"{where}: must be a number from {low:g} to {high:g}", field=where)
    return float(value)


def check_transformations(value: Any, where: str = "transformations") -> dict[str, Any]:
    """The per-segment operations, checked for shape (the export checks what it renders)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: must be an object", field=where)
    if len(json.dumps(value)) > MAX_TRANSFORM_BYTES:
        raise ValidationError(f"{where}: at most {MAX_TRANSFORM_BYTES} bytes of JSON", field=where)
    known = {"volume", "volume_db", "rotate", "flip", "titles", "loop", "duck"}
    for key in value:
        if key not in known:
            raise ValidationError(
                f"{where}.{key}: unknown operation; known: {', '.join(sorted(known))}", field=f"{where}.{key}"
            )
    if "volume" in value:
        _number(value["volume"], f"{where}.volume", 0, 8)
    if "volume_db" in value:
        _number(value["volume_db"], f"{where}.volume_db", -120, 24)
    if "rotate" in value and value["rotate"] not in (0, 90, 180, 270):
        raise ValidationError(f"{where}.rotate: use 0, 90, 180 or 270", field=f"{where}.rotate")
    if "flip" in value and value["flip"] not in (None, "h", "v", "hv"):
        raise ValidationError(f"{where}.flip: use h, v or hv", field=f"{where}.flip")
    for key in ("loop", "duck"):
        if key in value and not isinstance(value[key], bool):
            raise ValidationError(f"{where}.{key}: must be true or false", field=f"{where}.{key}")
    titles = value.get("titles", [])
    if not isinstance(titles, list):
        raise ValidationError(f"{where}.titles: must be a list", field=f"{where}.titles")
    from mediaenhancer_core.engine.export import parse_title  # noqa: PLC0415 - the rules the export renders by
    from mediaenhancer_core.errors import ProjectError  # noqa: PLC0415

    for i, title in enumerate(titles):
        at = f"{where}.titles[{i}]"
        try:
            parse_title(title, at)
        except ProjectError as exc:
            raise ValidationError(exc.message, field=at) from None
    return value


class Projects:
    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self.db, self.clock = db, clock

    # --- reading ----------------------------------------------------------------------------------
    @staticmethod
    def _load(session: Session, user_id: uuid.UUID, project_id: uuid.UUID, *, lock: bool = False) -> Project:
        query = select(Project).where(Project.id == project_id, Project.user_id == user_id)
        if lock:
            query = query.with_for_update()
        project = session.scalar(query)
        if project is None:
            raise NotFoundError("no such project")
        return project

    @staticmethod
    def _segments(session: Session, project_id: uuid.UUID) -> list[ProjectMedia]:
        return list(
            session.scalars(
                select(ProjectMedia)
                .where(ProjectMedia.project_id == project_id)
                .order_by(ProjectMedia.track, ProjectMedia.position)
            )
        )

    def get(self, user_id: uuid.UUID, project_id: uuid.UUID) -> dict[str, Any]:
        with self.db.session() as session:
            project = self._load(session, user_id, project_id)
            return self.to_dict(project, self._segments(session, project_id))

    def list(
        self, user_id: uuid.UUID, *, page: int = 1, per_page: int = 50, status: str | None = None
    ) -> dict[str, Any]:
        if page < 1 or not 1 <= per_page <= 200:
            raise ValidationError("page must be 1 or more and per_page 1 to 200", field="page")
        if status is not None and status not in PROJECT_STATUSES:
            raise ValidationError(f"status: use one of {', '.join(PROJECT_STATUSES)}", field="status")
        where = [Project.user_id == user_id] + ([Project.status == status] if status else [])
        with self.db.session() as session:
            total = int(session.scalar(select(func.count(Project.id)).where(*where)) or 0)
            rows = session.scalars(
                select(Project)
                .where(*where)
                .order_by(Project.updated_at.desc(), Project.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
            counts = (
                {
                    pid: n
                    for pid, n in session.execute(
                        select(ProjectMedia.project_id, func.count(ProjectMedia.id))
                        .where(ProjectMedia.project_id.in_([p.id for p in rows]))
                        .group_by(ProjectMedia.project_id)
                    )
                }
                if rows
                else {}
            )
            items = [{**self.to_dict(p, None), "segment_count": int(counts.get(p.id, 0))} for p in rows]
        return {"projects": items, "total": total, "page": page, "per_page": per_page}

    @staticmethod
    def segment_dict(seg: ProjectMedia) -> dict[str, Any]:
        return {
            "id": str(seg.id),
            "media_id": str(seg.media_id),
            "track": seg.track,
            "position": seg.position,
            "start": seg.start_time,
            "end": seg.end_time,
            "transformations": seg.transformations or {},
        }

    def to_dict(self, project: Project, segments: builtins.list[ProjectMedia] | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(project.id),
            "name": project.name,
            "description": project.description,
            "status": project.status,
            "settings": project.settings or {},
            "duration": project.duration,
            "created_at": project.created_at.isoformat(),
            "updated_at": project.updated_at.isoformat(),
        }
        if segments is not None:
            out["segments"] = [self.segment_dict(s) for s in segments]
        return out

    # --- writing ----------------------------------------------------------------------------------
    @staticmethod
    def _check_fields(data: dict[str, Any]) -> None:
        if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
            raise ValidationError("name: must not be empty", field="name")
        if "status" in data and data["status"] not in PROJECT_STATUSES:
            raise ValidationError(f"status: use one of {', '.join(PROJECT_STATUSES)}", field="status")
        if data.get("settings") is not None and not isinstance(data["settings"], dict):
            raise ValidationError("settings: must be an object", field="settings")

    def create(self, user_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
        self._check_fields(data)
        with self.db.session() as session:
            quotas.lock_user(session, user_id)
            quotas.check_project_quota(session, user_id, quotas.effective_limits(session, user_id))
            project = Project(
                user_id=user_id,
                name=data["name"].strip() or "Untitled",
                description=data.get("description"),
                status=data.get("status") or "draft",
                settings=data.get("settings") or {},
            )
            session.add(project)
            session.flush()
            if data.get("segments"):
                self._replace_segments(session, user_id, project, data["segments"])
            session.flush()
            return self.to_dict(project, self._segments(session, project.id))

    def update(self, user_id: uuid.UUID, project_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
        self._check_fields(data)
        with self.db.session() as session:
            project = self._load(session, user_id, project_id, lock=True)
            for name in ("name", "description", "status", "settings"):
                if name in data:
                    value: Any = data[name] if name != "settings" else (data[name] or {})
                    setattr(project, name, value.strip() if name == "name" else value)
            if "segments" in data:
                self._replace_segments(session, user_id, project, data["segments"] or [])
            project.updated_at = self.clock()
            session.flush()
            return self.to_dict(project, self._segments(session, project.id))

    def delete(self, user_id: uuid.UUID, project_id: uuid.UUID) -> None:
        with self.db.session() as session:
            project = self._load(session, user_id, project_id, lock=True)
            session.execute(delete(ProjectMedia).where(ProjectMedia.project_id == project.id))
            session.delete(project)

    def _check_segment(
        self, session: Session, user_id: uuid.UUID, data: dict[str, Any], where: str
    ) -> tuple[MediaFile, dict[str, Any]]:
        try:
            media_id = uuid.UUID(str(data["media_id"]))
        except (KeyError, ValueError):
            raise ValidationError(f"{where}.media_id: must be a media id", field=f"{where}.media_id") from None
        media = ready_media(session, user_id, media_id)
        start = _number(data.get("start", 0.0), f"{where}.start", 0, 1e7)
        end = data.get("end")
        if end is not None:
            end = _number(end, f"{where}.end", 0, 1e7)
            if end <= start:
                raise ValidationError(f"{where}.end: must be after start ({start:g} s)", field=f"{where}.end")
        if media.duration is not None and (
            start >= media.duration or (end is not None and end > media.duration + 0.001)
        ):
            raise ValidationError(
                f"{where}: the media is {media.duration:g} s long; keep start and end within it", field=f"{where}.end"
            )
        track = data.get("track", "main")
        if track not in SEGMENT_TRACKS:
            raise ValidationError(f"{where}.track: use one of {', '.join(SEGMENT_TRACKS)}", field=f"{where}.track")
        values = {
            "media_id": media.id,
            "track": track,
            "start_time": start,
            "end_time": end,
            "transformations": check_transformations(data.get("transformations"), f"{where}.transformations"),
        }
        return media, values

    def _replace_segments(
        self, session: Session, user_id: uuid.UUID, project: Project, segments: builtins.list[Any]
    ) -> None:
        if len(segments) > MAX_SEGMENTS:
            raise ValidationError(f"segments: at most {MAX_SEGMENTS}", field="segments")
        checked = []
        for i, seg in enumerate(segments):
            if not isinstance(seg, dict):
                raise ValidationError(f"segments[{i}]: must be an object", field=f"segments[{i}]")
            checked.append(self._check_segment(session, user_id, seg, f"segments[{i}]")[1])
        session.execute(delete(ProjectMedia).where(ProjectMedia.project_id == project.id))
        session.flush()
        positions: dict[str, int] = {}
        for values in checked:
            position = positions.get(values["track"], 0)
            positions[values["track"]] = position + 1
            session.add(ProjectMedia(project_id=project.id, position=position, **values))
        session.flush()
        project.duration = self._duration(session, project.id)

    @staticmethod
    def _duration(session: Session, project_id: uuid.UUID) -> float | None:
        rows = session.execute(
            select(ProjectMedia.start_time, ProjectMedia.end_time, MediaFile.duration)
            .join(MediaFile, MediaFile.id == ProjectMedia.media_id)
            .where(ProjectMedia.project_id == project_id, ProjectMedia.track == "main")
        ).all()
        total = 0.0
        for start, end, duration in rows:
            stop = end if end is not None else duration
            if stop is None:
                continue
            total += max(0.0, stop - start)
        return round(total, 3) if rows else None

    def add_segment(self, user_id: uuid.UUID, project_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as session:
            project = self._load(session, user_id, project_id, lock=True)
            _media, values = self._check_segment(session, user_id, data, "body")
            existing = [s for s in self._segments(session, project.id) if s.track == values["track"]]
            if len(existing) >= MAX_SEGMENTS:
                raise ValidationError(f"segments: at most {MAX_SEGMENTS}", field="segments")
            position = data.get("position")
            if position is None or position > len(existing):
                position = len(existing)
            if not isinstance(position, int) or position < 0:
                raise ValidationError("position: must be 0 or more", field="position")
            self._shift(session, project.id, values["track"], at=position, by=1)
            session.add(ProjectMedia(project_id=project.id, position=position, **values))
            session.flush()
            project.duration = self._duration(session, project.id)
            project.updated_at = self.clock()
            return self.to_dict(project, self._segments(session, project.id))

    def _shift(self, session: Session, project_id: uuid.UUID, track: str, *, at: int, by: int) -> None:
        """Move the positions from ``at`` on by ``by``, in two steps (no UNIQUE collisions mid-way)."""
        base = (ProjectMedia.project_id == project_id, ProjectMedia.track == track, ProjectMedia.position >= at)
        session.execute(
            update(ProjectMedia)
            .where(*base)
            .values(position=ProjectMedia.position + _SHIFT)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(ProjectMedia)
            .where(ProjectMedia.project_id == project_id, ProjectMedia.track == track, ProjectMedia.position >= _SHIFT)
            .values(position=ProjectMedia.position - _SHIFT + by)
            .execution_options(synchronize_session=False)
        )
        session.expire_all()

    def update_segment(
        self, user_id: uuid.UUID, project_id: uuid.UUID, segment_id: uuid.UUID, data: dict[str, Any]
    ) -> dict[str, Any]:
        with self.db.session() as session:
            project = self._load(session, user_id, project_id, lock=True)
            seg = session.scalar(
                select(ProjectMedia).where(ProjectMedia.id == segment_id, ProjectMedia.project_id == project.id)
            )
            if seg is None:
                raise NotFoundError("no such segment")
            merged = {
                "media_id": seg.media_id,
                "track": seg.track,
                "start": seg.start_time,
                "end": seg.end_time,
                "transformations": seg.transformations,
                **data,
            }
            if merged["track"] != seg.track:
                raise ValidationError("track: a segment cannot change track; remove it and add it again", field="track")
            _media, values = self._check_segment(session, user_id, merged, "body")
            for name, value in values.items():
                setattr(seg, name, value)
            session.flush()
            project.duration = self._duration(session, project.id)
            project.updated_at = self.clock()
            return self.to_dict(project, self._segments(session, project.id))

    def remove_segment(self, user_id: uuid.UUID, project_id: uuid.UUID, segment_id: uuid.UUID) -> dict[str, Any]:
        with self.db.session() as session:
            project = self._load(session, user_id, project_id, lock=True)
            seg = session.scalar(
                select(ProjectMedia).where(ProjectMedia.id == segment_id, ProjectMedia.project_id == project.id)
            )
            if seg is None:
                raise NotFoundError("no such segment")
            track, position = seg.track, seg.position
            session.delete(seg)
            session.flush()
            self._shift(session, project.id, track, at=position + 1, by=-1)
            project.duration = self._duration(session, project.id)
            project.updated_at = self.clock()
            return self.to_dict(project, self._segments(session, project.id))

    def reorder(
        self, user_id: uuid.UUID, project_id: uuid.UUID, segment_ids: builtins.list[str], track: str = "main"
    ) -> dict[str, Any]:
        with self.db.session() as session:
            project = self._load(session, user_id, project_id, lock=True)
            current = [s for s in self._segments(session, project.id) if s.track == track]
            by_id = {str(s.id): s for s in current}
            if sorted(segment_ids) != sorted(by_id) or len(set(segment_ids)) != len(segment_ids):
                raise ValidationError(
                    f"segment_ids: list every segment of the {track} track exactly once ({len(current)} segments)",
                    field="segment_ids",
                )
            session.execute(
                update(ProjectMedia)
                .where(ProjectMedia.project_id == project.id, ProjectMedia.track == track)
                .values(position=ProjectMedia.position + _SHIFT)
                .execution_options(synchronize_session=False)
            )
            for position, sid in enumerate(segment_ids):
                session.execute(
                    update(ProjectMedia)
                    .where(ProjectMedia.id == by_id[sid].id)
                    .values(position=position)
                    .execution_options(synchronize_session=False)
                )
            session.expire_all()
            project = self._load(session, user_id, project_id)
            project.updated_at = self.clock()
            return self.to_dict(project, self._segments(session, project.id))
