"""Operating itpwatch: the effective settings (`config show`) and the database schema (`migrate`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.cli.base import FLAGS, FormatOption, OutputFormat, app, app_of, config_app, console, print_json, state_of


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    fmt: FormatOption = OutputFormat.text,
    defaults: Annotated[bool, typer.Option("--defaults/--no-defaults", help="Also list settings left at their "
                                           "default.")] = True,
) -> None:
    """Print every setting as a config file line (secrets as ***), with its origin: flag, environment, file."""
    from engine.config import effective

    state = state_of(ctx)
    settings = state.settings()
    rows = effective(settings, config_file=state.config_file, given=state.given, labels=FLAGS)
    if not defaults:
        rows = [row for row in rows if row[2] != "default"]
    if fmt is OutputFormat.json:
        print_json({key: {"value": value, "from": origin} for key, value, origin in rows})
        return
    for key, value, origin in rows:
        line = f"# {key} is not set" if value is None else f"{key} = {_toml(value)}"
        console.print(f"{line:<60} # {origin}", markup=False, highlight=False, soft_wrap=True)


def _toml(value: object) -> str:
    """A TOML literal: JSON's strings, numbers and booleans are valid TOML (lists too, of those)."""
    return json.dumps(value, ensure_ascii=True)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the database schema to this version's migrations, then print the revision. For upgrades.

    Every command does this on first use; run it once after an upgrade, before starting the services.
    """
    from engine.store.migrate import current_revision

    application = app_of(ctx)
    revision = current_revision(application.store.engine)  # opening the store ran the migrations
    console.print(f"database schema at revision {revision}", markup=False)
