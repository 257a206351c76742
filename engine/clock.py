"""The only place itpwatch reads the wall clock: for transaction time (recorded_at), never for rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


system_clock = SystemClock()
