"""The storage side of the server in-process: what is answered when storing itself fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from server_support import ack_code, ack_segment, lab_message, query

from engine.app import App
from engine.config import Settings
from engine.server import Service
from engine.store import StoredEvent, StoreWriter


class BrokenDeriver:
    """A derivation that fails every time (a bug in a rule): the stored facts roll back with it."""

    def process(self, writer: StoreWriter, appended: Sequence[StoredEvent]) -> int:
        raise RuntimeError("rule engine exploded")


def test_a_message_that_makes_storing_fail_is_dead_lettered_and_answered_ae_207(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    app = App(Settings(database_url=f"sqlite:///{db}"))
    service = Service(app)
    try:
        service.ingestor.deriver = BrokenDeriver()
        message = lab_message("T-FAIL-0001")
        ack = service.store_hl7(message, "127.0.0.1:1")
        assert ack_code(ack) == "AE"
        assert ack_segment(ack, "ERR")[3].startswith("207^")
        assert query(db, "SELECT count(*) FROM events") == [(0,)]  # the facts rolled back with the derivation
        assert query(db, "SELECT error_code, ack_code FROM dead_letters") == [("207", "AE")]
        # A resend is answered the same, from the idempotency record, and stores nothing new.
        assert ack_code(service.store_hl7(message, "127.0.0.1:1")) == "AE"
        assert query(db, "SELECT count(*) FROM dead_letters") == [(1,)]
    finally:
        service.close()
        app.close()


class FailOnKey:
    """Fails the derivation whenever a given message is in the transaction: one poisoned message per group."""

    def __init__(self, real: object, poison: str) -> None:
        self.real = real
        self.poison = poison

    def process(self, writer: StoreWriter, appended: Sequence[StoredEvent]) -> int:
        if any(s.message_key and s.message_key.endswith(self.poison) for s in appended):
            raise RuntimeError("rule engine exploded")
        return int(self.real.process(writer, appended))  # type: ignore[attr-defined]


def test_group_commit_stores_a_group_in_one_transaction_and_isolates_a_poisoned_message(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    app = App(Settings(database_url=f"sqlite:///{db}"))
    service = Service(app)
    try:
        frames = [(lab_message(f"T-G-{i:04d}"), "127.0.0.1:2") for i in range(5)]
        acks = service.store_hl7_group(frames)
        assert [ack_code(a) for a in acks] == ["AA"] * 5
        assert [ack_segment(a, "MSA")[2] for a in acks] == [f"T-G-{i:04d}" for i in range(5)]
        assert query(db, "SELECT count(*) FROM inbound_messages") == [(5,)]
        # one message in the next group makes its transaction fail: the others are still stored, one by one
        service.ingestor.deriver = FailOnKey(service.ingestor.deriver, "T-H-0002")
        acks = service.store_hl7_group([(lab_message(f"T-H-{i:04d}"), "127.0.0.1:2") for i in range(4)])
        assert [ack_code(a) for a in acks] == ["AA", "AA", "AE", "AA"]
        assert query(db, "SELECT count(*) FROM inbound_messages") == [(9,)]
        assert query(db, "SELECT error_code FROM dead_letters") == [("207",)]
    finally:
        service.close()
        app.close()
