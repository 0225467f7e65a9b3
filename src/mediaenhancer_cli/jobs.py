"""Server-side work from the CLI: `jobs list|watch|cancel`, and the `--remote` runs of
`enhance` and `export` (called from app.py). This module loads only when one of these runs
(``_LazyGroup`` in app.py), so most imports are at the top; what would load the engine or
rich's progress bars (15-50 ms on `jobs --help`) loads where it is used."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mediaenhancer_core.errors import MediaEnhancerError
from mediaenhancer_core.exit_codes import exit_code_for

from .account import JsonOption, ServerOption, _client
from .app import _state, error_line, handle_errors
from .ids import resolve_id
from .tables import Col, print_table

if TYPE_CHECKING:
    from .app import State

__all__ = ["register", "remote_enhance", "remote_export"]

jobs_app = typer.Typer(help="Jobs on the account server: list, watch, cancel.", no_args_is_help=True)


class _JobBar:
    """One progress bar following a job's server-side progress (terminal only)."""

    def __init__(self, state: State, name: str, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415 - 15 ms, only when a bar is shown

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[status]}", style="dim"),
                TimeElapsedColumn(),
                console=state.err,
                transient=False,
            )
            self._task = self._progress.add_task(name, total=100, status="queued")

    def __enter__(self) -> _JobBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, job: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=job.get("progress", 0), status=job["status"])


def _row(job: dict[str, Any]) -> str:
    target = job.get("media_id") or job.get("project_id") or "–"
    extra = f" → {job['result_media_id']}" if job.get("result_media_id") else ""
    error = f"  {job['error']}" if job.get("error") and job["status"] != "succeeded" else ""
    return f"{job['id']}  {job['type']:<10} {job['status']:<9} {job['progress']:>3}%  {target}{extra}{error}"


@jobs_app.command("list")
@handle_errors
def jobs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only jobs with this status.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your jobs, newest first."""
    state = _state(ctx)
    with _client(state, server) as client:
        query = f"?status={status}" if status else ""
        jobs = client.get(f"/api/jobs{query}")["jobs"]
    if as_json:
        for job in jobs:
            _print_job(state, job, as_json)
        return

    columns = (
        Col("id", "id"),
        Col("type"),
        Col("status"),
        Col("done", "num"),
        Col("target", "id"),
        Col("result", "id"),
        Col("error"),
    )
    rows = [
        (
            j["id"],
            j["type"],
            j["status"],
            f"{j['progress']}%",
            j.get("media_id") or j.get("project_id") or "–",
            j.get("result_media_id") or "",
            j["error"] if j.get("error") and j["status"] != "succeeded" else "",
        )
        for j in jobs
    ]
    print_table(state.out, columns, rows)


@jobs_app.command("watch")
@handle_errors
def jobs_watch(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id, or its first characters.")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow a job until it ends (Ctrl-C stops watching; the job goes on)."""
    from mediaenhancer_core.client.remote import watch_job  # noqa: PLC0415 - loads the engine's probe (15 ms)

    state = _state(ctx)
    with _client(state, server) as client, _JobBar(state, job_id[:8], state.err.is_terminal and not as_json) as bar:
        job = watch_job(client, resolve_id(client, "job", job_id), on_update=bar.update, cancel_on_interrupt=False)
    _finish(state, job, as_json)


@jobs_app.command("cancel")
@handle_errors
def jobs_cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id, or its first characters.")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a job: a queued one at once, a running one within seconds (its ffmpeg stops)."""
    state = _state(ctx)
    with _client(state, server) as client:
        job = client.post(f"/api/jobs/{resolve_id(client, 'job', job_id)}/cancel")
    _print_job(state, job, as_json)


def _print_job(state: State, job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        state.out.file.write(json.dumps(job) + "\n")
    else:
        state.out.print(_row(job), highlight=False, markup=False, soft_wrap=True)  # ids never break across lines


def _finish(state: State, job: dict[str, Any], as_json: bool) -> None:
    _print_job(state, job, as_json)
    from mediaenhancer_core.client.remote import job_error  # noqa: PLC0415 - loads the engine's probe (15 ms)

    error = job_error(job)
    if error is not None:
        raise typer.Exit(int(exit_code_for(error)))


def remote_enhance(
    state: State,
    files: list[str],
    *,
    job_type: str,
    preset: str | None,
    options: dict[str, Any],
    output: Path | None,
    out_dir: Path | None,
    server: str | None,
    as_json: bool,
    quiet: bool,
    force: bool = False,
) -> None:
    """`mediaenhancer enhance --remote`: each file (or media id) enhanced by the server, one after another.
    A file the server already holds (same content) is not uploaded again."""
    from mediaenhancer_core.client.remote import run_remote_enhance  # noqa: PLC0415 - loads the engine's probe (15 ms)
    from mediaenhancer_core.client.transfer import ResumeState  # noqa: PLC0415 - loads the engine's probe (15 ms)

    assert state.settings.cache_dir is not None
    resume = ResumeState(state.settings.cache_dir)
    first_error: MediaEnhancerError | None = None
    with _client(state, server) as client:
        for source in files:
            try:
                source = _media_source(client, source)  # a media id prefix becomes the full id
                reused: dict[str, Any] = {}
                with _JobBar(state, Path(source).name, state.err.is_terminal and not quiet and not as_json) as bar:
                    job, result, dest = run_remote_enhance(
                        client,
                        source,
                        job_type,
                        preset=preset,
                        options=options,
                        output=output,
                        out_dir=out_dir,
                        resume=resume,
                        force=force,
                        on_update=bar.update,
                        on_reuse=reused.update,
                    )
                if reused and not quiet and not as_json:
                    state.err.print(
                        f"{source}: the server already holds this file (media {reused['id']}): not uploaded again",
                        highlight=False,
                        markup=False,
                    )
                if not quiet:  # the server's planner fell back from Gemini: say so, as a local run does
                    from mediaenhancer_core.ai.planner import FALLBACK_NOTE  # noqa: PLC0415 - the Gemini planner loads the engine (50 ms)

                    for note in ((job.get("result") or {}).get("plan") or {}).get("notes") or []:
                        if note.startswith(FALLBACK_NOTE):
                            state.err.print(f"mediaenhancer: notice: {source}: {note}", highlight=False, markup=False)
                row = {
                    "input": source,
                    "status": "enhanced",
                    "output": str(dest) if dest else None,
                    "job": job,
                    "media": result,
                    "source_media_id": job.get("media_id"),
                    "uploaded": not reused and Path(source).exists(),
                }
                if as_json:
                    state.out.file.write(json.dumps(row) + "\n")
                elif not quiet:
                    state.out.print(
                        f"{source}: enhanced on the server → {dest} (job {job['id']})", highlight=False, markup=False
                    )
            except MediaEnhancerError as exc:
                first_error = first_error or exc
                if as_json:
                    state.out.file.write(
                        json.dumps(
                            {"input": source, "status": "failed", "error": {"code": exc.code, "message": exc.message}}
                        )
                        + "\n"
                    )
                else:
                    error_line(state, exc.message if source in exc.message else f"{source}: {exc.message}")
    if first_error is not None:
        raise typer.Exit(int(exit_code_for(first_error)))


def _media_source(client: Any, source: str) -> str:
    """`enhance --remote` takes files and media ids: an argument that is no file and looks like the start
    of an id (8 or more hex characters) is resolved as a media id prefix."""
    if Path(source).exists() or not re.fullmatch(r"[0-9a-fA-F-]{8,36}", source):
        return source
    return resolve_id(client, "media", source)


def remote_export(
    state: State,
    project_id: str,
    body: dict[str, Any],
    *,
    output: Path | None,
    server: str | None,
    as_json: bool,
    quiet: bool,
    force: bool = False,
) -> None:
    """`mediaenhancer export --remote PROJECT_ID`: the server renders the project; the file is downloaded
    (an existing file is replaced only with --force)."""
    from mediaenhancer_core.client.remote import run_remote_export  # noqa: PLC0415 - loads the engine's probe (15 ms)
    from mediaenhancer_core.engine.formats import FORMATS  # noqa: PLC0415 - the engine (15 ms), for one command

    dest = output or Path(f"export-{project_id[:8]}{FORMATS[body.get('format') or 'mp4'].extension}")
    with (
        _client(state, server) as client,
        _JobBar(state, project_id[:8], state.err.is_terminal and not quiet and not as_json) as bar,
    ):
        project_id = resolve_id(client, "project", project_id)
        job, export = run_remote_export(client, project_id, body, dest=dest, on_update=bar.update, force=force)
    if as_json:
        state.out.file.write(json.dumps({"output": str(dest), "job": job, "export": export}) + "\n")
    elif not quiet:
        state.out.print(f"exported project {project_id} on the server → {dest}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
