from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from engine.store import ConcurrencyError, EventStore
from events import PlateletCountRecorded, Source, new_event_id, stable_event_id

CET = timezone(timedelta(hours=1))


def count(stream: str, value: float, day: int, *, msg: str = "M1", recorded: datetime | None = None,
          event_id: str | None = None) -> PlateletCountRecorded:
    return PlateletCountRecorded(
        event_id=stable_event_id(event_id) if event_id else new_event_id(),
        stream=stream,
        occurred_at=datetime(2024, 3, day, 8, 0, tzinfo=CET),
        recorded_at=recorded or datetime(2024, 3, day, 12, 0, tzinfo=UTC),
        source=Source(feed="test", sender="LAB", message_id=msg),
        value=value, original_value=str(value), original_unit="G/L", code="777-3", code_system="LN",
        status="final", result_key=f"F{day}|777-3|1",
    )


def test_append_assigns_positions_and_stream_versions(db_url: str) -> None:
    store = EventStore.open(db_url)
    r1 = store.append([count("A", 40, 1), count("A", 55, 2)])
    r2 = store.append([count("B", 20, 3)])
    assert r1.positions == (1, 2) and r2.positions == (3,)
    stored = store.read_stream("A")
    assert [s.event.stream_version for s in stored] == [1, 2]
    assert [s.position for s in store.read_all()] == [1, 2, 3]
    assert [s.position for s in store.read_all(after=1, until=2)] == [2]
    store.close()


def test_resent_message_appends_nothing_and_returns_first_positions(db_url: str) -> None:
    store = EventStore.open(db_url)
    store.append([count("A", 40, 1)])
    first = store.append([count("A", 60, 2, event_id="e1"), count("A", 61, 3, event_id="e2")], message_key="LAB|M7")
    again = store.append([count("A", 60, 2, event_id="e1x"), count("A", 61, 3, event_id="e2x")],
                         message_key="LAB|M7")
    assert first.positions == (2, 3) and not first.duplicate
    assert again.positions == (2, 3) and again.duplicate
    by_id = store.append([count("A", 60, 2, event_id="e1")])
    assert by_id.positions == (2,) and by_id.duplicate
    assert store.head() == 3
    store.close()


def test_optimistic_concurrency_conflict_writes_nothing(db_url: str) -> None:
    store = EventStore.open(db_url)
    store.append([count("A", 40, 1)])
    with pytest.raises(ConcurrencyError) as info:
        store.append([count("B", 10, 2), count("A", 41, 3)], expected_versions={"B": 0, "A": 0})
    assert info.value.stream == "A" and info.value.actual == 1
    assert store.head() == 1 and store.read_stream("B") == []
    ok = store.append([count("A", 41, 3)], expected_versions={"A": 1})
    assert ok.positions == (2,)
    store.close()


def test_reads_by_valid_time_and_recorded_cutoff(db_url: str) -> None:
    store = EventStore.open(db_url)
    store.append([count("A", 40, 1, recorded=datetime(2024, 3, 1, 12, tzinfo=UTC))])
    store.append([count("A", 50, 5, recorded=datetime(2024, 3, 10, 12, tzinfo=UTC))])
    store.append([count("A", 60, 3, recorded=datetime(2024, 3, 20, 12, tzinfo=UTC))])
    window = list(store.read_all(occurred_from=datetime(2024, 3, 2, tzinfo=UTC),
                                 occurred_until=datetime(2024, 3, 4, tzinfo=UTC)))
    assert [s.event.value for s in window] == [60]  # type: ignore[union-attr]
    as_of = list(store.read_all(recorded_until=datetime(2024, 3, 15, tzinfo=UTC)))
    assert [s.event.value for s in as_of] == [40, 50]  # type: ignore[union-attr]
    assert [s.event.value for s in store.read_stream("A", recorded_until=datetime(2024, 3, 2, tzinfo=UTC))] == [40]  # type: ignore[union-attr]
    store.close()


@pytest.mark.parametrize("statement", ["UPDATE events SET stream = 'X'", "DELETE FROM events",
                                       "UPDATE inbound_messages SET ack_code = 'AE'",
                                       "DELETE FROM inbound_messages"])
def test_database_refuses_update_and_delete(db_url: str, statement: str) -> None:
    store = EventStore.open(db_url)
    store.append([count("A", 40, 1)], message_key="LAB|M1")
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert store.head() == 1
    store.close()


def test_verify_names_first_altered_position(db_url: str) -> None:
    store = EventStore.open(db_url)
    for day in range(1, 6):
        store.append([count("A", 40 + day, day)])
    assert store.verify_chain() is None
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_append_only"))
            conn.execute(text("UPDATE events SET payload = replace(payload, '43.0', '93.0') WHERE position = 3"))
        else:
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("UPDATE events SET payload = replace(payload, '43.0', '93.0') WHERE position = 3"))
    broken = store.verify_chain()
    assert broken is not None and broken.position == 3
    store.close()


def test_postgres_appends_are_serialised_and_tailing_never_skips() -> None:
    """One writer holds its transaction open; a second one waits; positions follow commit order."""
    from tests.conftest import drop_pg_schema, pg_url_or_skip

    url = pg_url_or_skip()
    store = EventStore.open(url)
    order: list[str] = []
    entered = threading.Event()

    def slow_writer() -> None:
        with store.writer() as w:
            entered.set()
            w.append([count("A", 40, 1)])
            time.sleep(0.5)
            order.append("slow")

    t = threading.Thread(target=slow_writer)
    t.start()
    entered.wait(5)
    started = time.monotonic()
    fast = store.append([count("B", 50, 2)])
    waited = time.monotonic() - started
    order.append("fast")
    t.join()
    assert order == ["slow", "fast"]
    assert waited > 0.3, "the second writer must wait for the first one's lock"
    assert fast.positions == (2,)
    assert [s.position for s in store.read_all()] == [1, 2]
    store.close()
    drop_pg_schema(url)
