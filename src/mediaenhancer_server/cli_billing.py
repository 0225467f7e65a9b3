"""`mediaenhancer-server billing ...`: Stripe administration (issue 5).

    mediaenhancer-server billing sync [--json]

`sync` re-reads every customer's subscriptions from Stripe and repairs the local state
(missed or failed webhooks). It prints one line per repaired account and a summary;
running it again right away changes nothing. Exit 70 without a Stripe key, 71 when
Stripe failed for some customer (the others are still repaired).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .cli_common import _core, handle_errors

__all__ = ["billing_app"]

billing_app = typer.Typer(help="Billing with Stripe.", no_args_is_help=True)


@billing_app.command("sync")
@handle_errors
def billing_sync(as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Re-read every customer's subscriptions from Stripe and repair what webhooks missed."""
    from mediaenhancer_core.errors import BillingProviderError  # noqa: PLC0415

    with _core() as core:
        report = core.billing.sync(progress=None if as_json else typer.echo)
    summary = report.to_dict()
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"checked {summary['customers']} customers: {len(report.changed)} repaired, "
            f"{summary['unchanged']} already right, {len(report.errors)} failed"
        )
    for error in report.errors:
        typer.echo(f"mediaenhancer-server: error: {error}", err=True)
    if report.errors:
        raise BillingProviderError(f"Stripe failed for {len(report.errors)} customers; run `billing sync` again later")
