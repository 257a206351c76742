"""Through the real store: the same messages in different arrival orders give the same derived state."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from adapters.reader import read_bytes
from engine.app import App
from engine.config import Settings
from engine.processor import active_derived, fact_of
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "feed"
PATIENTS = (b"100002", b"100003", b"100007")


def _messages() -> list[bytes]:
    out = []
    for name in ("administrations.hl7", "lab_results.hl7"):
        for chunk in (EXAMPLES / name).read_bytes().split(b"\n"):
            if chunk.strip() and any(b"PID|1||" + p in chunk for p in PATIENTS):
                out.append(chunk)
    return out


def _derive(url: str, order: list[bytes]) -> dict[str, dict[str, object]]:
    app = App(Settings(database_url=url))
    ingestor = app.ingestor()
    ingestor.batch_size = 1
    for raw in order:
        ingestor.ingest(read_bytes(raw, origin="test", received_at=datetime.now(UTC), mapping=app.mapping))
    events = [s.event for s in app.store.read_all()]
    derived = active_derived(events)
    app.close()
    return {p: {key: fact_of(event) for key, event in d.items()} for p, d in derived.items()}


def test_arrival_order_does_not_change_derived_state(db_url: str, tmp_path: Path) -> None:
    messages = _messages()
    assert len(messages) > 50
    in_order = _derive(db_url, messages)
    assert set(in_order) == {p.decode() for p in PATIENTS}
    rng = random.Random(20240305)
    shuffled = messages[:]
    rng.shuffle(shuffled)
    url2 = f"sqlite:///{tmp_path / 'shuffled.db'}"
    assert _derive(url2, shuffled) == in_order
    reversed_url = f"sqlite:///{tmp_path / 'reversed.db'}"
    assert _derive(reversed_url, messages[::-1]) == in_order


def test_two_processes_writing_one_patient_stay_consistent(tmp_path: Path) -> None:
    """`serve` and a separate `itpwatch ingest` share a database: neither may derive from a stale cache."""
    from engine.verification import compare_derivations

    url = f"sqlite:///{tmp_path / 'two.db'}"
    messages = [m for m in _messages() if b"PID|1||100003" in m]
    first, second = App(Settings(database_url=url)), App(Settings(database_url=url))
    writers = [first.ingestor(), second.ingestor()]
    for i, raw in enumerate(sorted(messages, key=lambda m: m.split(b"|")[6])):
        writers[i % 2].ingest(read_bytes(raw, origin="test", received_at=datetime.now(UTC), mapping=first.mapping))
    events = [s.event for s in first.store.read_all()]
    assert compare_derivations(first, events) == []
    assert "ResponseLost" in {d.type for d in active_derived(events)["100003"].values()}
    first.close()
    second.close()
