"""The access log: who looked at which patient, acknowledged, retried, discarded or exported, and when.

Rows are only ever inserted; the database refuses UPDATE and DELETE (triggers of revision 0070), like
the event log. Readable by auditors in the app (/audit/access) and with `itpwatch access-log`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from engine.store import EventStore
from engine.store.schema import access_log
from engine.store.timestamps import from_db, to_db


@dataclass(frozen=True)
class Access:
    id: int
    at: datetime
    username: str
    role: str | None
    action: str
    patient: str | None
    target: str | None
    detail: str | None
    client: str | None


def record(store: EventStore, *, at: datetime, username: str, role: str | None, action: str,
           patient: str | None = None, target: str | None = None, detail: str | None = None,
           client: str | None = None) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(access_log).values(
            at=to_db(at, store.dialect), username=username[:100], role=role, action=action[:40],
            patient=None if patient is None else patient[:200], target=None if target is None else target[:300],
            detail=detail, client=None if client is None else client[:100]))


def read(store: EventStore, *, patient: str | None = None, username: str | None = None,
         action: str | None = None, since: datetime | None = None, limit: int = 500) -> list[Access]:
    """Newest first."""
    query = select(access_log).order_by(access_log.c.id.desc()).limit(limit)
    if patient:
        query = query.where(access_log.c.patient == patient)
    if username:
        query = query.where(access_log.c.username == username)
    if action:
        query = query.where(access_log.c.action == action)
    if since is not None:
        query = query.where(access_log.c.at >= to_db(since, store.dialect))
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [Access(r["id"], from_db(r["at"]), r["username"], r["role"], r["action"], r["patient"], r["target"],
                   r["detail"], r["client"]) for r in rows]
