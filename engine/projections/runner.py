"""Feeding projections: each reads the log after its tracking position and commits rows + position together.

A crash between two batches loses nothing and repeats nothing: the next run starts at the committed
position. Order matters only within a projection; alerts run before patient_status (which counts them). The
episodes projection also refreshes the cohort statistics of every agent it touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy import update as sql_update

from engine.projections.alerts import AlertsProjection
from engine.projections.base import Projection
from engine.projections.episodes import EpisodesProjection
from engine.projections.status import PatientStatusProjection
from engine.store import EventStore
from engine.store.schema import projection_positions

PROJECTIONS: tuple[Projection, ...] = (AlertsProjection(), PatientStatusProjection(), EpisodesProjection())


def _position(conn: Connection, name: str) -> int:
    row = conn.execute(select(projection_positions.c.position).where(projection_positions.c.name == name)).first()
    return int(row[0]) if row else 0


def _set_position(conn: Connection, name: str, position: int) -> None:
    if conn.execute(select(projection_positions.c.name).where(projection_positions.c.name == name)).first():
        conn.execute(
            sql_update(projection_positions).where(projection_positions.c.name == name).values(position=position)
        )
    else:
        conn.execute(insert(projection_positions).values(name=name, position=position))


def update_one(store: EventStore, projection: Projection, *, chunk: int = 5000) -> int:
    applied = 0
    while True:
        with store.engine.begin() as conn:
            start = _position(conn, projection.name)
            batch = list(store.read_all(after=start, chunk=chunk, until=start + chunk))
            if not batch:
                return applied
            projection.apply(conn, batch)
            _set_position(conn, projection.name, batch[-1].position)
            applied += len(batch)


def update(store: EventStore, projections: Sequence[Projection] = PROJECTIONS) -> int:
    return sum(update_one(store, p) for p in projections)


def rebuild(store: EventStore, projections: Sequence[Projection] = PROJECTIONS) -> int:
    with store.engine.begin() as conn:
        for projection in projections:
            projection.reset(conn)
            conn.execute(delete(projection_positions).where(projection_positions.c.name == projection.name))
    return update(store, projections)
