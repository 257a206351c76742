"""The CLI's one way to the terminal: whatever a feed sent is printed as the characters it is.

An MRN of `[/x]` once made `status` fail for the whole database (rich read it as a closing markup tag), and
an ESC in a unit could recolour or rewrite the operator's terminal. Escaping at every call site cannot be
kept true while commands are added, so the consoles here refuse markup and emoji for every string they
render (also table cells and titles, which rich renders through the same `render_str`), and show control
characters as visible escapes. Styling is done with `styled()`, which never parses its text.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""C0/C1 controls except tab and newline, and the bidirectional overrides that reorder what is shown."""


def literal(text: str) -> str:
    """The text with every control character written as a visible escape (ESC -> `\\x1b`)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def styled(text: object, style: str = "") -> Text:
    """A styled piece of output whose text is never read as markup (f-strings with feed text are safe)."""
    return Text(literal(str(text)), style=style)


class LiteralConsole(Console):
    """A rich Console that renders every string literally: no markup, no emoji, no terminal controls."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(markup=False, emoji=False, highlight=False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs.update(markup=False, emoji=False, highlight=False)
        return super().render_str(literal(text), **kwargs)


def stdout_console() -> LiteralConsole:
    return LiteralConsole(width=None if sys.stdout.isatty() else 160)


def stderr_console() -> LiteralConsole:
    return LiteralConsole(stderr=True)


console = stdout_console()
err = stderr_console()
