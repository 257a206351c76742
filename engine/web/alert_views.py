"""The worklist's alert queries, in one module so that the alert lifecycle of issue 10 (resolved,
superseded, historical, the triggering value stored in the alert) changes one place.

Today's read model (`alerts`) holds open / acknowledged / withdrawn. The triggering count and the count
before it are found from the alert's input events and the patient's stream; the rule statement of the
profile says why the alert was raised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from engine.alerts.queries import acknowledge
from engine.app import App
from engine.projections import update as update_projections
from engine.store.schema import alerts, events
from engine.store.timestamps import from_db
from events import COUNTING_STATUSES, AlertRaised, Event, PlateletCountRecorded, ResultRetracted, event_from_json

SEVERITY_ORDER = {"critical": 0, "urgent": 1, "warning": 2, "advisory": 3, "info": 4}
STATES = ("open", "acknowledged", "resolved", "superseded", "withdrawn")
"""Today's read model has open, acknowledged and withdrawn; resolved and superseded come with issue 10."""
MAX_ROWS = 500


@dataclass(frozen=True)
class CountSeen:
    value: float
    censored: str | None
    at: datetime
    message: str
    """Where the count came from: feed and message id."""


@dataclass(frozen=True)
class AlertRow:
    id: str
    patient: str
    kind: str
    severity: str
    message: str
    rule_id: str
    why: str
    occurred_at: datetime
    raised_at: datetime
    state: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None
    trigger: CountSeen | None
    previous: CountSeen | None


@dataclass(frozen=True)
class Worklist:
    rows: list[AlertRow]
    kinds: list[str]
    counts: dict[str, int]
    """Alerts per state, before the kind/patient filters."""
    truncated: bool


def worklist(app: App, *, state: str = "open", kind: str = "", patient: str = "") -> Worklist:
    """Alerts of one state (or all) by severity, newest first within a severity; filters by kind and patient.

    Brings the read models up to the log first, so it runs on the writer thread.
    """
    update_projections(app.store, app.projections)
    with app.store.engine.connect() as conn:
        counts = {s: 0 for s in STATES}
        for st, n in conn.execute(select(alerts.c.state, func.count()).group_by(alerts.c.state)).all():
            counts[st] = int(n)
        kinds = sorted(r[0] for r in conn.execute(select(alerts.c.alert).distinct()))
        query = select(alerts)
        if state in STATES:
            query = query.where(alerts.c.state == state)
        if kind:
            query = query.where(alerts.c.alert == kind)
        if patient:
            query = query.where(alerts.c.patient == patient)
        rows = conn.execute(query.order_by(alerts.c.occurred_at.desc()).limit(MAX_ROWS + 1)).mappings().all()
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    statements = {a.id: a.statement for a in app.profile.alerts}
    found = _counts_of(app, [(r["alert_event_id"], r["patient"]) for r in rows])
    out = [
        AlertRow(
            id=r["alert_event_id"], patient=r["patient"], kind=r["alert"], severity=r["severity"],
            message=r["message"], rule_id=r["rule_id"], why=statements.get(r["alert"], r["rule_id"]),
            occurred_at=from_db(r["occurred_at"]), raised_at=from_db(r["raised_at"]), state=r["state"],
            acknowledged_by=r["acknowledged_by"],
            acknowledged_at=from_db(r["acknowledged_at"]) if r["acknowledged_at"] else None, note=r["note"],
            trigger=found.get(r["alert_event_id"], (None, None))[0],
            previous=found.get(r["alert_event_id"], (None, None))[1],
        )
        for r in rows
    ]
    out.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), -a.occurred_at.timestamp()))
    return Worklist(out, kinds, counts, truncated)


def _counts_of(app: App, wanted: list[tuple[str, str]]) -> dict[str, tuple[CountSeen | None, CountSeen | None]]:
    """alert id -> (the count that triggered it, the count before that), from each patient's stream."""
    by_patient: dict[str, list[str]] = defaultdict(list)
    for alert_id, patient in wanted:
        by_patient[patient].append(alert_id)
    out: dict[str, tuple[CountSeen | None, CountSeen | None]] = {}
    if not by_patient:
        return out
    with app.store.engine.connect() as conn:
        rows = conn.execute(
            select(events.c.payload).where(
                events.c.stream.in_(list(by_patient)),
                events.c.type.in_(["PlateletCountRecorded", "ResultRetracted", "AlertRaised"]),
            ).order_by(events.c.position)
        ).all()
    parsed = [event_from_json(r[0]) for r in rows]
    for patient, ids in by_patient.items():
        mine = [e for e in parsed if e.stream == patient]
        counts = _current_counts(mine)
        by_id = {str(c.event_id): c for c in counts}
        raised = {str(e.event_id): e for e in mine if isinstance(e, AlertRaised)}
        for alert_id in ids:
            alert = raised.get(alert_id)
            if alert is None:
                continue
            inputs = [by_id[str(i)] for i in alert.causation_ids if str(i) in by_id]
            trigger = max(inputs, key=lambda c: c.occurred_at) if inputs else None
            if trigger is None:
                out[alert_id] = (None, _latest_before(counts, alert.occurred_at, inclusive=True))
                continue
            out[alert_id] = (_seen(trigger), _latest_before(counts, trigger.occurred_at, inclusive=False))
    return out


def _current_counts(stream: Sequence[Event]) -> list[PlateletCountRecorded]:
    """The latest version of each result that is a count, without retracted ones, by valid time."""
    retracted = {e.result_key for e in stream if isinstance(e, ResultRetracted)}
    latest: dict[str, PlateletCountRecorded] = {}
    for e in stream:
        if isinstance(e, PlateletCountRecorded):
            prev = latest.get(e.result_key)
            if prev is None or _version(e) >= _version(prev):  # versions ordered as the status projection does
                latest[e.result_key] = e
    counts = [c for c in latest.values()
              if c.result_key not in retracted and c.value is not None and c.status in COUNTING_STATUSES]
    return sorted(counts, key=lambda c: c.occurred_at)


def _version(count: PlateletCountRecorded) -> tuple[datetime, datetime]:
    return (count.reported_at or count.recorded_at, count.recorded_at)


def _latest_before(counts: list[PlateletCountRecorded], at: datetime, *, inclusive: bool) -> CountSeen | None:
    before = [c for c in counts if (c.occurred_at <= at if inclusive else c.occurred_at < at)]
    return _seen(before[-1]) if before else None


def _seen(c: PlateletCountRecorded) -> CountSeen:
    assert c.value is not None
    source = " ".join(x for x in (c.source.feed, c.source.message_id) if x)
    return CountSeen(c.value, c.censored, c.occurred_at, source)


def acknowledge_many(app: App, ids: list[str], by: str, note: str | None) -> list[tuple[str, str, bool]]:
    """(alert id, patient, changed) for each id; an unknown id raises KeyError before anything is written."""
    update_projections(app.store, app.projections)
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(alerts.c.alert_event_id, alerts.c.patient)
                            .where(alerts.c.alert_event_id.in_(ids))).all()
    known = {str(r[0]): str(r[1]) for r in rows}
    missing = [i for i in ids if i not in known]
    if missing:
        raise KeyError(missing[0])
    return [(i, known[i], bool(acknowledge(app, i, by, note)["changed"])) for i in ids]
