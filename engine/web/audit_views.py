"""The audit page: the last `verify` runs, a patient's state as known at a recorded time, the access log.

`itpwatch verify` and the page's "run verify now" both record their result in verify_runs (append-only),
so the page can say when the log was last checked and what was found.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from sqlalchemy import insert, select

from engine.app import App
from engine.projections.status import status_row
from engine.store.schema import verify_runs
from engine.store.timestamps import from_db, to_db
from engine.web.wording import words
from events import CANONICAL_SET, DerivationRevised, DerivedEvent, Event


@dataclass(frozen=True)
class VerifyRun:
    started_at: datetime
    finished_at: datetime
    ok: bool
    events: int
    differences: int
    summary: str
    by: str


def run_verify(app: App, by: str) -> VerifyRun:
    """verify_all as the CLI runs it, its printed lines kept as the summary, the result recorded."""
    from engine.verification import verify_all

    started = app.clock.now()
    buffer = io.StringIO()
    ok = verify_all(app, Console(file=buffer, width=200, color_system=None, no_color=True))
    return record_verify(app, started=started, ok=ok, summary=buffer.getvalue(), by=by)


def record_verify(app: App, *, started: datetime, ok: bool, summary: str, by: str) -> VerifyRun:
    """Keep the result of a verify run; the number of differences is read from verify_all's own line."""
    summary = summary.strip()
    differences = 0
    for line in summary.splitlines():
        if "differences between stored and re-derived" in line and line.split()[0].isdigit():
            differences = int(line.split()[0])
    run = VerifyRun(started, app.clock.now(), ok, app.store.head(), differences, summary[:20000], by)
    dialect = app.store.dialect
    with app.store.engine.begin() as conn:
        conn.execute(insert(verify_runs).values(
            started_at=to_db(run.started_at, dialect), finished_at=to_db(run.finished_at, dialect), ok=run.ok,
            events=run.events, differences=run.differences, summary=run.summary, by=run.by[:100]))
    return run


def verify_history(app: App, limit: int = 10) -> list[VerifyRun]:
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(verify_runs).order_by(verify_runs.c.id.desc()).limit(limit)).mappings().all()
    return [VerifyRun(from_db(r["started_at"]), from_db(r["finished_at"]), bool(r["ok"]), int(r["events"]),
                      int(r["differences"]), r["summary"], r["by"]) for r in rows]


@dataclass(frozen=True)
class KnownAt:
    mrn: str
    cut: datetime
    events_known: int
    events_now: int
    status_then: dict[str, Any]
    status_now: dict[str, Any]
    decisions: Sequence[tuple[DerivedEvent, str, bool]]
    """(derived event, what it says, superseded by then) as recorded up to the cut."""
    later: Sequence[tuple[Event, str]]
    """Events recorded after the cut whose valid time is before it: what was not yet known."""


def known_at(app: App, mrn: str, cut: datetime) -> KnownAt | None:
    """Recorded-time replay of one patient: their stream as recorded up to `cut`, against today."""
    now_events: list[Event] = [s.event for s in app.store.read_stream(mrn)]
    if not now_events:
        return None
    then = [e for e in now_events if e.recorded_at <= cut]
    gone = {i for e in then if isinstance(e, DerivationRevised) for i in e.supersedes}
    decisions = [(e, words(e), str(e.event_id) in gone) for e in sorted(then, key=lambda e: e.occurred_at)
                 if isinstance(e, DerivedEvent) and not isinstance(e, DerivationRevised)
                 and e.derivation_set == CANONICAL_SET]
    later = [(e, words(e)) for e in now_events if e.recorded_at > cut and e.occurred_at <= cut]
    return KnownAt(mrn, cut, len(then), len(now_events), status_row(mrn, then), status_row(mrn, now_events),
                   decisions, later)
