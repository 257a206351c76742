"""Alerts: list, acknowledge, dispatch."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.base import FormatOption, OutputFormat, alerts_app, app_of, console, err, print_json


@alerts_app.command("list")
def alerts_list(ctx: typer.Context,
                open_only: Annotated[bool, typer.Option("--open", help="Only open alerts.")] = False,
                fmt: FormatOption = OutputFormat.text) -> None:
    """Alerts by valid time, with their state; --format json gives the body of GET /alerts."""
    from rich.table import Table

    from engine.alerts.queries import alerts_as_json

    listed = alerts_as_json(app_of(ctx), open_only)
    if fmt is OutputFormat.json:
        print_json(listed)
        return
    table = Table(title="alerts")
    for col in ("id", "patient", "severity", "alert", "valid time", "state", "by", "message"):
        table.add_column(col, overflow="fold")
    for a in listed["alerts"]:
        table.add_row(a["id"][:8], a["patient"], a["severity"], a["alert"], a["occurred_at"][:16], a["state"],
                      a["acknowledged_by"] or "-", a["message"])
    console.print(table)


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    alert_id: str,
    by: Annotated[str, typer.Option("--by", help="Who acknowledges.")],
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Acknowledge an alert (an AlertAcknowledged event). ID may be the first characters of the id."""
    from engine.alerts.queries import acknowledge, list_alerts

    application = app_of(ctx)
    matches = [a["id"] for a in list_alerts(application) if a["id"].startswith(alert_id)]
    if len(matches) != 1:
        err.print(f"{len(matches)} alerts match {alert_id!r}")
        raise typer.Exit(code=1)
    result = acknowledge(application, matches[0], by, note)
    console.print(f"alert {matches[0]}: {result['state']}")


@alerts_app.command("dispatch")
def alerts_dispatch(ctx: typer.Context) -> None:
    """Deliver every due alert notice to its sinks, then print the counts. For cron; exit 1 if a notice failed."""
    from engine.alerts.dispatch import dispatch_until_idle, outbox_counts

    application = app_of(ctx)
    result = dispatch_until_idle(application)
    counts = outbox_counts(application)
    console.print(f"delivered {result.delivered}, retry later {result.retried + result.deferred}, "
                  f"failed {result.failed}; outbox: {counts.get('pending', 0)} pending, "
                  f"{counts.get('delivered', 0)} delivered, {counts.get('failed', 0)} failed")
    if result.failed:
        raise typer.Exit(code=1)
