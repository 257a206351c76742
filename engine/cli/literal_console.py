"""The rich Console of engine/cli/output.py, in its own module so that importing the CLI does not import rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from engine.cli.output import literal


class LiteralConsole(Console):
    """A rich Console that renders every string literally: no markup, no emoji, no terminal controls."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(markup=False, emoji=False, highlight=False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs.update(markup=False, emoji=False, highlight=False)
        return super().render_str(literal(text), **kwargs)
