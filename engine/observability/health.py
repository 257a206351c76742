"""Readiness of `itpwatch serve` as a list of named checks, for load balancers and orchestrators.

`/health/live` answers as long as the event loop does. `/health/ready` runs every registered check and
answers 200 only when all pass, else 503; the body lists each check with its detail either way. Any part
of the server adds its own check with `Readiness.add(name, check)`; a check is a plain function run on a
worker thread (it may query the database) that returns (ok, detail). A check that raises or takes longer
than `CHECK_TIMEOUT` seconds fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

CHECK_TIMEOUT = 5.0

CheckFunction = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


class Readiness:
    def __init__(self) -> None:
        self._checks: dict[str, CheckFunction] = {}

    def add(self, name: str, check: CheckFunction) -> None:
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def run(self) -> list[CheckResult]:
        return list(await asyncio.gather(*(self._run_one(n, c) for n, c in self._checks.items())))

    @staticmethod
    async def _run_one(name: str, check: CheckFunction) -> CheckResult:
        try:
            ok, detail = await asyncio.wait_for(asyncio.to_thread(check), timeout=CHECK_TIMEOUT)
        except TimeoutError:
            return CheckResult(name, False, f"no answer within {CHECK_TIMEOUT:g} s")
        except Exception as exc:  # a failing check is a failed check, never a failed request
            return CheckResult(name, False, f"{type(exc).__name__}")
        return CheckResult(name, ok, detail)

    async def report(self) -> tuple[bool, dict[str, Any]]:
        results = await self.run()
        ready = all(r.ok for r in results)
        return ready, {"status": "ready" if ready else "not ready", "checks": [asdict(r) for r in results]}


def database_check(app: Any) -> CheckFunction:
    def check() -> tuple[bool, str]:
        from sqlalchemy import text

        with app.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, f"{app.store.engine.dialect.name} reachable"

    return check


def migrations_check(app: Any) -> CheckFunction:
    """The schema is at the newest migration this code knows (an older server beside a newer schema fails)."""
    from alembic.script import ScriptDirectory

    from engine.store.migrate import alembic_config, current_revision

    head = ScriptDirectory.from_config(alembic_config(app.store.engine)).get_current_head()

    def check() -> tuple[bool, str]:
        current = current_revision(app.store.engine)
        if current == head:
            return True, f"schema at {head}"
        return False, f"schema at {current}, this version needs {head}"

    return check


def task_check(what: str, task: Callable[[], asyncio.Task[Any] | None]) -> CheckFunction:
    """A background task of the server is running (not finished, not crashed)."""

    def check() -> tuple[bool, str]:
        running = task()
        if running is None:
            return False, f"{what} not started"
        if running.done():
            return False, f"{what} stopped"
        return True, f"{what} running"

    return check


def outbox_check(app: Any, max_lag_seconds: float) -> CheckFunction:
    """No alert notice has waited for delivery longer than the setting ready_outbox_lag_seconds."""

    def check() -> tuple[bool, str]:
        from sqlalchemy import func, select

        from engine.store.schema import alert_outbox as t
        from engine.store.timestamps import from_db

        with app.store.engine.connect() as conn:
            oldest, pending = conn.execute(
                select(func.min(t.c.created_at), func.count()).where(t.c.state == "pending")).one()
        if oldest is None:
            return True, "no notice pending"
        lag = (datetime.now(UTC) - from_db(oldest)).total_seconds()
        detail = f"{pending} pending, oldest {lag:.0f} s (limit {max_lag_seconds:g} s)"
        return lag <= max_lag_seconds, detail

    return check
