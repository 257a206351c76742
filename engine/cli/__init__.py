"""The itpwatch command line: one typer app, its commands grouped by what they are for.

Each command builds an App from Settings and calls one service. Importing a module registers its
commands; `itpwatch --help` lists them in this order: feeds in, reading, audit, alerts, web app.
"""

from importlib import import_module

from engine.cli.base import app

for _module in ("feeds", "reading", "audit", "alerts", "web", "operate"):
    import_module(f"engine.cli.{_module}")

__all__ = ["app"]
