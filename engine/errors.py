"""The two kinds of failure a person running itpwatch can act on, each with its exit code.

Code that knows *which* setting, file or service is at fault raises one of these with a message that
names it and says what to do; the CLI (engine/cli/errors.py) prints that message as one line on stderr
and exits with the code. Everything else is a bug of ours and gets a traceback only with `--debug`.
"""

from __future__ import annotations


class ItpwatchError(Exception):
    """A failure the user can act on. The message is one line: what is wrong, where, and what to do."""

    exit_code = 1


class ConfigError(ItpwatchError):
    """A mistake in a setting, a flag, a path or a file the user gave (exit code 2: usage/configuration)."""

    exit_code = 2


class ServiceUnavailable(ItpwatchError):
    """Something we depend on is not there right now: the database is down, a port is taken (exit code 1)."""

    exit_code = 1


def database_problem(orig: BaseException | None, url: str | None = None) -> ItpwatchError:
    """A database driver's error as a person can act on it: a wrong setting (2) or a server not there now (1).

    Only the driver's first line is kept: SQLAlchemy appends the statement and its parameters.
    """
    text = first_line(str(orig)) if orig is not None else "unknown error"
    where = f" {url}" if url else ""
    lowered = text.lower()
    if "unable to open database file" in lowered:
        return ConfigError(f"database_url: cannot open the SQLite database{where}: its folder does not exist or is "
                           "not writable; create the folder or set --db / ITPWATCH_DATABASE_URL to another path")
    if "database is locked" in lowered:
        return ServiceUnavailable(f"the SQLite database{where} is locked by another process; try again")
    if "does not exist" in lowered or "authentication failed" in lowered or "no password supplied" in lowered:
        return ConfigError(f"database_url: the database server refused{where}: {text}; "
                           "correct the URL, user or password, or create the database")
    if "readonly" in lowered or "read-only" in lowered:
        return ConfigError(f"database_url: the database{where} is read-only: {text}")
    return ServiceUnavailable(f"database{where} not reachable: {text}; is the server running? "
                              "(nothing was changed; the command can be repeated)")


def first_line(text: str) -> str:
    """The first line of a message, without SQLAlchemy's '[SQL: ...]' and '(Background ...)' tails."""
    stripped = text.strip()
    line = stripped.splitlines()[0] if stripped else ""
    for marker in ("[SQL:", "(Background on this error"):
        line = line.split(marker)[0]
    return line.strip()
