"""The CLI's one way to the terminal: whatever a feed sent is printed as the characters it is.

An MRN of `[/x]` once made `status` fail for the whole database (rich read it as a closing markup tag), and
an ESC in a unit could recolour or rewrite the operator's terminal. Escaping at every call site cannot be
kept true while commands are added, so the consoles here refuse markup and emoji for every string they
render (also table cells and titles, which rich renders through the same `render_str`), and show control
characters as visible escapes. Styling is done with `styled()`, which never parses its text.

The consoles are made on first use (rich is imported then): `itpwatch --help` and the JSON outputs never
import rich.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""C0/C1 controls except tab and newline, and the bidirectional overrides that reorder what is shown."""


def literal(text: str) -> str:
    """The text with every control character written as a visible escape (ESC -> `\\x1b`)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def styled(text: object, style: str = "") -> Text:
    """A styled piece of output whose text is never read as markup (f-strings with feed text are safe)."""
    from rich.text import Text

    return Text(literal(str(text)), style=style)


def stdout_console() -> Console:
    from engine.cli.literal_console import LiteralConsole

    return LiteralConsole(width=None if sys.stdout.isatty() else 160)


def stderr_console() -> Console:
    from engine.cli.literal_console import LiteralConsole

    return LiteralConsole(stderr=True)


class _OnFirstUse:
    """Stands for a console and makes it on first use."""

    def __init__(self, make: Callable[[], Console]) -> None:
        self._make = make
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = self._make()
        return getattr(self._console, name)


console = cast("Console", _OnFirstUse(stdout_console))
err = cast("Console", _OnFirstUse(stderr_console))
