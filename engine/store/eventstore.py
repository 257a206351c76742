"""The append-only event log on SQLAlchemy Core.

Appends are serialised (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock), and the
writer assigns gapless positions under that lock, so commit order is position order: a reader tailing the
log by position can never skip past an event that commits later with a smaller position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from engine.store.database import connect
from engine.store.errors import ConcurrencyError
from engine.store.hashing import CHAIN_VERSION, EVENT_COLUMNS, GENESIS, SIDE_COLUMNS, row_hash
from engine.store.integrity import Anchor, ChainWalk, walk_all
from engine.store.schema import chain_seals, dead_letter_resolutions, dead_letters, events, inbound_messages
from engine.store.timestamps import from_db, to_db
from events import AnyEvent, DerivedEvent, Event, event_from_json

APPEND_LOCK_KEY = 74_2_2009  # PostgreSQL advisory lock id of the single log writer
RESOLVED_OUTCOMES = ("accepted", "discarded")
"""Outcomes that close a dead letter: stored after a retry, or discarded by a person with a reason."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    event: AnyEvent
    message_key: str | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    positions: tuple[int, ...]
    duplicate: bool
    ack_code: str = "AA"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    recorded_at: datetime
    feed: str
    origin: str
    message_key: str | None
    reason: str
    field: str | None
    error_code: str
    ack_code: str
    raw: bytes
    resolution: str | None = None
    encryption: str | None = None
    """None: `raw` is the masked message in clear; 'fernet:<key id>': encrypted (DeadLetterVault.reveal)."""


@dataclass(frozen=True, slots=True)
class ChainBreak:
    position: int
    reason: str


class StoreWriter:
    """One write transaction holding the append lock. Rows are buffered and inserted in bulk at flush."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect.name
        if self.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})")
        head = conn.execute(select(events.c.position, events.c.hash).order_by(events.c.position.desc()).limit(1))
        row = head.first()
        self._position: int = row[0] if row else 0
        self._hash: str = row[1] if row else GENESIS
        self._versions: dict[str, int] = {}
        self._event_rows: list[dict[str, Any]] = []
        self._message_rows: list[dict[str, Any]] = []
        self._pending_ids: dict[str, int] = {}
        self._pending_messages: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._absent_messages: set[str] = set()
        self._absent_ids: set[str] = set()
        self._side_heads: dict[str, tuple[int, str]] = {}
        self.appended: list[StoredEvent] = []
        """Every event this transaction appended, in position order (for the processor and projections)."""

    @property
    def connection(self) -> Connection:
        return self._conn

    # -- idempotency -------------------------------------------------------------------------------
    def prefetch(self, *, message_keys: Sequence[str], event_ids: Sequence[str], streams: Sequence[str]) -> None:
        """Look up a whole batch's message keys, event ids and stream versions in three queries.

        bench/ measured three SELECTs per message (message seen, ids known, stream version) as the largest
        store cost of a bulk import: SQLAlchemy's per-statement overhead, not SQLite, dominated.
        """
        for chunk in _chunks([k for k in message_keys if k not in self._pending_messages]):
            rows = self._conn.execute(
                select(inbound_messages.c.message_key, inbound_messages.c.ack_code, inbound_messages.c.positions)
                .where(inbound_messages.c.message_key.in_(chunk))
            ).all()
            found = {r[0]: (r[1], tuple(json.loads(r[2]))) for r in rows}
            self._pending_messages.update(found)
            self._absent_messages.update(k for k in chunk if k not in found)
        for chunk in _chunks([i for i in event_ids if i not in self._pending_ids]):
            rows = self._conn.execute(
                select(events.c.event_id, events.c.position).where(events.c.event_id.in_(chunk))
            ).all()
            self._pending_ids.update({r[0]: r[1] for r in rows})
            self._absent_ids.update(set(chunk) - {r[0] for r in rows})
        for chunk in _chunks([s for s in dict.fromkeys(streams) if s not in self._versions]):
            rows = self._conn.execute(
                select(events.c.stream, func.max(events.c.stream_version))
                .where(events.c.stream.in_(chunk)).group_by(events.c.stream)
            ).all()
            found_versions = {r[0]: int(r[1]) for r in rows}
            for stream in chunk:
                self._versions[stream] = found_versions.get(stream, 0)

    def message_seen(self, message_key: str) -> tuple[str, tuple[int, ...]] | None:
        """The ACK code and positions a message key got the first time, if it was seen before."""
        if (pending := self._pending_messages.get(message_key)) is not None:
            return pending
        if message_key in self._absent_messages:
            return None
        row = self._conn.execute(
            select(inbound_messages.c.ack_code, inbound_messages.c.positions).where(
                inbound_messages.c.message_key == message_key
            )
        ).first()
        if row is None:
            return None
        return row[0], tuple(json.loads(row[1]))

    def _known_positions(self, event_ids: Sequence[str]) -> dict[str, int]:
        found = {i: self._pending_ids[i] for i in event_ids if i in self._pending_ids}
        missing = [i for i in event_ids if i not in found and i not in self._absent_ids]
        if missing:
            rows = self._conn.execute(
                select(events.c.event_id, events.c.position).where(events.c.event_id.in_(missing))
            )
            found.update({r[0]: r[1] for r in rows})
        return found

    def stream_version(self, stream: str) -> int:
        if (cached := self._versions.get(stream)) is not None:
            return cached
        version = self._conn.execute(
            select(func.max(events.c.stream_version)).where(events.c.stream == stream)
        ).scalar()
        self._versions[stream] = int(version or 0)
        return self._versions[stream]

    # -- writing -----------------------------------------------------------------------------------
    def append(
        self,
        batch: Sequence[Event],
        *,
        expected_versions: Mapping[str, int] | None = None,
        message_key: str | None = None,
        ack_code: str = "AA",
        recorded_at: datetime | None = None,
    ) -> AppendResult:
        """Append a batch; a known message key or known event ids append nothing and return old positions.

        expected_versions maps a stream to the version the caller last saw; a mismatch raises
        ConcurrencyError and the caller's transaction is rolled back whole.
        """
        if message_key is not None and (seen := self.message_seen(message_key)) is not None:
            return AppendResult(seen[1], duplicate=True, ack_code=seen[0])
        for stream, expected in (expected_versions or {}).items():
            actual = self.stream_version(stream)
            if actual != expected:
                raise ConcurrencyError(stream, expected, actual)
        ids = [str(e.event_id) for e in batch]
        known = self._known_positions(ids) if ids else {}
        positions: list[int] = []
        added = 0
        for event in batch:
            eid = str(event.event_id)
            if eid in known:
                positions.append(known[eid])
                continue
            positions.append(self._add(event, message_key, recorded_at))
            known[eid] = positions[-1]
            added += 1
        result = AppendResult(tuple(positions), duplicate=bool(batch) and added == 0, ack_code=ack_code)
        if message_key is not None:
            self.record_message(message_key, ack_code, result.positions)
        return result

    def _add(self, event: Event, message_key: str | None, recorded_at: datetime | None) -> int:
        version = self.stream_version(event.stream) + 1
        update: dict[str, Any] = {"stream_version": version}
        if recorded_at is not None:
            update["recorded_at"] = recorded_at
        stored = event.model_copy(update=update)
        self._position += 1
        row: dict[str, Any] = {
            "position": self._position,
            "event_id": str(stored.event_id),
            "stream": stored.stream,
            "stream_version": version,
            "type": stored.type,
            "schema_version": stored.schema_version,
            "occurred_at": to_db(stored.occurred_at, self.dialect),
            "recorded_at": to_db(stored.recorded_at, self.dialect),
            "message_key": message_key,
            "derivation_set": stored.derivation_set if isinstance(stored, DerivedEvent) else None,
            "payload": stored.canonical_json(),
        }
        self._hash = row["hash"] = row_hash(self._hash, "events", [row[c] for c in EVENT_COLUMNS])
        row["chain_version"] = CHAIN_VERSION
        self._versions[event.stream] = version
        self._pending_ids[str(event.event_id)] = self._position
        self._event_rows.append(row)
        self.appended.append(StoredEvent(self._position, stored, message_key))  # type: ignore[arg-type]
        return self._position

    def record_message(self, message_key: str, ack_code: str, positions: Sequence[int] = ()) -> None:
        """Remember a message key and its ACK, so that a resend is answered the same and stores nothing."""
        if message_key in self._pending_messages:
            return
        self._absent_messages.discard(message_key)
        self._pending_messages[message_key] = (ack_code, tuple(positions))
        self._message_rows.append(self._chained("inbound_messages", {
            "message_key": message_key,
            "ack_code": ack_code,
            "positions": json.dumps(list(positions)),
            "recorded_at": to_db(_utcnow(), self.dialect),
        }))

    def _chained(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its place (seq) and full-row hash in its table's chain; called under the append lock."""
        if table not in self._side_heads:
            self._side_heads[table] = side_head(self._conn, table)
        seq, previous = self._side_heads[table]
        row["seq"] = seq + 1
        row["hash"] = row_hash(previous, table, [row.get(c) for c in SIDE_COLUMNS[table]])
        self._side_heads[table] = (seq + 1, row["hash"])
        return row

    def _next_id(self, table: Any) -> int:
        return int(self._conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() or 0) + 1

    def dead_letter(
        self,
        *,
        raw: bytes,
        feed: str,
        origin: str,
        reason: str,
        field: str | None,
        error_code: str,
        ack_code: str,
        message_key: str | None,
        recorded_at: datetime,
        encryption: str | None = None,
    ) -> int:
        """Keep a message that was not accepted. `raw` is already masked, or encrypted (`encryption` names how).

        The id is assigned here, under the append lock, because the row's hash covers it.
        """
        self.flush()
        dead_letter_id = self._next_id(dead_letters)
        self._conn.execute(insert(dead_letters).values(self._chained("dead_letters", {
            "id": dead_letter_id, "recorded_at": to_db(recorded_at, self.dialect), "feed": feed,
            "origin": origin[:500], "message_key": message_key, "reason": reason, "field": field,
            "error_code": error_code, "ack_code": ack_code, "raw": raw, "encryption": encryption,
        })))
        if message_key is not None:
            self.record_message(message_key, ack_code)
        return dead_letter_id

    def resolve_dead_letter(self, dead_letter_id: int, outcome: str, detail: str | None, at: datetime) -> None:
        self._conn.execute(insert(dead_letter_resolutions).values(self._chained("dead_letter_resolutions", {
            "id": self._next_id(dead_letter_resolutions), "dead_letter_id": dead_letter_id,
            "resolved_at": to_db(at, self.dialect), "outcome": outcome, "detail": detail,
        })))

    def flush(self) -> None:
        if self._event_rows:
            self._conn.execute(insert(events), self._event_rows)
            self._event_rows = []
        if self._message_rows:
            self._conn.execute(insert(inbound_messages), self._message_rows)
            self._message_rows = []

    def read_stream(self, stream: str, *, types: Sequence[str] | None = None) -> list[StoredEvent]:
        """Read inside the transaction (sees this writer's own appends)."""
        self.flush()
        return _read_stream(self._conn, stream, types=types)


class EventStore:
    """Facade over the log: writers for appends, plain functions for reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str) -> EventStore:
        return cls(connect(url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writer(self) -> Iterator[StoreWriter]:
        with self.engine.connect().execution_options(itpwatch_write=True) as conn, conn.begin():
            writer = StoreWriter(conn)
            yield writer
            writer.flush()

    def append(
        self,
        batch: Sequence[Event],
        *,
        expected_versions: Mapping[str, int] | None = None,
        message_key: str | None = None,
    ) -> AppendResult:
        with self.writer() as w:
            return w.append(batch, expected_versions=expected_versions, message_key=message_key)

    # -- reads -------------------------------------------------------------------------------------
    def head(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.position), 0))).scalar() or 0)

    def read_stream(self, stream: str, *, recorded_until: datetime | None = None) -> list[StoredEvent]:
        with self.engine.connect() as conn:
            return _read_stream(conn, stream, recorded_until=recorded_until, dialect=self.dialect)

    def read_all(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        recorded_until: datetime | None = None,
        occurred_from: datetime | None = None,
        occurred_until: datetime | None = None,
        types: Sequence[str] | None = None,
        chunk: int = 5000,
    ) -> Iterator[StoredEvent]:
        """Every event after a position, in position order, optionally cut by recorded or valid time."""
        position = after
        while True:
            query = select(events.c.position, events.c.payload, events.c.message_key).where(
                events.c.position > position
            )
            if until is not None:
                query = query.where(events.c.position <= until)
            if recorded_until is not None:
                query = query.where(events.c.recorded_at <= to_db(recorded_until, self.dialect))
            if occurred_from is not None:
                query = query.where(events.c.occurred_at >= to_db(occurred_from, self.dialect))
            if occurred_until is not None:
                query = query.where(events.c.occurred_at <= to_db(occurred_until, self.dialect))
            if types:
                query = query.where(events.c.type.in_(list(types)))
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(events.c.position).limit(chunk)).all()
            for row in rows:
                yield StoredEvent(row[0], event_from_json(row[1]), row[2])
            if len(rows) < chunk:
                return
            position = rows[-1][0]

    def streams(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(events.c.stream).distinct().order_by(events.c.stream))]

    def dead_letters(self, *, unresolved_only: bool = False) -> list[DeadLetter]:
        """Every dead letter with its latest resolution; unresolved_only leaves out accepted and discarded ones."""
        r = dead_letter_resolutions
        with self.engine.connect() as conn:
            last = select(func.max(r.c.id).label("id")).group_by(r.c.dead_letter_id).subquery()
            latest = select(r.c.dead_letter_id, r.c.outcome.label("o")).join(last, last.c.id == r.c.id).subquery()
            query = (
                select(dead_letters, latest.c.o)
                .outerjoin(latest, latest.c.dead_letter_id == dead_letters.c.id)
                .order_by(dead_letters.c.id)
            )
            if unresolved_only:
                closed = select(r.c.id).where(r.c.dead_letter_id == dead_letters.c.id,
                                              r.c.outcome.in_(RESOLVED_OUTCOMES))
                query = query.where(~closed.exists())
            return [
                DeadLetter(
                    id=row.id, recorded_at=from_db(row.recorded_at), feed=row.feed, origin=row.origin,
                    message_key=row.message_key, reason=row.reason, field=row.field, error_code=row.error_code,
                    ack_code=row.ack_code, raw=bytes(row.raw), resolution=row.o, encryption=row.encryption,
                )
                for row in conn.execute(query)
            ]

    def verify_chain(self) -> ChainBreak | None:
        """The first break of the event log's chain (its position and what is wrong), or None."""
        walk = self.verify_chains()
        for finding in walk.findings:
            if finding.table == "events":
                return ChainBreak(int(finding.row.split()[-1]), finding.reason)
        return None

    def verify_chains(self, anchors: Mapping[str, list[Anchor]] | None = None) -> ChainWalk:
        """Walk every chain (the log and the side tables) against their seals and the given checkpoint anchors."""
        with self.engine.connect() as conn:
            return walk_all(conn, anchors)


def side_head(conn: Connection, table: str) -> tuple[int, str]:
    """(seq, hash) of the last chained row of a side table; before the first, the table's legacy seal or genesis."""
    t = {"inbound_messages": inbound_messages, "dead_letters": dead_letters,
         "dead_letter_resolutions": dead_letter_resolutions}[table]
    row = conn.execute(select(t.c.seq, t.c.hash).where(t.c.seq.is_not(None)).order_by(t.c.seq.desc()).limit(1)).first()
    if row is not None:
        return int(row[0]), str(row[1])
    seal = conn.execute(select(chain_seals.c.hash).where(chain_seals.c.table_name == table)).scalar()
    return 0, str(seal) if seal else GENESIS


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _read_stream(
    conn: Connection,
    stream: str,
    *,
    types: Sequence[str] | None = None,
    recorded_until: datetime | None = None,
    dialect: str = "sqlite",
) -> list[StoredEvent]:
    query = select(events.c.position, events.c.payload, events.c.message_key).where(events.c.stream == stream)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    if recorded_until is not None:
        query = query.where(events.c.recorded_at <= to_db(recorded_until, dialect))
    rows = conn.execute(query.order_by(events.c.position))
    return [StoredEvent(r[0], event_from_json(r[1]), r[2]) for r in rows]


def _utcnow() -> datetime:
    from engine.clock import system_clock

    return system_clock.now()


__all__ = ["AppendResult", "ChainBreak", "DeadLetter", "EventStore", "StoreWriter", "StoredEvent"]
