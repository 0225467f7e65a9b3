"""Media library commands of `mediaenhancer`: upload, media list|info|download|rm, projects ...

Each command builds an API client (``--server``, the saved token or MEDIAENHANCER_TOKEN,
as the account commands do), calls the API through ``mediaenhancer_core.client.transfer`` or
``ApiClient`` and renders a table or ``--json``. This module loads only when one of its
commands runs (``_LazyGroup`` in app.py), so most imports are at the top; the transfer
module (it loads the engine's probe) and rich's progress bars load where they are used.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import typer

from mediaenhancer_core.errors import ConflictError, MediaEnhancerError, ValidationError
from mediaenhancer_core.exit_codes import exit_code_for

from .account import JsonOption, ServerOption, _client, _print_json
from .app import _state, error_line, handle_errors
from .ids import resolve_id, resolve_segment
from .tables import Col, print_table

if TYPE_CHECKING:
    from .app import State

__all__ = ["register"]


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    for unit, step in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def _check_id(client: Any, value: str, what: str) -> str:
    """A full id from a full id or a unique prefix (as git takes them)."""
    return resolve_id(client, what, value)


def _segment_ids(client: Any, project_id: str, values: list[str]) -> list[str]:
    if all(_is_full(v) for v in values):
        return values
    project = client.get(f"/api/projects/{project_id}")
    return [resolve_segment(project, v) for v in values]


def _is_full(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class _Bars:
    """Rich progress bars with bytes/s on a terminal; nothing otherwise."""

    def __init__(self, state: State, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        if enabled:
            from rich.progress import (  # noqa: PLC0415 - 15 ms, only when a bar is shown
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=state.err,
                transient=False,
            )

    def __enter__(self) -> _Bars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, name: str, total: int) -> Any:
        return self._progress.add_task(name, total=total) if self._progress is not None else None

    def advance(self, task: Any, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(task, n)

    def set(self, task: Any, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(task, completed=completed)


# --- upload ------------------------------------------------------------------------------------


def upload(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Media files to upload.", show_default=False)],
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=16, help="Files uploaded in parallel.")] = 2,
    server: ServerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Upload media to your library: progress with bytes/s, several at once, and an interrupted
    upload resumes where it stopped when you run the same command again."""
    from mediaenhancer_core.client.transfer import ResumeState, upload_file  # noqa: PLC0415 - loads the engine's probe (15 ms)

    state = _state(ctx)
    assert state.settings.cache_dir is not None
    resume = ResumeState(state.settings.cache_dir)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    first_error: list[MediaEnhancerError] = []
    with _client(state, server) as client, _Bars(state, state.err.is_terminal and not quiet and not as_json) as bars:

        def one(path: Path) -> None:
            task = bars.add(path.name, path.stat().st_size if path.is_file() else 0)
            try:
                media = upload_file(
                    client,
                    path,
                    state=resume,
                    on_progress=lambda n: bars.advance(task, n),
                    on_resume=lambda offset: bars.set(task, offset),
                )
                row: dict[str, Any] = {"file": str(path), "status": "uploaded", "media": media}
            except MediaEnhancerError as exc:
                row = {"file": str(path), "status": "failed", "error": {"code": exc.code, "message": exc.message}}
                with lock:
                    first_error.append(exc)
            with lock:
                results.append(row)
                if as_json:
                    state.out.file.write(json.dumps(row) + "\n")
                elif row["status"] == "uploaded":
                    m = row["media"]
                    state.out.print(
                        f"{path.name} → {m['id']} ({m['file_type']}, {_size(m['file_size'])})",
                        highlight=False,
                        markup=False,
                        soft_wrap=True,
                    )  # the id stays whole on one line
                else:
                    error_line(state, f"{path}: {row['error']['message']}")

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, files))
    if first_error:
        raise typer.Exit(int(exit_code_for(first_error[0])))


# --- media --------------------------------------------------------------------------------------


def media_list(
    ctx: typer.Context,
    file_type: Annotated[str | None, typer.Option("--type", help="video, audio or image.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="uploading, processing, ready, failed or deleting.")
    ] = None,
    sort: Annotated[
        str, typer.Option("--sort", help="created_at, filename, file_size or duration; '-' first for descending.")
    ] = "-created_at",
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=200)] = 50,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your media files."""
    state = _state(ctx)
    query = {
        "page": page,
        "per_page": per_page,
        "sort": sort,
        **({"type": file_type} if file_type else {}),
        **({"status": status} if status else {}),
    }
    with _client(state, server) as client:
        data = client.get(f"/api/media?{urlencode(query)}")
    if as_json:
        _print_json(state, data)
        return
    columns = (
        Col("id", "id"),
        Col("name", "name"),
        Col("type"),
        Col("size", "num"),
        Col("duration", "num"),
        Col("resolution", "num"),
        Col("status"),
        Col("added", "num"),
    )
    rows = []
    for m in data["media"]:
        res = f"{m['width']}x{m['height']}" if m.get("width") else "–"
        dur = f"{m['duration']:.1f} s" if m.get("duration") is not None else "–"
        rows.append(
            (m["id"], m["filename"], m["file_type"], _size(m["file_size"]), dur, res, m["status"], m["created_at"][:10])
        )
    print_table(state.out, columns, rows, title=f"{data['total']} media file(s), page {data['page']}")


def media_info(
    ctx: typer.Context,
    media_id: Annotated[str, typer.Argument(help="The id from `media list`, or its first characters.")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one media file (with a signed download link)."""
    state = _state(ctx)
    with _client(state, server) as client:
        m = client.get(f"/api/media/{_check_id(client, media_id, 'media')}")
    if as_json:
        _print_json(state, m)
        return
    for key in (
        "id",
        "filename",
        "file_type",
        "mime_type",
        "status",
        "file_size",
        "duration",
        "width",
        "height",
        "video_codec",
        "audio_codec",
        "checksum_sha256",
        "created_at",
        "download_url",
    ):
        value = m.get(key)
        state.out.print(
            f"{key}: {_size(value) if key == 'file_size' else ('–' if value is None else value)}",
            highlight=False,
            soft_wrap=True,
        )


def media_download(
    ctx: typer.Context,
    media_id: Annotated[str, typer.Argument(help="The id from `media list`, or its first characters.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: its name, here).")
    ] = None,
    server: ServerOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a file that is already there.")] = False,
) -> None:
    """Download a media file; the output appears only once complete (an existing file only with --force)."""
    from mediaenhancer_core.client.transfer import download_file, refuse_existing  # noqa: PLC0415 - loads the engine's probe (15 ms)

    state = _state(ctx)
    with _client(state, server) as client:
        m = client.get(f"/api/media/{_check_id(client, media_id, 'media')}")
        if not m.get("download_url"):
            raise ConflictError(f"media {m['id']} is {m['status']}, not ready to download")
        dest = output or Path(Path(m["filename"]).name)
        if dest.is_dir():
            dest = dest / Path(m["filename"]).name
        if not force:
            refuse_existing(dest)
        url = m["download_url"]
        if url.startswith("/"):
            url = client.base_url + url
        with _Bars(state, state.err.is_terminal and not quiet) as bars:
            task = bars.add(dest.name, int(m["file_size"]))
            written = download_file(client, url, dest, on_progress=lambda n: bars.advance(task, n), force=force)
    state.out.print(f"wrote {dest} ({_size(written)})", highlight=False)


def media_rm(
    ctx: typer.Context,
    media_ids: Annotated[list[str], typer.Argument(help="Ids from `media list`, or their first characters.")],
    server: ServerOption = None,
) -> None:
    """Delete media files (their storage is freed)."""
    state = _state(ctx)
    with _client(state, server) as client:
        for media_id in media_ids:
            full = _check_id(client, media_id, "media")
            client.delete(f"/api/media/{full}")
            state.out.print(f"deleted {full}", highlight=False)


# --- projects -----------------------------------------------------------------------------------------


def _show_project(state: State, p: dict[str, Any]) -> None:
    dur = f", {p['duration']:.1f} s" if p.get("duration") else ""
    state.out.print(f"{p['name']} ({p['id']}) — {p['status']}{dur}", highlight=False, markup=False, soft_wrap=True)
    if p.get("description"):
        state.out.print(p["description"], highlight=False, markup=False)
    columns = (
        Col("#", "num"),
        Col("segment", "id"),
        Col("track"),
        Col("media", "id"),
        Col("start", "num"),
        Col("end", "num"),
        Col("transformations"),
    )
    rows = [
        (
            str(s["position"]),
            s["id"],
            s["track"],
            s["media_id"],
            f"{s['start']:g}",
            "end" if s["end"] is None else f"{s['end']:g}",
            json.dumps(s["transformations"]) if s["transformations"] else "",
        )
        for s in p.get("segments", [])
    ]
    print_table(state.out, columns, rows)


def _out_project(state: State, p: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(state, p)
    else:
        _show_project(state, p)


def projects_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project's name.")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a project."""
    state = _state(ctx)
    with _client(state, server) as client:
        p = client.post("/api/projects", {"name": name, "description": description})
    _out_project(state, p, as_json)


def projects_list(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List your projects."""
    state = _state(ctx)
    with _client(state, server) as client:
        data = client.get("/api/projects?per_page=200")
    if as_json:
        _print_json(state, data)
        return
    columns = (
        Col("id", "id"),
        Col("name", "name"),
        Col("status"),
        Col("segments", "num"),
        Col("duration", "num"),
        Col("updated", "num"),
    )
    rows = [
        (
            p["id"],
            p["name"],
            p["status"],
            str(p.get("segment_count", 0)),
            f"{p['duration']:.1f} s" if p.get("duration") else "–",
            p["updated_at"][:16],
        )
        for p in data["projects"]
    ]
    print_table(state.out, columns, rows, title=f"{data['total']} project(s)")


def projects_show(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="The id from `projects list`, or its first characters.")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a project and its segments in order."""
    state = _state(ctx)
    with _client(state, server) as client:
        p = client.get(f"/api/projects/{_check_id(client, project_id, 'project')}")
    _out_project(state, p, as_json)


def projects_update(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="The id from `projects list`, or its first characters.")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    status: Annotated[str | None, typer.Option("--status", help="draft, active or archived.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a project's name, description or status."""
    state = _state(ctx)
    changes = {k: v for k, v in {"name": name, "description": description, "status": status}.items() if v is not None}
    if not changes:
        raise ValidationError("nothing to change; give --name, --description or --status")
    with _client(state, server) as client:
        p = client.put(f"/api/projects/{_check_id(client, project_id, 'project')}", changes)
    _out_project(state, p, as_json)


def projects_rm(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="The id from `projects list`, or its first characters.")],
    server: ServerOption = None,
) -> None:
    """Delete a project (its media stay in your library)."""
    state = _state(ctx)
    with _client(state, server) as client:
        full = _check_id(client, project_id, "project")
        client.delete(f"/api/projects/{full}")
    state.out.print(f"deleted project {full}", highlight=False)


def projects_add(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="The id from `projects list`, or its first characters.")],
    media_id: Annotated[str, typer.Argument(help="A ready media file of yours.")],
    start: Annotated[float, typer.Option("--start", min=0.0, help="Seconds into the media.")] = 0.0,
    end: Annotated[float | None, typer.Option("--end", help="Seconds into the media (default: its end).")] = None,
    track: Annotated[str, typer.Option("--track", help="main (picture and sound) or audio (mixed under).")] = "main",
    position: Annotated[
        int | None, typer.Option("--position", min=0, help="Place in the track (default: last).")
    ] = None,
    transform: Annotated[
        str | None, typer.Option("--transform", help='Operations as JSON, e.g. \'{"volume": 0.8, "rotate": 90}\'.')
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a segment (a span of a media file) to a project."""
    state = _state(ctx)
    body: dict[str, Any] = {"start": start, "end": end, "track": track}
    if position is not None:
        body["position"] = position
    if transform:
        try:
            body["transformations"] = json.loads(transform)
        except ValueError:
            raise ValidationError("--transform: not valid JSON") from None
    with _client(state, server) as client:
        body["media_id"] = _check_id(client, media_id, "media")
        p = client.post(f"/api/projects/{_check_id(client, project_id, 'project')}/segments", body)
    _out_project(state, p, as_json)


def projects_reorder(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="The id from `projects list`, or its first characters.")],
    segment_ids: Annotated[list[str], typer.Argument(help="Every segment id of the track, in the new order.")],
    track: Annotated[str, typer.Option("--track")] = "main",
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a track's segments in a new order."""
    state = _state(ctx)
    with _client(state, server) as client:
        pid = _check_id(client, project_id, "project")
        p = client.put(
            f"/api/projects/{pid}/segments/order",
            {"segment_ids": _segment_ids(client, pid, segment_ids), "track": track},
        )
    _out_project(state, p, as_json)


def projects_remove_segment(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="The id from `projects list`, or its first characters.")],
    segment_id: Annotated[str, typer.Argument(help="The id from `projects show`, or its first characters.")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a segment from a project."""
    state = _state(ctx)
    with _client(state, server) as client:
        pid = _check_id(client, project_id, "project")
        p = client.delete(f"/api/projects/{pid}/segments/{_segment_ids(client, pid, [segment_id])[0]}")
    _out_project(state, p, as_json)


def register(app: typer.Typer) -> None:
    """Add the media library commands to the `mediaenhancer` app."""
    app.command("upload", rich_help_panel="Media library")(handle_errors(upload))
    media = typer.Typer(help="Your media library on the server.", no_args_is_help=True)
    media.command("list")(handle_errors(media_list))
    media.command("info")(handle_errors(media_info))
    media.command("download")(handle_errors(media_download))
    media.command("rm")(handle_errors(media_rm))
    projects = typer.Typer(help="Projects: ordered segments of your media.", no_args_is_help=True)
    for name, fn in (
        ("create", projects_create),
        ("list", projects_list),
        ("show", projects_show),
        ("update", projects_update),
        ("rm", projects_rm),
        ("add", projects_add),
        ("reorder", projects_reorder),
        ("remove-segment", projects_remove_segment),
    ):
        projects.command(name)(handle_errors(fn))
    app.add_typer(media, name="media", rich_help_panel="Media library")
    app.add_typer(projects, name="projects", rich_help_panel="Media library")
