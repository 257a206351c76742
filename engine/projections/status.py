"""One row per patient: the current episode and its state under the canonical profile."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from engine.store import StoredEvent
from engine.store.schema import alerts, patient_status
from engine.store.timestamps import to_db
from events import (
    CANONICAL_SET,
    COUNTING_STATUSES,
    CompleteResponseAchieved,
    CompleteResponseLost,
    DerivationRevised,
    DerivedEvent,
    EpisodeStarted,
    Event,
    NonResponseDeclared,
    PlateletCountRecorded,
    ResponseAchieved,
    ResponseLost,
    ResultRetracted,
    SustainedRemissionReached,
)

STATE_OF = {
    EpisodeStarted: "assessing",
    ResponseAchieved: "responder",
    CompleteResponseAchieved: "complete-responder",
    CompleteResponseLost: "responder",  # the CR ended, the R may continue (a loss of R is ResponseLost)
    ResponseLost: "relapsed",
    NonResponseDeclared: "non-responder",
    SustainedRemissionReached: "sustained-remission",
}


STATE_RANK = {"EpisodeStarted": 0, "ResponseAchieved": 1, "CompleteResponseAchieved": 2, "CompleteResponseLost": 3,
              "SustainedRemissionReached": 4, "NonResponseDeclared": 5, "ResponseLost": 6}
"""On the same valid time, the later state in an episode's course wins (a CR outranks an R of that day)."""


def status_row(patient: str, events: Sequence[Event]) -> dict[str, Any]:
    """The status of one patient from their stream (clinical and canonical derived events)."""
    derived = [e for e in events if isinstance(e, DerivedEvent) and e.derivation_set == CANONICAL_SET]
    superseded = {i for e in derived if isinstance(e, DerivationRevised) for i in e.supersedes}
    active = [e for e in derived if str(e.event_id) not in superseded and type(e) in STATE_OF]
    state, agent, episode, since, version = "untracked", None, None, None, None
    if active:
        latest_episode = max((e.episode or 0) for e in active)
        in_episode = [e for e in active if (e.episode or 0) == latest_episode]
        # the state is the latest transition by valid time; a CR outranks an R reached on the same day
        last = max(in_episode, key=lambda e: (e.occurred_at, STATE_RANK[e.type]))
        state, agent, episode = STATE_OF[type(last)], last.agent, latest_episode
        since, version = _date_of(last), last.profile_version
    latest: dict[str, PlateletCountRecorded] = {}
    retracted: set[str] = set()
    for e in events:
        if isinstance(e, PlateletCountRecorded):
            prev = latest.get(e.result_key)
            if prev is None or _version(e) >= _version(prev):
                latest[e.result_key] = e
        elif isinstance(e, ResultRetracted):
            retracted.add(e.result_key)
    counts = [c for k, c in latest.items()
              if k not in retracted and c.status in COUNTING_STATUSES and c.value is not None]
    last_count = max(counts, key=lambda c: c.occurred_at) if counts else None
    return {
        "derivation_set": CANONICAL_SET, "patient": patient, "agent": agent, "episode": episode, "state": state,
        "since": since, "last_count": last_count.value if last_count else None,
        "last_count_at": last_count.occurred_at if last_count else None, "open_alerts": 0, "profile_version": version,
    }


def _version(count: PlateletCountRecorded) -> tuple[datetime, datetime]:
    return (count.reported_at or count.recorded_at, count.recorded_at)


def _date_of(event: DerivedEvent) -> date:
    for name in ("onset", "reached_on", "assessed_on", "d1"):
        value = getattr(event, name, None)
        if isinstance(value, date):
            return value
    return event.occurred_at.date()


class PatientStatusProjection:
    name = "patient_status"

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        from engine.projections.patients import touched_patients, write_patients

        write_patients(conn, touched_patients(batch), [self])

    def write_many(self, conn: Connection, histories: dict[str, list[Event]]) -> None:
        """All patients of a chunk in three statements (per-statement overhead dominated row by row)."""
        if not histories:
            return
        dialect = conn.dialect.name
        patients = list(histories)
        open_alerts: dict[str, int] = {}
        for start in range(0, len(patients), 500):
            part = patients[start:start + 500]
            for patient, n in conn.execute(
                select(alerts.c.patient, func.count()).where(alerts.c.patient.in_(part), alerts.c.state == "open")
                .group_by(alerts.c.patient)
            ):
                open_alerts[patient] = int(n)
            conn.execute(delete(patient_status).where(patient_status.c.derivation_set == CANONICAL_SET,
                                                      patient_status.c.patient.in_(part)))
        rows = []
        for patient, events in histories.items():
            row = status_row(patient, events)
            row["open_alerts"] = open_alerts.get(patient, 0)
            if isinstance(row["last_count_at"], datetime):
                row["last_count_at"] = to_db(row["last_count_at"], dialect)
            rows.append(row)
        conn.execute(insert(patient_status), rows)

    def forget_patient(self, conn: Connection, patient: str) -> None:
        conn.execute(delete(patient_status).where(patient_status.c.patient == patient))

    def write_patient(self, conn: Connection, patient: str, events: Sequence[Event]) -> None:
        """Replace the patient's row from their whole stream (used by apply and by a rebuild)."""
        dialect = conn.dialect.name
        row = status_row(patient, events)
        row["open_alerts"] = len(conn.execute(
            select(alerts.c.alert_event_id).where(alerts.c.patient == patient, alerts.c.state == "open")
        ).all())
        if isinstance(row["last_count_at"], datetime):
            row["last_count_at"] = to_db(row["last_count_at"], dialect)
        conn.execute(delete(patient_status).where(patient_status.c.derivation_set == CANONICAL_SET,
                                                  patient_status.c.patient == patient))
        conn.execute(insert(patient_status).values(**row))

    def reset(self, conn: Connection) -> None:
        conn.execute(delete(patient_status))
