"""The attacks of a person with full SQL access, on SQLite and PostgreSQL: each one is found by `verify`.

The attacker drops the append-only triggers first (they own the database), then edits. Edits that do not
recompute the chain break it at the edited row; a recomputed chain and a deleted tail are consistent again
and are found only against a signed checkpoint kept outside the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text

from engine.checkpoints import generate_key, load_checkpoints, load_private_key, take_checkpoint
from engine.store import EventStore
from engine.store.hashing import EVENT_COLUMNS, GENESIS, chain_hash, row_hash
from engine.store.migrate import upgrade
from engine.store.schema import events
from tests.store.test_eventstore import count

NOW = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)
TABLES = ("events", "inbound_messages", "dead_letters", "dead_letter_resolutions")


def open_triggers(store: EventStore) -> None:
    """What an attacker with full SQL access does first."""
    with store.engine.begin() as conn:
        for table in TABLES:
            if store.dialect == "postgresql":
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                for verb in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))


@pytest.fixture
def store(db_url: str) -> Iterator[EventStore]:
    s = EventStore.open(db_url)
    for day in range(1, 29):
        s.append([count(f"P{day % 3}", 200 + day, day, msg=f"M{day}")], message_key=f"LAB|M{day}")
    with s.writer() as w:
        w.dead_letter(raw=b"MSH|^~\\&|LAB|X", feed="mllp", origin="mllp:peer", reason="unknown unit", field="OBX-6",
                      error_code="103", ack_code="AE", message_key="LAB|BAD", recorded_at=NOW)
    yield s
    s.close()


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "checkpoint.pem"
    generate_key(path)
    return path


def checkpoint(store: EventStore, key: Path, directory: Path) -> None:
    result = take_checkpoint(store, directory, load_private_key(key), NOW)
    assert result.findings == [] and result.path is not None


def findings(store: EventStore, directory: Path | None = None, key: Path | None = None) -> list[str]:
    anchors = {}
    if directory is not None and key is not None:
        anchors, problems = load_checkpoints(directory, [load_private_key(key).public_key()])
        assert problems == []
    return [str(f) for f in store.verify_chains(anchors).findings]


def test_untouched_log_verifies_with_and_without_checkpoints(store: EventStore, key: Path, tmp_path: Path) -> None:
    checkpoint(store, key, tmp_path / "cp")
    store.append([count("P9", 99, 29, msg="M29")], message_key="LAB|M29")
    assert findings(store) == []
    assert findings(store, tmp_path / "cp", key) == []


@pytest.mark.parametrize(("column", "value"), [
    ("recorded_at", "'2024-03-01 00:00:00'"),
    ("occurred_at", "'2023-01-01 00:00:00'"),
    ("message_key", "'LAB|OTHER'"),
    ("stream_version", "70"),
    ("derivation_set", "'canonical'"),
])
def test_an_edited_column_breaks_the_chain_at_its_row(store: EventStore, column: str, value: str) -> None:
    open_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE events SET {column} = {value} WHERE position = 5"))
    assert findings(store)[0].startswith("events position 5: hash does not match")


@pytest.mark.parametrize(("table", "statement"), [
    ("inbound_messages", "UPDATE inbound_messages SET ack_code = 'AE' WHERE message_key = 'LAB|M3'"),
    ("dead_letters", "UPDATE dead_letters SET reason = 'nothing to see'"),
    ("inbound_messages", "DELETE FROM inbound_messages WHERE message_key = 'LAB|M3'"),
])
def test_side_tables_are_chained_too(store: EventStore, table: str, statement: str) -> None:
    open_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text(statement))
    assert any(f.startswith(f"{table} seq") for f in findings(store))


def _recompute_from(store: EventStore, position: int) -> None:
    """The attacker knows the (public) algorithm and rewrites every hash from the edited row on."""
    with store.engine.begin() as conn:
        previous = conn.execute(select(events.c.hash).where(events.c.position == position - 1)).scalar() or GENESIS
        rows = conn.execute(select(*(events.c[c] for c in EVENT_COLUMNS)).where(events.c.position >= position)
                            .order_by(events.c.position)).all()
        for row in rows:
            previous = row_hash(previous, "events", row)
            conn.execute(events.update().where(events.c.position == row[0]).values(hash=previous))


def test_a_recomputed_chain_is_found_only_against_a_checkpoint(store: EventStore, key: Path, tmp_path: Path) -> None:
    checkpoint(store, key, tmp_path / "cp")
    open_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = replace(payload, '210.0', '211.0') WHERE position = 10"))
    _recompute_from(store, 10)
    assert findings(store) == [], "without an outside anchor a consistent rewrite cannot be seen"
    found = findings(store, tmp_path / "cp", key)
    assert found and found[0].startswith("events position 28: differs from checkpoint")


def test_a_deleted_tail_is_found_against_a_checkpoint(store: EventStore, key: Path, tmp_path: Path) -> None:
    checkpoint(store, key, tmp_path / "cp")
    open_triggers(store)
    with store.engine.begin() as conn:  # a careful attacker removes what names the deleted events too
        conn.execute(text("DELETE FROM events WHERE position > 3"))
        conn.execute(text("DELETE FROM inbound_messages"))
        conn.execute(text("DELETE FROM dead_letters"))
    found = findings(store, tmp_path / "cp", key)
    assert "events position 4: missing: checkpoint" in found[0]
    assert "the tail was deleted" in found[0]


def test_a_careless_truncation_is_seen_even_without_a_checkpoint(store: EventStore) -> None:
    open_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE position > 3"))
    assert findings(store) == ["events position 4: missing: an inbound message names position 4"]


def test_an_altered_or_foreign_checkpoint_is_not_trusted(store: EventStore, key: Path, tmp_path: Path) -> None:
    checkpoint(store, key, tmp_path / "cp")
    path = next((tmp_path / "cp").glob("checkpoint-*.json"))
    path.write_text(path.read_text().replace('"length": 28', '"length": 27'))
    _, problems = load_checkpoints(tmp_path / "cp", [load_private_key(key).public_key()])
    assert [p.reason for p in problems] == ["signature does not match: the file was altered"]
    other = tmp_path / "other.pem"
    generate_key(other)
    _, problems = load_checkpoints(tmp_path / "cp", [load_private_key(other).public_key()])
    assert "not trusted" in problems[0].reason


def test_checkpoint_refuses_to_anchor_a_broken_log(store: EventStore, key: Path, tmp_path: Path) -> None:
    checkpoint(store, key, tmp_path / "cp")
    open_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = replace(payload, '210.0', '211.0') WHERE position = 10"))
    _recompute_from(store, 10)
    result = take_checkpoint(store, tmp_path / "cp", load_private_key(key), NOW)
    assert result.path is None and result.findings


# -- logs written before every column was hashed ------------------------------------------------------
def _legacy_log(engine: Engine) -> None:
    """Rows as revision 0003 wrote them: the event hash covers the payload only; side tables unchained."""
    upgrade(engine, "0003")
    previous = GENESIS
    with engine.begin() as conn:
        for position in range(1, 6):
            event = count("A", 100 + position, position).model_copy(update={"stream_version": position})
            payload = event.canonical_json()
            previous = chain_hash(previous, payload)
            sqlite = engine.dialect.name == "sqlite"
            occurred, recorded = (t.astimezone(UTC).replace(tzinfo=None) if sqlite else t
                                  for t in (event.occurred_at, event.recorded_at))
            conn.execute(text(
                "INSERT INTO events (position, event_id, stream, stream_version, type, schema_version, occurred_at,"
                " recorded_at, message_key, derivation_set, payload, hash) VALUES (:p, :i, 'A', :p, "
                "'PlateletCountRecorded', :sv, :o, :r, :k, NULL, :payload, :h)"),
                {"p": position, "sv": event.schema_version, "i": str(event.event_id), "k": f"LAB|M{position}",
                 "payload": payload, "h": previous, "o": occurred, "r": recorded})
            conn.execute(text("INSERT INTO inbound_messages (message_key, ack_code, positions, recorded_at) "
                              "VALUES (:k, 'AA', :pos, :r)"),
                         {"k": f"LAB|M{position}", "pos": f"[{position}]", "r": NOW.replace(tzinfo=None)})


def test_a_log_from_before_full_row_hashes_is_sealed_and_continues(db_url: str) -> None:
    url = db_url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    _legacy_log(engine)
    engine.dispose()
    store = EventStore.open(db_url)  # migrates to head: seals rows 1..5
    assert findings(store) == []
    store.append([count("A", 106, 6, msg="M6")], message_key="LAB|M6")
    with store.engine.connect() as conn:
        versions = [r[0] for r in conn.execute(select(events.c.chain_version).order_by(events.c.position))]
    assert versions == [1, 1, 1, 1, 1, 2]
    assert findings(store) == []
    open_triggers(store)
    with store.engine.begin() as conn:  # a column the version 1 hash never covered
        conn.execute(text("UPDATE events SET message_key = 'LAB|OTHER' WHERE position = 2"))
    assert findings(store)[0].startswith("events position 5: rows before the full-row chain differ from their seal")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET message_key = 'LAB|M2' WHERE position = 2"))
        conn.execute(text("UPDATE inbound_messages SET ack_code = 'AR' WHERE message_key = 'LAB|M1'"))
    assert findings(store)[0].startswith("inbound_messages (rows without seq)")
    store.close()
