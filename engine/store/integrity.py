"""Walking the hash chains of the append-only tables, against their seals and against signed checkpoints.

Each walk streams its table in chain order and stops at the first break, which it names (table, position or
seq, what is wrong): after a break every later link is suspect anyway. What a walk can and cannot see:
- an edited or deleted row, an inserted row, any edited column: the chain breaks at that row;
- a rewrite that recomputes every later hash, and a deleted tail: the chain is consistent again, so these are
  seen only against an anchor kept outside the database (a checkpoint: position -> hash), or through a
  cross-check that the attacker forgot (an inbound message naming an event position that is no longer there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, RowMapping, Table, select

from engine.store.hashing import EVENT_COLUMNS, GENESIS, SIDE_COLUMNS, chain_hash, row_hash
from engine.store.schema import (
    chain_seals,
    dead_letter_resolutions,
    dead_letters,
    events,
    inbound_messages,
    projection_positions,
)
from engine.store.timestamps import from_db

SIDE_TABLES: dict[str, Table] = {
    "inbound_messages": inbound_messages,
    "dead_letters": dead_letters,
    "dead_letter_resolutions": dead_letter_resolutions,
}
CHAINS = ("events", *SIDE_TABLES)
"""Every chain a checkpoint anchors: the event log and the append-only side tables."""
STREAM = {"yield_per": 5000}
"""Rows are walked in chunks: memory stays flat whatever the length of the log."""
LEGACY_ORDER = {"inbound_messages": "message_key", "dead_letters": "id", "dead_letter_resolutions": "id"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One place where the stored log is not what its chain, its seal or a checkpoint says it was."""

    table: str
    row: str
    """The position (events), seq (side tables) or other key of the row, as text."""
    reason: str

    def __str__(self) -> str:
        return f"{self.table} {self.row}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Anchor:
    """What a checkpoint saw of one chain: its length and the hash of its last row."""

    length: int
    hash: str
    source: str
    """Which checkpoint said so (a file name), for the message."""


@dataclass(slots=True)
class ChainWalk:
    findings: list[Finding] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    """chain -> (length, hash of its last row) as walked."""
    rows: int = 0


def _seal(conn: Connection, table: str) -> tuple[int, str] | None:
    row = conn.execute(select(chain_seals.c.rows, chain_seals.c.hash).where(chain_seals.c.table_name == table)).first()
    return (int(row[0]), str(row[1])) if row else None


def walk_all(conn: Connection, anchors: Mapping[str, list[Anchor]] | None = None) -> ChainWalk:
    """Walk every chain; anchors maps a chain to the checkpoints' (length, hash) pairs to hold against it."""
    anchors = anchors or {}
    walk = ChainWalk()
    _walk_events(conn, anchors.get("events", []), walk)
    for table in SIDE_TABLES:
        _walk_side(conn, table, anchors.get(table, []), walk)
    if not walk.findings:  # after a break the walk stopped early: its head is not the log's
        _cross_check(conn, walk)
    return walk


def _walk_events(conn: Connection, anchors: list[Anchor], walk: ChainWalk) -> None:
    seal = _seal(conn, "events")
    legacy_rows = seal[0] if seal else 0
    legacy_hash = GENESIS
    by_length = _anchor_map(anchors)
    previous, expected = GENESIS, 0
    columns = [events.c[c] for c in EVENT_COLUMNS]
    query = select(*columns, events.c.hash, events.c.chain_version).order_by(events.c.position)
    rows = conn.execute(query, execution_options=STREAM)
    for row in rows:
        values = row[:len(EVENT_COLUMNS)]
        position, stored, version = values[0], row[-2], row[-1]
        expected += 1
        walk.rows += 1
        if position != expected:
            walk.findings.append(Finding("events", f"position {expected}", "position is missing (a row was deleted)"))
            break
        if version == 1:
            if expected > legacy_rows:
                walk.findings.append(Finding("events", f"position {position}", "chain version 1 after the legacy seal: "
                                                                          "a row was inserted or its version edited"))
                break
            legacy_hash = row_hash(legacy_hash, "events", values)
            problem = _legacy_event_problem(previous, row._mapping, stored)
            if expected == legacy_rows and problem is None and seal is not None and legacy_hash != seal[1]:
                problem = "rows before the full-row chain differ from their seal (a column other than the payload "\
                          "was edited in rows 1.." + str(legacy_rows) + ")"
        else:
            problem = None if row_hash(previous, "events", values) == stored else \
                "hash does not match the previous hash and the row's columns (the row was edited)"
        if problem is not None:
            walk.findings.append(Finding("events", f"position {position}", problem))
            break
        previous = stored
        if (anchor := by_length.get(position)) is not None and anchor.hash != stored:
            walk.findings.append(Finding("events", f"position {position}",
                                         f"differs from checkpoint {anchor.source}: the log up to position "
                                         f"{position} was rewritten"))
            break
    else:
        if expected < legacy_rows:
            walk.findings.append(Finding("events", f"position {expected + 1}",
                                         f"missing: the seal covers {legacy_rows} rows"))
        _check_tail(walk, "events", expected, anchors)
    walk.heads["events"] = (expected, previous)


def _legacy_event_problem(previous: str, row: RowMapping, stored: str) -> str | None:
    """A version 1 row: its hash covers the payload; every column must agree with that payload."""
    payload = str(row["payload"])
    if chain_hash(previous, payload) != stored:
        return "hash does not match the previous hash and the payload"
    try:
        data = json.loads(payload)
    except ValueError:
        return "payload is not JSON"
    for column in ("event_id", "stream", "stream_version", "type", "schema_version"):
        if row[column] != data.get(column):
            return f"column {column} disagrees with the hashed payload"
    for column in ("occurred_at", "recorded_at"):
        value = row[column]
        stored_time = from_db(value).isoformat() if value is not None else None
        if stored_time is None or _iso(data.get(column)) != stored_time:
            return f"column {column} disagrees with the hashed payload"
    if row["derivation_set"] != data.get("derivation_set"):
        return "column derivation_set disagrees with the hashed payload"
    return None


def _iso(value: object) -> str | None:
    from datetime import datetime

    if not isinstance(value, str):
        return None
    try:
        return from_db(datetime.fromisoformat(value)).isoformat()
    except ValueError:
        return None


def _walk_side(conn: Connection, table: str, anchors: list[Anchor], walk: ChainWalk) -> None:
    t = SIDE_TABLES[table]
    columns = [t.c[c] for c in SIDE_COLUMNS[table]]
    seal = _seal(conn, table)
    legacy = _legacy_hash(conn, table)
    if legacy is not None and (seal is None or legacy != seal):
        walk.findings.append(Finding(table, "(rows without seq)", "rows written before the full-row chain differ "
                                                                  "from their seal, or a row was added without one"))
    start = seal[1] if seal else GENESIS
    previous, expected = start, 0
    by_length = _anchor_map(anchors)
    rows = conn.execute(
        select(*columns, t.c.hash).where(t.c.seq.is_not(None)).order_by(t.c.seq), execution_options=STREAM)
    for row in rows:
        values = row[:len(columns)]
        seq, stored = int(values[0]), row[-1]
        expected += 1
        walk.rows += 1
        if seq != expected:
            walk.findings.append(Finding(table, f"seq {expected}", "row is missing (deleted)"))
            break
        if row_hash(previous, table, values) != stored:
            walk.findings.append(Finding(table, f"seq {seq}", "hash does not match the previous hash and the row's "
                                                              "columns (the row was edited)"))
            break
        previous = stored
        if (anchor := by_length.get(seq)) is not None and anchor.hash != stored:
            walk.findings.append(Finding(table, f"seq {seq}", f"differs from checkpoint {anchor.source}: rows up to "
                                                              f"seq {seq} were rewritten"))
            break
    else:
        _check_tail(walk, table, expected, anchors)
    walk.heads[table] = (expected, previous)


def _legacy_hash(conn: Connection, table: str) -> tuple[int, str] | None:
    t = SIDE_TABLES[table]
    order = t.c[LEGACY_ORDER[table]]
    if conn.dialect.name == "postgresql" and LEGACY_ORDER[table] == "message_key":
        order = order.collate("C")  # type: ignore[assignment]
    current, count = GENESIS, 0
    query = select(*(t.c[c] for c in SIDE_COLUMNS[table])).where(t.c.seq.is_(None)).order_by(order)
    for row in conn.execute(query, execution_options=STREAM):
        current = row_hash(current, table, row)
        count += 1
    return (count, current) if count else None


def _anchor_map(anchors: list[Anchor]) -> dict[int, Anchor]:
    return {a.length: a for a in anchors if a.length > 0}


def _check_tail(walk: ChainWalk, table: str, length: int, anchors: list[Anchor]) -> None:
    beyond = [a for a in anchors if a.length > length]
    if beyond:
        last = max(beyond, key=lambda a: a.length)
        unit = "position" if table == "events" else "seq"
        walk.findings.append(Finding(table, f"{unit} {length + 1}", f"missing: checkpoint {last.source} saw {unit}s "
                                                                    f"up to {last.length}; the tail was deleted"))


def _cross_check(conn: Connection, walk: ChainWalk) -> None:
    """Positions named elsewhere that the log no longer has: a truncation the attacker did not finish."""
    head = walk.heads.get("events", (0, GENESIS))[0]
    for name, position in conn.execute(select(projection_positions.c.name, projection_positions.c.position)):
        if position > head:
            walk.findings.append(Finding("events", f"position {head + 1}", f"missing: read model {name} was built "
                                                                           f"up to position {position}"))
            return
    for (positions,) in conn.execute(select(inbound_messages.c.positions), execution_options=STREAM):
        try:
            highest = max((int(p) for p in json.loads(positions)), default=0)
        except (ValueError, TypeError):
            continue  # an edited row: its own chain reports it
        if highest > head:
            walk.findings.append(Finding("events", f"position {head + 1}", f"missing: an inbound message names "
                                                                           f"position {highest}"))
            return


def chain_heads(conn: Connection) -> dict[str, tuple[int, str]]:
    """The length and last hash of every chain, read from the last rows (for writing a checkpoint)."""
    from engine.store.eventstore import side_head

    last = conn.execute(select(events.c.position, events.c.hash).order_by(events.c.position.desc()).limit(1)).first()
    heads = {"events": (int(last[0]), str(last[1])) if last else (0, GENESIS)}
    for table in SIDE_TABLES:
        heads[table] = side_head(conn, table)
    return heads
