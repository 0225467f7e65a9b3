"""Billing commands of `mediaenhancer`: plans, subscription, upgrade, cancel, resume, billing portal.

Each command makes one API call to the account server and renders the answer. `upgrade`
and `billing portal` print a Stripe URL (the last line of stdout) and open it in a
browser only when one can be shown: a terminal on stdout, a display (macOS, Windows, or
DISPLAY / WAYLAND_DISPLAY on other systems), and no --no-browser.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from .account import JsonOption, ServerOption, _client, _print_json
from .app import State, _state, handle_errors
from .tables import show

__all__ = ["can_open_browser", "register"]

NoBrowserOption = Annotated[bool, typer.Option("--no-browser", help="Only print the URL; do not open a browser.")]


def can_open_browser(environ: Mapping[str, str], platform: str, stdout_is_tty: bool) -> bool:
    """Whether a browser window can be shown to the person at this terminal."""
    if not stdout_is_tty:
        return False  # piped, scripted or under test: print only
    if platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _open(state: State, url: str, no_browser: bool) -> None:
    state.out.file.write(url + "\n")
    if no_browser or not can_open_browser(os.environ, sys.platform, sys.stdout.isatty()):
        return

    if webbrowser.open(url):
        state.err.print("Opened it in your browser.", highlight=False, soft_wrap=True)


def _price(plan: dict[str, Any]) -> str:
    cents = plan["price_cents"]
    return "free" if not cents else f"${cents / 100:.2f}/{plan['interval']}"


def _limit(value: int | None, unit: str = "") -> str:
    return "unlimited" if value is None else f"{value}{unit}"


def _gb(n: int | None) -> str:
    return "unlimited" if n is None else f"{n / 1024**3:.0f} GB"


def plans(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List the plans, their prices and limits (no login needed)."""
    from rich.table import Table  # noqa: PLC0415 - rich.table: 17 ms on the group's --help

    state = _state(ctx)
    with _client(state, server, token="") as client:
        data = client.get("/api/subscriptions/plans", auth=False)
    if as_json:
        _print_json(state, data)
        return
    table = Table(title_justify="left")
    for col in ("plan", "price", "storage", "projects", "exports/mo", "longest"):
        table.add_column(col, no_wrap=True)
    for p in data["plans"]:
        limits = p["limits"]
        table.add_row(
            p["id"],
            _price(p),
            _gb(limits["storage_bytes"]),
            _limit(limits["projects"]),
            _limit(limits["exports_per_month"]),
            f"{limits['media_duration_seconds'] // 60} min",
        )
    show(state.out, table)
    state.err.print("Subscribe with `mediaenhancer upgrade PLAN`.", highlight=False, soft_wrap=True)


def _describe(state: State, data: dict[str, Any]) -> None:
    sub = data.get("subscription")
    state.out.print(f"plan: {data['plan']['name']} ({_price(data['plan'])})", highlight=False, soft_wrap=True)
    if sub is None:
        state.out.print("subscription: none", highlight=False, soft_wrap=True)
        return
    end = (sub.get("current_period_end") or "")[:10]
    line = f"subscription: {sub['plan']['name']}, {sub['status']}"
    if sub["managed_by"] == "admin":
        line += " (set by the server's administrator)"
    elif sub["status"] == "past_due":
        line += f"; a payment failed, the plan stays until {(sub.get('grace_until') or '')[:10]} — update your card with `mediaenhancer billing portal`"
    elif sub["cancel_at_period_end"] and end:
        line += f"; ends on {end} (undo with `mediaenhancer resume`)"
    elif end:
        line += f"; renews on {end}"
    state.out.print(line, highlight=False, soft_wrap=True)


def subscription(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show your plan, its status and period, and its limits."""
    _show_subscription(ctx, server, as_json, "GET", "/api/subscriptions/current")


def _show_subscription(ctx: typer.Context, server: str | None, as_json: bool, method: str, path: str) -> None:
    """Call one subscription endpoint and show the subscription it answers with."""
    state = _state(ctx)
    with _client(state, server) as client:
        data = client.get(path) if method == "GET" else client.post(path)
    if as_json:
        _print_json(state, data)
        return
    _describe(state, data)


def upgrade(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan to subscribe to (see `mediaenhancer plans`), e.g. creator.")],
    server: ServerOption = None,
    no_browser: NoBrowserOption = False,
) -> None:
    """Subscribe to a paid plan: prints the Stripe Checkout URL (and opens it where a browser can)."""
    state = _state(ctx)
    with _client(state, server) as client:
        data = client.post("/api/subscriptions/checkout", {"plan": plan.strip().lower()})
    state.err.print(
        f"Pay for {data['plan']['name']} on Stripe at this address; your plan changes once you have paid:",
        highlight=False,
        soft_wrap=True,
    )
    _open(state, data["url"], no_browser)


def cancel(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Cancel your subscription at the end of the paid period (nothing is deleted; `resume` undoes it)."""
    _show_subscription(ctx, server, as_json, "POST", "/api/subscriptions/cancel")


def resume(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Keep a subscription you canceled, before its period ends."""
    _show_subscription(ctx, server, as_json, "POST", "/api/subscriptions/resume")


def billing_portal(ctx: typer.Context, server: ServerOption = None, no_browser: NoBrowserOption = False) -> None:
    """Open Stripe's billing portal: payment methods, invoices, plan changes."""
    state = _state(ctx)
    with _client(state, server) as client:
        data = client.post("/api/subscriptions/portal")
    state.err.print("Your billing portal (the link works for a short time):", highlight=False, soft_wrap=True)
    _open(state, data["url"], no_browser)


def register(app: typer.Typer) -> None:
    """Add the billing commands to the `mediaenhancer` app."""
    for fn in (plans, subscription, upgrade, cancel, resume):
        app.command(fn.__name__, rich_help_panel="Billing")(handle_errors(fn))
    group = typer.Typer(help="Payment methods and invoices (Stripe).", no_args_is_help=True)
    group.command("portal")(handle_errors(billing_portal))
    app.add_typer(group, name="billing", rich_help_panel="Billing")
