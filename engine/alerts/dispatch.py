"""The dispatcher: delivers due outbox rows to their sinks, at least once, in short transactions.

One round (`dispatch_once`):

1. claim - one short write transaction selects due rows (state 'pending', next_attempt_at <= now; on
   PostgreSQL with FOR UPDATE SKIP LOCKED, on SQLite under BEGIN IMMEDIATE) and sets each row's
   next_attempt_at to a lease: the time by which its delivery will have ended. A second dispatcher
   (cron beside `serve`) skips leased rows. If the process dies before a claimed row was delivered,
   the row is still 'pending' and is due again when its lease runs out.
2. deliver - rows are grouped by sink; each sink's rows go out in id order on a thread of their own,
   so a slow or dead sink never delays the others. A 'withdrawn' notice is not claimed while the
   'raised' notice of the same alert to the same sink is still pending: a receiver hears of an alert
   before it hears that it was withdrawn.
3. record - after each delivery, its own short transaction marks the row 'delivered' (only after the
   sink acknowledged) or counts the failed attempt: next_attempt_at = now + min(2**attempts s, cap),
   'failed' after max_attempts. After a failure the sink's remaining claimed rows are put back
   unattempted until the same time (the sink is down; no point in hammering it).

A 'delivered' row is never selected again, so nothing is sent twice except in the one window that no
outbox can close: the sink acknowledged and the process died before the commit. The idempotency key
(HTTP header, e-mail Message-ID) lets the receiver drop that repeat.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, exists, func, select, update

from engine.alerts.config import SinkConfig, SinksFile
from engine.alerts.sinks import Sink, build_sinks, close_sinks
from engine.app import App
from engine.logs import get_logger
from engine.store.schema import alert_outbox
from engine.store.timestamps import to_db

log = get_logger("itpwatch.alerts.dispatch")

LEASE_MARGIN_SECONDS = 10.0
"""Added to a sink's timeout for each claimed row: the lease outlasts a delivery that times out."""

DEFAULT_SINK = SinkConfig(name="unconfigured", kind="log")
"""Retry policy for rows of a sink that is no longer configured: they fail after its max_attempts."""


@dataclass(frozen=True)
class DispatchResult:
    delivered: int = 0
    """Rows a sink acknowledged in this round."""
    failed: int = 0
    """Rows that used their last attempt in this round and are now 'failed'."""
    retried: int = 0
    """Rows whose attempt failed in this round and that wait for their next attempt."""
    deferred: int = 0
    """Claimed rows put back unattempted because an earlier row of the same sink failed."""

    @property
    def claimed(self) -> int:
        return self.delivered + self.failed + self.retried + self.deferred

    def __add__(self, other: DispatchResult) -> DispatchResult:
        return DispatchResult(self.delivered + other.delivered, self.failed + other.failed,
                              self.retried + other.retried, self.deferred + other.deferred)


@dataclass(frozen=True)
class _Row:
    id: int
    sink: str
    notice: str
    idempotency_key: str
    body: str
    attempts: int


def backoff(attempts: int, cap_seconds: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 2, 4, 8, ... seconds, at most `cap_seconds`."""
    return timedelta(seconds=min(2.0 ** min(attempts, 30), cap_seconds))


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _due(dialect: str, now: datetime) -> ColumnElement[bool]:
    t = alert_outbox
    raised = alert_outbox.alias("raised_notice")
    raised_pending = exists().where(
        raised.c.alert_event_id == t.c.alert_event_id,
        raised.c.sink == t.c.sink,
        raised.c.notice == "raised",
        raised.c.state == "pending",
    )
    return and_(
        t.c.state == "pending",
        t.c.next_attempt_at <= to_db(now, dialect),
        ~and_(t.c.notice == "withdrawn", raised_pending),
    )


def _claim(engine: Engine, now: datetime, limit: int, configs: SinksFile) -> list[_Row]:
    dialect = engine.dialect.name
    t = alert_outbox
    due = _due(dialect, now)
    with engine.connect() as conn:  # cheap look first: no write lock while nothing is due
        if conn.execute(select(t.c.id).where(due).limit(1)).first() is None:
            return []
    query = (
        select(t.c.id, t.c.sink, t.c.notice, t.c.idempotency_key, t.c.body, t.c.attempts)
        .where(due)
        .order_by(t.c.id)
        .limit(limit)
    )
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=t)
    with engine.connect().execution_options(itpwatch_write=True) as conn, conn.begin():
        rows = [_Row(*r) for r in conn.execute(query).all()]
        leases: dict[str, datetime] = {}
        for row in rows:
            config = configs.get(row.sink) or DEFAULT_SINK
            lease = leases.get(row.sink, now) + timedelta(seconds=config.timeout_seconds + LEASE_MARGIN_SECONDS)
            leases[row.sink] = lease
            conn.execute(update(t).where(t.c.id == row.id).values(next_attempt_at=to_db(lease, dialect)))
    return rows


def _mark_delivered(engine: Engine, row: _Row, at: datetime) -> None:
    dialect = engine.dialect.name
    t = alert_outbox
    with engine.connect().execution_options(itpwatch_write=True) as conn, conn.begin():
        conn.execute(
            update(t)
            .where(t.c.id == row.id, t.c.state == "pending")
            .values(state="delivered", delivered_at=to_db(at, dialect), attempts=t.c.attempts + 1, last_error=None)
        )


def _mark_failed_attempt(engine: Engine, row: _Row, at: datetime, error: str, config: SinkConfig) -> datetime | None:
    """Count the failed attempt; returns the time of the next one, or None if the row is now 'failed'."""
    dialect = engine.dialect.name
    t = alert_outbox
    attempts = row.attempts + 1
    next_at: datetime | None = at + backoff(attempts, config.backoff_cap_seconds)
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:1000]}
    if attempts >= config.max_attempts:
        values["state"] = "failed"
        next_at = None
    else:
        assert next_at is not None
        values["next_attempt_at"] = to_db(next_at, dialect)
    with engine.connect().execution_options(itpwatch_write=True) as conn, conn.begin():
        conn.execute(update(t).where(t.c.id == row.id, t.c.state == "pending").values(**values))
    return next_at


def _defer(engine: Engine, rows: Sequence[_Row], until: datetime) -> None:
    if not rows:
        return
    dialect = engine.dialect.name
    t = alert_outbox
    with engine.connect().execution_options(itpwatch_write=True) as conn, conn.begin():
        conn.execute(
            update(t)
            .where(t.c.id.in_([r.id for r in rows]), t.c.state == "pending")
            .values(next_attempt_at=to_db(until, dialect))
        )


def _deliver_sink_rows(app: App, sink_name: str, rows: Sequence[_Row], sink: Sink | None,
                       config: SinkConfig, now: datetime | None) -> DispatchResult:
    engine = app.store.engine
    delivered = failed = retried = 0
    for index, row in enumerate(rows):
        try:
            if sink is None:
                raise LookupError(f"sink {sink_name!r} is not configured")
            sink.deliver(json.loads(row.body), row.idempotency_key)
        except Exception as exc:  # any failure of a sink is a failed attempt
            at = now or app.clock.now()
            error = f"{type(exc).__name__}: {exc}"
            next_at = _mark_failed_attempt(engine, row, at, error, config)
            log.warning("alert delivery failed", sink=sink_name, attempt=row.attempts + 1,
                        exc_type=type(exc).__name__, status="failed" if next_at is None else "retry")
            if next_at is None:
                failed += 1
                continue  # this row is done with; the next one may succeed
            retried += 1
            rest = rows[index + 1:]
            _defer(engine, rest, next_at)
            return DispatchResult(delivered, failed, retried, len(rest))
        _mark_delivered(engine, row, now or app.clock.now())
        delivered += 1
    return DispatchResult(delivered, failed, retried)


def dispatch_once(app: App, *, now: datetime | None = None, limit: int = 100,
                  sinks: Mapping[str, Sink] | None = None) -> DispatchResult:
    """Claim up to `limit` due rows, deliver them, record the outcome. `now` fixes the clock (tests)."""
    configs: SinksFile = app.sinks
    at = _aware(now) if now is not None else None
    rows = _claim(app.store.engine, at or app.clock.now(), limit, configs)
    if not rows:
        return DispatchResult()
    own = sinks is None
    active: Mapping[str, Sink] = build_sinks(configs) if sinks is None else sinks
    try:
        by_sink: dict[str, list[_Row]] = defaultdict(list)
        for row in rows:
            by_sink[row.sink].append(row)
        def run(name: str) -> DispatchResult:
            return _deliver_sink_rows(app, name, by_sink[name], active.get(name),
                                      configs.get(name) or DEFAULT_SINK, at)

        if len(by_sink) == 1:
            results = [run(next(iter(by_sink)))]
        else:  # one thread per sink: a slow sink does not delay the others
            with ThreadPoolExecutor(max_workers=len(by_sink), thread_name_prefix="itpwatch-alert") as pool:
                results = list(pool.map(run, list(by_sink)))
    finally:
        if own:
            close_sinks(active)
    total = sum(results, DispatchResult())
    if total.delivered or total.failed:
        log.info("alerts dispatched", delivered=total.delivered, failed=total.failed)
    return total


def dispatch_until_idle(app: App, *, now: datetime | None = None, limit: int = 100) -> DispatchResult:
    """Rounds until nothing is due (rows waiting for a retry later stay pending): `itpwatch alerts dispatch`."""
    sinks = build_sinks(app.sinks)
    total = DispatchResult()
    try:
        while True:
            result = dispatch_once(app, now=now, limit=limit, sinks=sinks)
            total = total + result
            if result.claimed == 0:
                return total
    finally:
        close_sinks(sinks)


def outbox_counts(app: App) -> dict[str, int]:
    """Rows by state ('pending', 'delivered', 'failed')."""
    t = alert_outbox
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(t.c.state, func.count()).group_by(t.c.state)).all()
    return {str(state): int(n) for state, n in rows}


async def run_dispatcher(app: App, stop: asyncio.Event, interval: float = 0.2,
                         wake: asyncio.Event | None = None) -> None:
    """Inside `itpwatch serve`: a round every `interval` seconds (at once again while rows remain) until stop.

    `wake` is set by the server after a commit that queued alert notices, so delivery does not wait for
    the next polling round (bench/ measured the polling interval as most of the alert latency).
    """
    limit = 100
    sinks = build_sinks(app.sinks)
    try:
        while not stop.is_set():
            try:
                result = await asyncio.to_thread(dispatch_once, app, limit=limit, sinks=sinks)
            except Exception as exc:  # a database hiccup must not end the dispatcher
                log.error("alert dispatch round failed", exc_type=type(exc).__name__)
                result = DispatchResult()
            if result.claimed >= limit:
                continue
            waiters = [asyncio.ensure_future(stop.wait())]
            if wake is not None:
                waiters.append(asyncio.ensure_future(wake.wait()))
            _done, pending = await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if wake is not None:
                wake.clear()
    finally:
        close_sinks(sinks)
