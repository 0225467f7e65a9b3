"""`mediaenhancer-server storage`: check the media storage, and reap what interrupted uploads left.

mediaenhancer-server storage check
mediaenhancer-server storage reap [--older-than SECONDS] [--json]
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from .cli_common import _core, handle_errors

__all__ = ["storage_app"]

storage_app = typer.Typer(help="Media storage (local folder or S3 bucket).", no_args_is_help=True)


@storage_app.command("check")
@handle_errors
def storage_check() -> None:
    """Check that the storage in settings answers and can be written."""
    with _core() as core:
        assert core.library is not None
        core.library.storage.check()
        typer.echo(f"{core.library.storage.describe()}: ok")


@storage_app.command("reap")
@handle_errors
def storage_reap(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=0,
            metavar="SECONDS",
            help="Only what is older than this (default: setting upload_stale_seconds).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove abandoned uploads (their parts, rows and reservations), unfinished deletes, and
    stored objects or started uploads that no media row refers to."""
    with _core() as core:
        assert core.library is not None
        age = core.settings.upload_stale_seconds if older_than is None else older_than
        report = core.maintenance_round(older_than=timedelta(seconds=age))
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        typer.echo(
            f"reaped {report.stale_rows} abandoned upload(s) or delete(s) ({report.freed_bytes} bytes freed), "
            f"{report.orphan_objects} orphan object(s), {report.orphan_uploads} orphan upload(s), "
            f"{report.expired_throttle_rows} expired sign-in counter(s)"
        )
    for error in report.errors:
        typer.echo(f"mediaenhancer-server: warning: {error}", err=True)
    if report.errors:
        from mediaenhancer_core.exit_codes import ExitCode  # noqa: PLC0415

        raise typer.Exit(int(ExitCode.STORAGE_UNAVAILABLE))
