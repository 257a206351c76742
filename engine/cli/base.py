"""The typer app, its global options and what every command shares (console, the App, time parsing)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from engine import logs
from engine.app import App
from engine.cli.output import console, err  # every command prints through these: feed text stays literal
from engine.config import load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Watch ITP patients from hospital feeds.",
                  pretty_exceptions_show_locals=False)  # locals of a failing frame may hold patient data
dead_letters_app = typer.Typer(no_args_is_help=True, help="Messages that could not be accepted.")
alerts_app = typer.Typer(no_args_is_help=True, help="Clinical alerts: list, acknowledge, dispatch.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models built from the log.")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(alerts_app, name="alerts")
app.add_typer(projections_app, name="projections")

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (env ITPWATCH_DATABASE_URL).")]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="Rule profile: site, iwg2009 or a path.")]


@app.callback()
def main(
    ctx: typer.Context,
    db: DbOption = None,
    profile: ProfileOption = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Site time zone (default Europe/Berlin).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Site mapping YAML.")] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="json, console or auto.")] = None,
    sinks: Annotated[Path | None, typer.Option("--sinks", help="Alert sink configuration YAML.")] = None,
) -> None:
    settings = load_settings(database_url=db, profile=profile, timezone=tz, mapping=mapping, log_format=log_format,
                             sinks=sinks)
    logs.configure(settings.log_format, settings.log_level)
    ctx.obj = App(settings)
    ctx.call_on_close(ctx.obj.close)


def app_of(ctx: typer.Context) -> App:
    obj = ctx.find_root().obj
    assert isinstance(obj, App)
    return obj


def parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO timestamp: {value!r}") from exc
    if ts.tzinfo is None:
        from zoneinfo import ZoneInfo

        ts = ts.replace(tzinfo=ZoneInfo(load_settings().timezone))
    return ts


__all__ = ["alerts_app", "app", "app_of", "console", "dead_letters_app", "err", "parse_ts", "projections_app"]
