from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection

from engine.store import StoredEvent


class Projection(Protocol):
    """A read model: applies events in position order; reset() empties its tables for a rebuild."""

    name: str

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None: ...

    def reset(self, conn: Connection) -> None: ...
