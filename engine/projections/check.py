"""`verify` for the read models: rebuild them in memory from the log and compare with the stored tables.

The read tables are not append-only (they are rewritten as the log grows), so the hash chain does not cover
them: someone could mark every open alert acknowledged, or every patient as complete response, and the
ward would read it. Here each chunk of patients is rebuilt by the projections' own code into an in-memory
SQLite database, up to the position each stored read model claims to have reached, and compared row by
row and column by column. Memory stays that of one chunk (plus one small row per tracked patient for the
cohort statistics), and chunks are independent, so the walk can be split over workers.
`itpwatch projections rebuild` repairs what this finds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, delete, func, select
from sqlalchemy.pool import StaticPool

from engine.derivation_sets import SEPARATOR
from engine.projections.alerts import AlertsProjection
from engine.projections.episodes import PATIENT_ROW, EpisodesProjection
from engine.projections.patients import merged_streams
from engine.projections.status import status_row
from engine.reporting import PatientRow
from engine.reporting.cohort import summarise
from engine.store import EventStore, StoredEvent
from engine.store.eventstore import _read_stream
from engine.store.integrity import Finding
from engine.store.schema import alerts, cohort_statistics, episodes, patient_status, projection_positions
from engine.store.timestamps import from_db, to_db
from events import CANONICAL_SET, CLOCK_STREAM

READ_TABLES = (alerts, patient_status, episodes, cohort_statistics)
KEYS: dict[str, tuple[str, ...]] = {
    "alerts": ("alert_event_id",),
    "patient_status": ("derivation_set", "patient"),
    "episodes": ("derivation_set", "patient", "agent", "episode"),
    "cohort_statistics": ("derivation_set", "agent"),
}


@dataclass(frozen=True, slots=True)
class Positions:
    alerts: int | None
    patient_status: int | None
    episodes: int | None


def read_model_positions(conn: Connection) -> Positions:
    found: dict[str, int] = {name: int(position) for name, position in conn.execute(
        select(projection_positions.c.name, projection_positions.c.position))}
    return Positions(found.get("alerts"), found.get("patient_status"), found.get("episodes"))


def compare_read_models(store: EventStore, episodes_projection: EpisodesProjection | None = None,
                        *, patients_per_chunk: int = 200) -> Iterator[Finding]:
    """Every difference between the stored read models and a rebuild from the log, as it is found."""
    projection = episodes_projection or EpisodesProjection()
    scratch = _scratch()
    with store.engine.connect() as conn:
        positions = read_model_positions(conn)
        merged_away = merged_streams(conn)
        streams = [s for s in store.streams() if s != CLOCK_STREAM and SEPARATOR not in s]
    patients = [s for s in streams if s not in merged_away]
    cohort_rows: dict[str, list[PatientRow]] = {}
    for start in range(0, len(streams), patients_per_chunk):
        chunk = streams[start:start + patients_per_chunk]
        yield from _compare_chunk(store, scratch, projection, positions, chunk, merged_away, cohort_rows)
    yield from _unknown_rows(store, "alerts", "patient", set(streams), positions.alerts)
    yield from _unknown_rows(store, "patient_status", "patient", set(patients), positions.patient_status)
    yield from _unknown_rows(store, "episodes", "patient", set(patients), positions.episodes)
    if positions.episodes is not None:
        expected = [{"derivation_set": CANONICAL_SET, "agent": agent, "profile": "",
                     "summary": summarise(rows).model_dump_json()} for agent, rows in sorted(cohort_rows.items())]
        with store.engine.connect() as conn:
            stored = _rows(conn, cohort_statistics, cohort_statistics.c.derivation_set == CANONICAL_SET)
        yield from _diff("cohort_statistics", expected, stored)
    scratch.dispose()


def _scratch() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    for table in READ_TABLES:
        table.create(engine)
    return engine


def _compare_chunk(store: EventStore, scratch: Engine, projection: EpisodesProjection, positions: Positions,
                   chunk: Sequence[str], merged_away: dict[str, str], cohort_rows: dict[str, list[PatientRow]]
                   ) -> Iterator[Finding]:
    with store.engine.connect() as conn:
        histories = {stream: _read_stream(conn, stream) for stream in chunk}
        for stream in chunk:  # a survivor's rows are built from its own and its merged streams
            for merged in sorted(k for k, v in merged_away.items() if v == stream and k not in histories):
                histories.setdefault(merged, _read_stream(conn, merged))
        stored = {table.name: _rows(conn, table, table.c.patient.in_(list(chunk)))
                  for table in (alerts, patient_status, episodes)}
    patients = [s for s in chunk if s not in merged_away]
    expected = _rebuild(scratch, projection, positions, histories, chunk, patients, merged_away, cohort_rows)
    findings = list(_chunk_findings(positions, expected, stored))
    newest = max((s.position for history in histories.values() for s in history), default=0)
    built = [p for p in (positions.alerts, positions.patient_status, positions.episodes) if p is not None]
    if findings and built and newest > min(built):
        # A projection rewrites a touched patient from the whole stream as it is then, so rows written while
        # the log grew may already show later events: a difference counts only if the whole stream has it too.
        full = Positions(*(None if p is None else newest for p in
                           (positions.alerts, positions.patient_status, positions.episodes)))
        again = _rebuild(scratch, projection, full, histories, chunk, patients, merged_away, {})
        persisting = {_where(f) for f in _chunk_findings(full, again, stored)}
        findings = [f for f in findings if _where(f) in persisting]
    yield from findings


def _where(finding: Finding) -> tuple[str, str, str]:
    return finding.table, finding.row, finding.reason.split(":", 1)[0]


def _rebuild(scratch: Engine, projection: EpisodesProjection, positions: Positions,
             histories: dict[str, list[StoredEvent]], chunk: Sequence[str], patients: Sequence[str],
             merged_away: dict[str, str], cohort_rows: dict[str, list[PatientRow]]
             ) -> dict[str, list[dict[str, Any]]]:
    """The chunk's read-model rows as the projections' own code writes them, from events up to positions."""
    with scratch.begin() as conn:
        for table in READ_TABLES:
            conn.execute(delete(table))
        if positions.alerts is not None:
            feed = AlertsProjection()
            for stream in chunk:
                feed.apply(conn, _upto(histories[stream], positions.alerts))
        for patient in patients:
            streams = [patient, *sorted(k for k, v in merged_away.items() if v == patient)]
            if positions.patient_status is not None:
                events = [s.event for stream in streams for s in _upto(histories[stream], positions.patient_status)]
                row = status_row(patient, events)
                row["open_alerts"] = int(conn.execute(select(func.count()).select_from(alerts).where(
                    alerts.c.patient == patient, alerts.c.state == "open")).scalar() or 0)
                if isinstance(row["last_count_at"], datetime):
                    row["last_count_at"] = to_db(row["last_count_at"], "sqlite")
                conn.execute(patient_status.insert().values(**row))
            if positions.episodes is not None:
                events = [s.event for stream in streams for s in _upto(histories[stream], positions.episodes)]
                projection.write_patient(conn, patient, events)
        expected = {table.name: _rows(conn, table) for table in (alerts, patient_status, episodes)}
        for (agent, row_json) in conn.execute(select(episodes.c.agent, episodes.c.row)
                                              .where(episodes.c.episode == PATIENT_ROW)):
            cohort_rows.setdefault(agent, []).append(PatientRow.model_validate_json(row_json))
    return expected


def _chunk_findings(positions: Positions, expected: dict[str, list[dict[str, Any]]],
                    stored: dict[str, list[dict[str, Any]]]) -> Iterator[Finding]:
    if positions.alerts is not None:
        yield from _diff("alerts", expected["alerts"], stored["alerts"])
    if positions.patient_status is not None:
        yield from _diff("patient_status", expected["patient_status"],
                         [r for r in stored["patient_status"] if r["derivation_set"] == CANONICAL_SET])
    if positions.episodes is not None:
        yield from _diff("episodes", expected["episodes"],
                         [r for r in stored["episodes"] if r["derivation_set"] == CANONICAL_SET])


def _upto(history: Sequence[StoredEvent], position: int) -> list[StoredEvent]:
    return [s for s in history if s.position <= position]


def _rows(conn: Connection, table: Table, where: Any = None) -> list[dict[str, Any]]:
    query = select(table) if where is None else select(table).where(where)
    return [{k: _normal(v) for k, v in row.items()} for row in conn.execute(query).mappings()]


def _normal(value: Any) -> Any:
    """One form for values read from SQLite and PostgreSQL (naive UTC vs aware; date stays date)."""
    if isinstance(value, datetime):
        return from_db(value)
    return value


def _unknown_rows(store: EventStore, table_name: str, column: str, known: set[str], position: int | None
                  ) -> Iterator[Finding]:
    """Rows of patients the log does not have: added by hand (the chunks only look at the log's patients)."""
    if position is None:
        return
    table = {t.name: t for t in READ_TABLES}[table_name]
    with store.engine.connect() as conn:
        for (value,) in conn.execute(select(table.c[column]).distinct()):
            if value not in known:
                yield Finding(table_name, f"{column}={value}", "row not derived from the log (no such patient)")


def _diff(table: str, expected: list[dict[str, Any]], stored: list[dict[str, Any]]) -> Iterator[Finding]:
    keys = KEYS[table]
    want = {tuple(r[k] for k in keys): r for r in expected}
    have = {tuple(r[k] for k in keys): r for r in stored}
    for key in sorted(set(want) | set(have), key=str):
        name = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
        if key not in have:
            yield Finding(table, name, "row missing (the log derives it)")
        elif key not in want:
            yield Finding(table, name, "row not derived from the log")
        else:
            for column in want[key]:
                if want[key][column] != have[key][column]:
                    yield Finding(table, name, _difference(column, have[key][column], want[key][column]))


def _difference(column: str, stored: Any, expected: Any) -> str:
    """'column state: stored ..., the log gives ...'; for a JSON column, the fields inside it that differ."""
    if column in ("row", "summary") and isinstance(stored, str) and isinstance(expected, str):
        try:
            have, want = json.loads(stored), json.loads(expected)
        except ValueError:
            return f"column {column}: stored value is not JSON"
        if isinstance(have, dict) and isinstance(want, dict):
            fields = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            return f"column {column}: fields {', '.join(fields)} differ from the log"
    return f"column {column}: stored {stored!r}, the log gives {expected!r}"
