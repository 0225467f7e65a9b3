"""Account commands of `mediaenhancer`: login, logout, whoami, profile, usage, tokens.

Each command builds an API client for ``--server`` (setting ``server_url``) with the
token from ``MEDIAENHANCER_TOKEN`` or the one `login` stored, makes one or two calls,
and renders. This module loads only when one of its commands runs or is asked for help
(``_LazyGroup`` in app.py), so the core is imported at the top (httpx and keyring still
load only when a request is made or a token is read); rich's tables load where used.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mediaenhancer_core.client.api import ApiClient, device_login
from mediaenhancer_core.client.credentials import CredentialStore
from mediaenhancer_core.errors import AuthError, ConfigError, NotFoundError, ServerUnreachableError, ValidationError

from .app import _state, handle_errors
from .ids import resolve_id
from .tables import Col, print_table, show

if TYPE_CHECKING:
    from .app import State

__all__ = ["register"]

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server", metavar="URL", help="Account server address (default: setting server_url, http://127.0.0.1:3001)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _server(state: State, server: str | None) -> str:
    url = (server or state.settings.server_url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--server: {url!r} is not an http:// or https:// address")
    return url


def _store(state: State) -> CredentialStore:
    assert state.settings.config_dir is not None
    return CredentialStore(state.settings.config_dir, warn=lambda m: state.err.print(f"warning: {m}", highlight=False))


def _token(state: State, server_url: str) -> tuple[str | None, str | None]:
    if state.settings.token:
        return state.settings.token.reveal(), "MEDIAENHANCER_TOKEN"
    return _store(state).get(server_url)


@contextmanager
def _client(state: State, server: str | None, *, token: str | None = None) -> Iterator[ApiClient]:
    url = _server(state, server)
    if token is None:
        token, _ = _token(state, url)
    with ApiClient(url, token) as client:
        yield client


def _print_json(state: State, data: Any) -> None:
    state.out.file.write(json.dumps(data, indent=2) + "\n")


# --- login / logout / whoami ------------------------------------------------------------------


def login(
    ctx: typer.Context,
    server: ServerOption = None,
    with_token: Annotated[
        bool, typer.Option("--with-token", help="Read an API token from stdin instead of the browser flow (for CI).")
    ] = False,
) -> None:
    """Sign in to the account server: shows a code to approve in your browser (or --with-token)."""
    state = _state(ctx)
    url = _server(state, server)
    if with_token:
        token = sys.stdin.readline().strip()
        if not token:
            raise ValidationError(
                "--with-token: no token on stdin; pipe one in, e.g. `mediaenhancer login --with-token < token.txt`"
            )
    else:

        def show(start: dict[str, Any]) -> None:
            state.err.print(f"First copy your one-time code: [bold]{start['user_code']}[/]", highlight=False)
            state.err.print(
                f"Then open {start['verification_uri_complete']} in a browser, sign in and approve.", highlight=False
            )
            state.err.print("Waiting for approval (Ctrl-C to stop)…", highlight=False)

        with ApiClient(url) as anonymous:
            token = device_login(
                anonymous, client_name=f"mediaenhancer CLI on {socket.gethostname()}"[:100], show_code=show
            )
    with ApiClient(url, token) as client:
        me = client.get("/api/auth/me")
    where = _store(state).set(url, token)
    state.out.print(f"Logged in to {url} as {me['email']} (token saved in {where}).", highlight=False)
    if state.settings.token:
        state.err.print("note: MEDIAENHANCER_TOKEN is set and wins over the saved token.", highlight=False)


def logout(
    ctx: typer.Context,
    server: ServerOption = None,
    keep_token: Annotated[
        bool, typer.Option("--keep-token", help="Only forget the token here; do not revoke it on the server.")
    ] = False,
) -> None:
    """Forget the saved token (and revoke it on the server)."""
    state = _state(ctx)
    url = _server(state, server)
    store = _store(state)
    token, _ = store.get(url)
    revoked = False
    if token and not keep_token:
        try:
            with ApiClient(url, token) as client:
                client.delete("/api/tokens/current")
            revoked = True
        except (AuthError, NotFoundError):
            pass  # already invalid
        except ServerUnreachableError:
            state.err.print(
                f"warning: {url} is unreachable; the token was forgotten here but not revoked", highlight=False
            )
    removed = store.delete(url)
    if removed:
        state.out.print(f"Logged out of {url}" + (" (token revoked)." if revoked else "."), highlight=False)
    else:
        state.out.print(f"Not logged in to {url}.", highlight=False)
    if state.settings.token:
        state.err.print("note: MEDIAENHANCER_TOKEN is still set in the environment.", highlight=False)


def whoami(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show who you are signed in as, on which server, and your plan."""
    state = _state(ctx)
    url = _server(state, server)
    token, source = _token(state, url)
    with _client(state, url, token=token) as client:
        me = client.get("/api/auth/me")
    if as_json:
        _print_json(state, {**me, "server": url, "token_source": source})
        return
    state.out.print(f"{me['email']} on {url} — plan {me['plan']['name']} (token from {source})", highlight=False)


# --- profile and usage --------------------------------------------------------------------------


def profile_show(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show your profile."""
    state = _state(ctx)
    with _client(state, server) as client:
        profile = client.get("/api/users/profile")
    if as_json:
        _print_json(state, profile)
        return
    for key in ("email", "username", "avatar_url", "created_at"):
        state.out.print(f"{key}: {profile.get(key) or '–'}", highlight=False)
    state.out.print(f"plan: {profile['plan']['name']}", highlight=False)


def profile_set(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", help="Your display name (empty to clear).")] = None,
    avatar_url: Annotated[
        str | None, typer.Option("--avatar-url", help="An https:// image URL (empty to clear).")
    ] = None,
    server: ServerOption = None,
) -> None:
    """Change profile fields."""
    state = _state(ctx)
    changes = {k: (v or None) for k, v in {"username": username, "avatar_url": avatar_url}.items() if v is not None}
    if not changes:
        raise ValidationError("nothing to change; give --username or --avatar-url")
    with _client(state, server) as client:
        profile = client.put("/api/users/profile", changes)
    state.out.print(f"updated: {', '.join(f'{k}={profile[k]!r}' for k in changes)}", highlight=False)


def _gb(n: int | None) -> str:
    return "unlimited" if n is None else f"{n / 1024**3:.2f} GB"


def usage(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show your use against your plan's limits."""
    from rich.table import Table  # noqa: PLC0415 - rich.table: 17 ms on the group's --help

    state = _state(ctx)
    with _client(state, server) as client:
        data = client.get("/api/users/usage")
    if as_json:
        _print_json(state, data)
        return
    table = Table(
        title=f"Plan {data['plan']['name']} — period from {data['period']['start'][:10]}", title_justify="left"
    )
    table.add_column("what")
    table.add_column("used", justify="right")
    table.add_column("limit", justify="right")
    table.add_row("storage", _gb(data["storage"]["used_bytes"]), _gb(data["storage"]["limit_bytes"]))
    for key in ("projects", "exports"):
        limit = data[key]["limit"]
        table.add_row(key, str(data[key]["used"]), "unlimited" if limit is None else str(limit))
    table.add_row(
        "media files", str(data["media"]["count"]), f"≤ {data['media']['max_duration_seconds'] // 60} min each"
    )
    show(state.out, table)


# --- tokens -------------------------------------------------------------------------------------------


def tokens_list(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List your API tokens (never their secrets)."""
    state = _state(ctx)
    with _client(state, server) as client:
        tokens = client.get("/api/tokens")["tokens"]
    if as_json:
        _print_json(state, tokens)
        return
    columns = (
        Col("id", "id"),
        Col("name", "name"),
        Col("token"),
        Col("created", "num"),
        Col("last used", "num"),
        Col("expires", "num"),
    )
    rows = []
    for t in tokens:
        expires = "expired" if t["expired"] else (t["expires_at"] or "never")[:10]
        rows.append(
            (t["id"], t["name"], t["prefix"] + "…", t["created_at"][:10], (t["last_used_at"] or "never")[:16], expires)
        )
    print_table(state.out, columns, rows)


def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'build server'.")],
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, max=3650, help="Expire after this many days.")
    ] = None,
    server: ServerOption = None,
) -> None:
    """Create an API token; it is printed once, as the last line."""
    state = _state(ctx)
    with _client(state, server) as client:
        created = client.post("/api/tokens", {"name": name, "expires_in_days": expires_days})
    state.err.print(
        f"token {created['id']} '{created['name']}' created; copy it now, it is not shown again:", highlight=False
    )
    state.out.file.write(created["token"] + "\n")


def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The id from `tokens list`, or its first characters.")],
    server: ServerOption = None,
) -> None:
    """Revoke an API token (its id from `tokens list`, or a unique prefix of it)."""
    state = _state(ctx)
    with _client(state, server) as client:
        full = resolve_id(client, "token", token_id)
        client.delete(f"/api/tokens/{full}")
    state.out.print(f"revoked {full}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the account commands to the `mediaenhancer` app."""
    for fn in (login, logout, whoami, usage):
        app.command(fn.__name__, rich_help_panel="Account")(handle_errors(fn))
    profile = typer.Typer(help="Show or change your profile.", no_args_is_help=True)
    profile.command("show")(handle_errors(profile_show))
    profile.command("set")(handle_errors(profile_set))
    tokens = typer.Typer(help="Manage your API tokens.", no_args_is_help=True)
    tokens.command("list")(handle_errors(tokens_list))
    tokens.command("create")(handle_errors(tokens_create))
    tokens.command("revoke")(handle_errors(tokens_revoke))
    app.add_typer(profile, name="profile", rich_help_panel="Account")
    app.add_typer(tokens, name="tokens", rich_help_panel="Account")
