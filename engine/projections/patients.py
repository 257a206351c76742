"""Driving the per-patient read models: each touched patient's stream is read once for all of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, select

from engine.derivation_sets import SEPARATOR, patient_of
from engine.store import StoredEvent
from engine.store.eventstore import _read_stream
from engine.store.schema import events as events_table
from events import CLOCK_STREAM, Event, PatientMerged, event_from_json


class PatientProjection(Protocol):
    name: str

    def write_patient(self, conn: Connection, patient: str, events: Sequence[Event]) -> Any: ...

    def forget_patient(self, conn: Connection, patient: str) -> Any: ...


def merged_streams(conn: Connection) -> dict[str, str]:
    """merged-away stream -> surviving stream, from the PatientMerged events (ADT^A40)."""
    out: dict[str, str] = {}
    for (payload,) in conn.execute(select(events_table.c.payload).where(events_table.c.type == "PatientMerged")):
        merge = event_from_json(payload)
        if isinstance(merge, PatientMerged):
            out[merge.merged_stream] = merge.stream
    return out


def touched_patients(batch: Sequence[StoredEvent]) -> list[str]:
    return sorted({patient_of(s.event.stream) for s in batch
                   if s.event.stream != CLOCK_STREAM and SEPARATOR not in s.event.stream})


def write_patients(conn: Connection, patients: Sequence[str], projections: Sequence[PatientProjection],
                   *, up_to: int | None = None) -> set[str]:
    """Rewrite each patient's rows in every projection from one read of their stream(s).

    A merged-away patient is forgotten; a survivor is written from its own and its merged streams.
    Returns what the projections report back as touched (the agents whose cohorts changed).
    """
    merged_away = merged_streams(conn)
    touched: set[str] = set()
    histories: dict[str, list[Event]] = {}
    for patient in patients:
        if patient in merged_away:
            for projection in projections:
                forgotten = projection.forget_patient(conn, patient)
                if isinstance(forgotten, set):
                    touched |= forgotten
            continue
        streams = [patient, *sorted(k for k, v in merged_away.items() if v == patient)]
        histories[patient] = [s.event for stream in streams for s in _read_stream(conn, stream)
                              if up_to is None or s.position <= up_to]
    for projection in projections:
        write_many = getattr(projection, "write_many", None)
        if write_many is not None:  # one round of statements for the whole chunk of patients
            result = write_many(conn, histories)
            if isinstance(result, set):
                touched |= result
            continue
        for patient, events in histories.items():
            result = projection.write_patient(conn, patient, events)
            if isinstance(result, set):
                touched |= result
    return touched
