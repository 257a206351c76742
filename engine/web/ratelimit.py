"""Login throttling: after too many failed attempts for one user name or from one address, wait.

Kept in the server's memory: a restart forgets it, which a password guesser cannot cause from outside.
Failed attempts are also written to the access log, where an auditor sees them. An address may fail
ADDRESS_FACTOR times as often as a user name: a ward's PCs often share one address behind a proxy.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

ADDRESS_FACTOR = 4


class LoginThrottle:
    def __init__(self, attempts: int, window: timedelta) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures[key]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def wait(self, keys: list[str], now: datetime) -> timedelta | None:
        """How long until another attempt is allowed, or None when one is allowed now."""
        longest: timedelta | None = None
        for key in keys:
            times = self._recent(key, now)
            limit = self.attempts * (ADDRESS_FACTOR if key.startswith("addr:") else 1)
            if len(times) >= limit:
                left = times[0] + self.window - now
                longest = left if longest is None or left > longest else longest
        return longest

    def failed(self, keys: list[str], now: datetime) -> None:
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
