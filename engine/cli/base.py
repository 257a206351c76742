"""The typer app, its global options and what every command shares (console, the App, time parsing).

Importing this module must stay cheap: `itpwatch --help` imports the CLI and nothing else. The settings,
the store and everything behind them are built on first use by `app_of` (a command that needs them
calls it first), so a bad setting is reported by the first command that needs the settings.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli.errors import ItpwatchGroup
from engine.cli.output import console, err  # every command prints through these: feed text stays literal

if TYPE_CHECKING:
    from engine.app import App
    from engine.config import Settings

app = typer.Typer(cls=ItpwatchGroup, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False, help="Watch ITP patients from hospital feeds.")
"""Plain help text (rich_markup_mode=None): rendering it with rich doubled the time of `itpwatch --help`."""
dead_letters_app = typer.Typer(no_args_is_help=True, help="Messages that could not be accepted.")
alerts_app = typer.Typer(no_args_is_help=True, help="Clinical alerts: list, acknowledge, dispatch.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models built from the log.")
config_app = typer.Typer(no_args_is_help=True, help="The effective settings and where each comes from.")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(alerts_app, name="alerts")
app.add_typer(projections_app, name="projections")
app.add_typer(config_app, name="config")


class OutputFormat(StrEnum):
    """Human-readable text, or JSON for scripts (shapes documented in docs/cli-output.md)."""

    text = "text"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="text or json.")]


def print_json(data: Any) -> None:
    """JSON on stdout through json.dumps only: feed text in it is never read as terminal markup."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def plain_err(line: str) -> None:
    """One plain line on stderr (no markup is interpreted)."""
    sys.stderr.write(line + "\n")


FLAGS = {"database_url": "--db", "profile": "--profile", "timezone": "--tz", "mapping": "--mapping",
         "log_format": "--log-format", "log_level": "--log-level", "sinks": "--sinks",
         "batch_size": "--batch-size", "bind_host": "--host", "http_token": "--token", "mllp_port": "--mllp-port",
         "http_port": "--http-port", "watch_interval_seconds": "--interval",
         "watch_stable_seconds": "--stable-seconds", "watch_done_suffix": "--done-suffix"}
"""The flag that sets a setting, named in error messages and by `config show`."""


@dataclass
class CliState:
    """What the global options asked for; settings and App are built from it on first use."""

    config_file: Path | None
    flags: dict[str, Any]
    debug: bool = False
    _settings: Settings | None = None
    _app: App | None = None
    given: dict[str, Any] = field(default_factory=dict)

    def settings(self, **command_flags: Any) -> Settings:
        """Built once; a command's own flags given later rebuild them as long as no App uses them yet."""
        new = {k: v for k, v in command_flags.items() if v is not None and self.given.get(k) != v}
        if new and self._settings is not None:
            if self._app is not None:
                raise RuntimeError(f"settings {sorted(new)} given after the App was built")
            self._settings = None
            self.flags = {**self.flags, **self.given, **new}
        if self._settings is None:
            from engine import logs
            from engine.config import load_settings, unknown_environment

            self.given = {k: v for k, v in {**self.flags, **command_flags}.items() if v is not None}
            self._settings = load_settings(self.config_file, labels=FLAGS, **self.given)
            logs.configure(self._settings.log_format, self._settings.log_level)
            for name in unknown_environment():
                sys.stderr.write(f"itpwatch: warning: {name} is not a setting and is ignored "
                                 "(docs/configuration.md lists them)\n")
        return self._settings

    def app(self, **command_flags: Any) -> App:
        if self._app is None:
            from engine.app import App

            self._app = App(self.settings(**command_flags))
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"itpwatch {version('itpwatch')}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML config file (env ITPWATCH_CONFIG); docs/configuration.md.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (env ITPWATCH_DATABASE_URL).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Rule profile: site, iwg2009 or a path.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Site time zone (default Europe/Berlin).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Site mapping YAML.")] = None,
    sinks: Annotated[Path | None, typer.Option("--sinks", help="Alert sink configuration YAML.")] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="json, console or auto.")] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = CliState(config, {"database_url": db, "profile": profile, "timezone": tz, "mapping": mapping,
                                     "sinks": sinks, "log_format": log_format, "log_level": log_level}, debug)
    ctx.call_on_close(ctx.obj.close)


def state_of(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def app_of(ctx: typer.Context, **command_flags: Any) -> App:
    """The App of this run, built on first use; a command's own setting flags (None: not given) go on top."""
    return state_of(ctx).app(**command_flags)


def parse_ts(value: str | None, ctx: typer.Context | None = None) -> datetime | None:
    """An ISO timestamp; without a UTC offset it is taken in the site time zone (of `ctx`'s settings)."""
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO timestamp: {value!r} (e.g. 2024-06-01T08:00:00+02:00)") from exc
    if ts.tzinfo is None:
        from zoneinfo import ZoneInfo

        if ctx is not None:
            zone = state_of(ctx).settings().timezone
        else:
            from engine.config import load_settings

            zone = load_settings().timezone
        ts = ts.replace(tzinfo=ZoneInfo(zone))
    return ts


__all__ = ["FormatOption", "OutputFormat", "alerts_app", "app", "app_of", "config_app", "console", "dead_letters_app",
           "err", "parse_ts", "plain_err", "print_json", "projections_app", "state_of"]
