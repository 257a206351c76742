"""What a failed command shows: one line on stderr and an exit code, a traceback only with `--debug`.

Every command runs inside `ItpwatchGroup.invoke`, so a command added anywhere inherits this without a
line of its own. Exit codes: 2 for a usage or configuration mistake (a flag, a setting, a path, a file),
1 for a runtime failure (the database is down, a port is taken, a bug of ours). Messages never carry SQL
or its parameters: a database error is reduced to the driver's first line.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from engine.errors import ItpwatchError, database_problem, first_line

PROG = "itpwatch"


class ItpwatchGroup(TyperGroup):
    """The root command group: parses, runs the command, and turns any exception into `Problem` output."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            if _is_help(exc):
                raise
            report(exc, debug="--debug" in args or _debug_from_env())
            raise typer.Exit(code=exc.exit_code) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:
            if _is_help(exc):
                raise
            report(exc, debug=_debug(ctx))
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            _line("interrupted")
            raise typer.Exit(code=130) from None
        except Exception as exc:
            raise typer.Exit(code=report(exc, debug=_debug(ctx))) from None


def _is_help(exc: BaseException) -> bool:
    """`itpwatch` alone (no_args_is_help) raises a usage error whose message is the help text: keep it."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def _debug(ctx: Any) -> bool:
    return bool(ctx.find_root().params.get("debug")) or _debug_from_env()


def _debug_from_env() -> bool:
    return os.environ.get("ITPWATCH_DEBUG", "").lower() in ("1", "true", "yes")


def report(exc: BaseException, *, debug: bool) -> int:
    """Print what went wrong (the traceback first when debugging) and return the exit code."""
    code, message = explain(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    elif code == 1 and not isinstance(exc, ItpwatchError):
        message += " (run again with --debug for the traceback)"
    _line(message)
    return code


def _line(message: str) -> None:
    """One line, plain text: no terminal markup is interpreted, newlines inside the message are folded."""
    sys.stderr.write(f"{PROG}: error: {' '.join(message.split())}\n")
    sys.stderr.flush()


def explain(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an exception. Libraries are looked at only if they were imported."""
    if isinstance(exc, ItpwatchError):
        return exc.exit_code, str(exc)
    if isinstance(exc, typer.TyperException):
        return exc.exit_code, _usage(exc)
    for explainer in (_database, _profile, _yaml, _os):
        found = explainer(exc)
        if found is not None:
            return found
    return 1, f"internal error ({type(exc).__name__})"


def _usage(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else PROG
    return f"{exc.format_message()} (see '{path} --help')"


def _database(exc: BaseException) -> tuple[int, str] | None:
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError):
        return 2, f"database_url: {first_line(str(exc))}; use sqlite:///path.db or postgresql://user@host/db"
    if isinstance(exc, sa.DBAPIError):
        problem = database_problem(exc.orig)
        return problem.exit_code, str(problem)
    if isinstance(exc, sa.SQLAlchemyError):
        return 1, f"database error ({type(exc).__name__}); run again with --debug for details"
    return None


def _profile(exc: BaseException) -> tuple[int, str] | None:
    profile_error = getattr(sys.modules.get("rules.profile"), "ProfileError", None)
    if profile_error is not None and isinstance(exc, profile_error):
        return 2, f"profile: {first_line(str(exc))}; use site, iwg2009 or the path of a profile YAML file"
    return None


def _yaml(exc: BaseException) -> tuple[int, str] | None:
    yaml_error = getattr(sys.modules.get("yaml"), "YAMLError", None)
    if yaml_error is not None and isinstance(exc, yaml_error):
        return 2, f"not valid YAML: {' '.join(str(exc).split())}"
    return None


def _os(exc: BaseException) -> tuple[int, str] | None:
    if not isinstance(exc, OSError):
        return None
    if exc.errno == errno.EADDRINUSE:
        return 1, f"address already in use: {exc.strerror}; choose another port or stop the other listener"
    name = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError | PermissionError):
        return 2, f"cannot use{name}: {reason}; check the path"
    return 1, f"operating system error{name}: {reason}"
