"""`python -m engine.cli`: the same as the `itpwatch` console script."""

from engine.cli import app

app()
