"""`mediaenhancer-server`: run the API server, and administer it headless.

    mediaenhancer-server [--host H] [--port P] [--workers N]    serve (uvicorn)
    mediaenhancer-server db upgrade | db current
    mediaenhancer-server users create EMAIL [--password-stdin] | list | disable EMAIL | enable EMAIL
    mediaenhancer-server users set-plan EMAIL PLAN | set-password EMAIL [--password-stdin]
    mediaenhancer-server tokens create EMAIL [--name N] [--expires-days D]   (token on the last line)
    mediaenhancer-server storage check | reap [--older-than SECONDS] [--json]
    mediaenhancer-server billing sync [--json]                     (repair subscriptions from Stripe)

Each command opens the core from settings, calls one method, prints. Errors are one
line on stderr with the exit code of ``mediaenhancer_core.exit_codes``.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mediaenhancer_core.helpstyle import tidy_help

from .cli_billing import billing_app
from .cli_common import _core, _err, _settings, handle_errors
from .cli_storage import storage_app

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """Plain help with metavars that say what to type (the same style as `mediaenhancer`)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        return None if cmd is None else tidy_help(cmd)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        tidy_help(self)
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=_Group,
    name="mediaenhancer-server",
    rich_markup_mode=None,
    help="The Media Enhancer account server (API, sign-in pages, device login) and its administration.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

# --- serve -------------------------------------------------------------------------------------


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: setting server_host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: setting server_port, 3001).")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes (default: setting server_workers, 1).")
    ] = None,
) -> None:
    """Run the server (without a subcommand). The embedded SQLite database migrates itself;
    PostgreSQL needs `mediaenhancer-server db upgrade` first."""
    if ctx.invoked_subcommand is not None:
        return
    _serve(host, port, workers)


@handle_errors
def _serve(host: str | None, port: int | None, workers: int | None) -> None:
    from mediaenhancer_core.extras import import_extra  # noqa: PLC0415

    uvicorn = import_extra("uvicorn", "server", "mediaenhancer-server")

    from .app import create_app  # noqa: PLC0415
    from .logs import configure_logging, uvicorn_log_config  # noqa: PLC0415
    from .protocol import PROTOCOL  # noqa: PLC0415
    from .protocol import configure as configure_protocol  # noqa: PLC0415

    settings = _settings(server_host=host, server_port=port, server_workers=workers)
    configure_logging(settings.log_level)
    _tune_malloc()
    _without_redis_unless_used(settings)
    from mediaenhancer_core.services import Core  # noqa: PLC0415

    core = Core.open(settings, path_env=os.environ.get("PATH"))
    try:
        core.prepare_database()  # once, before any worker starts
    except BaseException:
        core.close()
        raise
    common: dict[str, Any] = {
        "host": settings.server_host,
        "port": settings.server_port,
        "log_config": uvicorn_log_config(settings.log_level),
        "access_log": False,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or "127.0.0.1",
        "server_header": False,
        # h11 with header and body timeouts (protocol.py): uvicorn has none for slow clients
        "http": PROTOCOL,
        "timeout_keep_alive": 5,
    }
    configure_protocol(
        header_timeout=settings.server_header_timeout_seconds, body_timeout=settings.server_body_timeout_seconds
    )
    typer.echo(
        f"mediaenhancer-server on http://{settings.server_host}:{settings.server_port} (database {core.db.describe()})",
        err=True,
    )
    if settings.server_workers > 1:
        core.close()
        uvicorn.run(
            "mediaenhancer_server.app:create_app_from_env", factory=True, workers=settings.server_workers, **common
        )
    else:
        uvicorn.run(create_app(core=core, prepare_database=False), **common)


def _tune_malloc(arenas: int = 2, mmap_threshold: int = 1024 * 1024) -> None:
    """Make glibc's malloc give memory back, before threads start (as MALLOC_ARENA_MAX=2 and
    MALLOC_MMAP_THRESHOLD_=1048576 would): with one arena per thread, upload and database
    threads each kept their freed buffers, and with the default sliding mmap threshold freed
    1-8 MiB buffers stayed in the heap; a 1 GB upload peaked at 200 MB, then 175 MB, now under
    150 MB (bench/upload.py). A fixed mmap threshold leaves the trim threshold at 128 KiB, so
    the heap top was given back and faulted in again for every 256 KiB read of a request
    body: 2.3 s of system time per GB received; at twice the mmap threshold (what glibc's
    sliding threshold sets) it is 0.4 s. A no-op where there is no glibc."""
    import ctypes  # noqa: PLC0415
    import ctypes.util  # noqa: PLC0415

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD: big buffers are mapped and unmapped
        libc.mallopt(-1, 2 * mmap_threshold)  # M_TRIM_THRESHOLD, as the sliding threshold would set it
    except (OSError, AttributeError):
        pass


def _without_redis_unless_used(settings: Any) -> None:
    """With the embedded queue nothing in this process talks to Redis, yet huey imports the
    Redis client whenever it is installed (10 MB of the server's memory). A None entry in
    sys.modules makes that import fail the way huey expects when redis is absent."""
    if settings.queue != "redis" and "redis" not in sys.modules:
        sys.modules["redis"] = None  # type: ignore[assignment]


# --- worker -------------------------------------------------------------------------------------


@app.command("worker")
@handle_errors
def worker(
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, max=64, help="Jobs run at once (default: setting worker_threads, 1)."),
    ] = None,
) -> None:
    """Run enhancement and export jobs from the queue until SIGINT/SIGTERM.

    With queue = redis, start workers on any number of hosts that share the database and the
    object storage; with the embedded queue, workers on the server's machine share its queue file.
    A worker killed mid-job loses its lease, and another worker finishes the job."""
    from mediaenhancer_core.jobs.system import JobSystem  # noqa: PLC0415
    from mediaenhancer_core.services import Core  # noqa: PLC0415

    from .logs import configure_logging  # noqa: PLC0415

    settings = _settings(worker_threads=threads)
    configure_logging(settings.log_level)
    _tune_malloc()
    _without_redis_unless_used(settings)
    core = Core.open(settings, path_env=os.environ.get("PATH"))
    try:
        core.prepare_database()
        jobs = JobSystem.open(core)
        typer.echo(
            f"mediaenhancer-server worker: {settings.worker_threads} thread(s), {settings.queue} queue, "
            f"database {core.db.describe()}",
            err=True,
        )
        jobs.run_worker(settings.worker_threads)
    finally:
        core.close()


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Apply every pending migration to the database in settings."""
    from mediaenhancer_core.db import Database  # noqa: PLC0415

    db = Database.from_settings(_settings())
    try:
        before = db.current_revision()
        db.upgrade()
        after = db.current_revision()
    finally:
        db.dispose()
    typer.echo(
        f"{db.describe()}: {before or 'empty'} -> {after}"
        if before != after
        else f"{db.describe()}: already at {after}"
    )


@db_app.command("current")
@handle_errors
def db_current() -> None:
    """Show the database's migration and the newest one this version has."""
    from mediaenhancer_core.db import Database  # noqa: PLC0415

    db = Database.from_settings(_settings())
    try:
        typer.echo(f"{db.describe()}: at {db.current_revision() or 'none'}, newest {db.head_revision()}")
    finally:
        db.dispose()


# --- users ----------------------------------------------------------------------------------------


@users_app.command("create")
@handle_errors
def users_create(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    plan: Annotated[
        str | None, typer.Option("--plan", help="Put the user on this plan (default: the free plan).")
    ] = None,
) -> None:
    """Create an account. Without a password (and no terminal to ask on) it can use API tokens only."""
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _core() as core:
        user = core.accounts.create_user(email, password, verified=True)  # the administrator vouches for it
        if plan:
            core.accounts.set_plan(user.email, plan)
    note = "" if password is not None else " (no password: it signs in with API tokens only)"
    typer.echo(f"created {user.email} {user.id}{note}")


@users_app.command("list")
@handle_errors
def users_list(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False) -> None:
    """Every account, oldest first."""
    with _core() as core:
        users = core.accounts.list_users()
    for user, plan_id in users:
        state = "deleted" if user.deleted_at else "disabled" if user.disabled else "active"
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": str(user.id),
                        "email": user.email,
                        "plan": plan_id,
                        "state": state,
                        "created_at": user.created_at.isoformat(),
                    }
                )
            )
        else:
            typer.echo(f"{user.email}\t{plan_id}\t{state}\t{user.created_at:%Y-%m-%d}\t{user.id}")


@users_app.command("disable")
@handle_errors
def users_disable(email: str) -> None:
    """Disable an account: its tokens are revoked and its browser sessions end."""
    with _core() as core:
        user = core.accounts.disable(email)
    typer.echo(f"disabled {user.email}; its tokens were revoked")


@users_app.command("enable")
@handle_errors
def users_enable(email: str) -> None:
    """Enable a disabled account again (it needs new tokens)."""
    with _core() as core:
        user = core.accounts.enable(email)
    typer.echo(f"enabled {user.email}")


@users_app.command("set-password")
@handle_errors
def users_set_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Set or reset an account's password (there is no e-mail reset flow). Its browser sessions
    end and its API tokens are revoked."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _core() as core:
        user = core.accounts.by_email(email)
        core.accounts.set_password(user.id, password)
    typer.echo(f"password set for {user.email}; its sessions ended and its tokens were revoked")


@users_app.command("set-plan")
@handle_errors
def users_set_plan(email: str, plan: str) -> None:
    """Put an account on a plan by hand (starter, creator, professional), without billing."""
    with _core() as core:
        plan_id = core.accounts.set_plan(email, plan)
    typer.echo(f"{email}: plan {plan_id}")


# --- tokens ---------------------------------------------------------------------------------------


@tokens_app.command("create")
@handle_errors
def tokens_create(
    email: str,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "admin-created",
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create an API token for an account; the token is the last line of output."""
    with _core() as core:
        user = core.accounts.by_email(email)
        row, secret = core.tokens.create(
            user.id, name, expires_in=timedelta(days=expires_days) if expires_days else None, source="admin"
        )
    expiry = f", expires {row.expires_at:%Y-%m-%d}" if row.expires_at else ""
    typer.echo(f"token {row.id} '{row.name}' for {user.email}{expiry} (shown once):")
    typer.echo(secret)


app.add_typer(billing_app, name="billing")
app.add_typer(storage_app, name="storage")


def main(prog_name: str = "mediaenhancer-server") -> None:
    """Console-script entry point (also ``python -m mediaenhancer_server``). Without the [server] extra (a base install), one line says
    what to install, with its exit code, before any command imports what is missing."""
    from mediaenhancer_core.errors import MissingExtraError  # noqa: PLC0415
    from mediaenhancer_core.extras import require_extra  # noqa: PLC0415

    try:
        require_extra("server", "mediaenhancer-server")
    except MissingExtraError as exc:
        from mediaenhancer_core.exit_codes import exit_code_for  # noqa: PLC0415

        _err(str(exc))
        raise SystemExit(int(exit_code_for(exc))) from None
    app(prog_name=prog_name)
