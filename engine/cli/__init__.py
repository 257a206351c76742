"""The itpwatch command line: one typer app, its commands grouped by what they are for.

Each command builds an App from Settings and calls one service; importing the modules registers them.
"""

from engine.cli import alerts, audit, feeds, reading  # noqa: F401  (registers the commands)
from engine.cli.base import app

__all__ = ["app"]
