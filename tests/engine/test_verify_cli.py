"""`itpwatch verify` end to end on SQLite and PostgreSQL: signed checkpoints, the attacks of issue 16, read models.

The attacker has full SQL access (drops or disables the append-only triggers) but not the checkpoint
directory or the signing key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from engine.cli import app
from engine.store.hashing import EVENT_COLUMNS, GENESIS, row_hash
from engine.store.schema import events
from tests.conftest import REPO

FEED = REPO / "examples" / "feed"
runner = CliRunner()


def itp(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, "--log-format", "json", *args])
    assert result.exit_code == code, result.output
    return result.output


def sql(db: str, *statements: str) -> None:
    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for table in ("events", "inbound_messages"):
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def recompute_chain(db: str, start: int) -> None:
    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        previous = conn.execute(select(events.c.hash).where(events.c.position == start - 1)).scalar() or GENESIS
        for row in conn.execute(select(*(events.c[c] for c in EVENT_COLUMNS)).where(events.c.position >= start)
                                .order_by(events.c.position)).all():
            previous = row_hash(previous, "events", row)
            conn.execute(events.update().where(events.c.position == row[0]).values(hash=previous))
    engine.dispose()


@pytest.fixture
def checkpointed(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    key, directory = tmp_path / "keys" / "checkpoint.pem", tmp_path / "checkpoints"
    itp(db_url, "checkpoint-key", str(key))
    monkeypatch.setenv("ITPWATCH_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("ITPWATCH_CHECKPOINT_DIR", str(directory))
    itp(db_url, "ingest", str(FEED / "lab_results.hl7"), str(FEED / "administrations.hl7"))
    itp(db_url, "alerts", "list")  # builds the read models
    assert "checkpoint written" in itp(db_url, "checkpoint")
    out = itp(db_url, "verify", "--checkpoints", str(directory))
    assert "the checkpoints match" in out and "read models match a rebuild" in out
    return db_url, directory


def test_a_payload_edit_with_a_recomputed_chain_fails_verify(checkpointed: tuple[str, Path]) -> None:
    db, directory = checkpointed
    sql(db, "UPDATE events SET payload = replace(payload, '\"value\"\\:', '\"value\"\\:1') "
            "WHERE position = 10 AND type = 'PlateletCountRecorded'")
    recompute_chain(db, 1)
    out = itp(db, "verify", "--checkpoints", str(directory), code=1)
    assert "events position" in out and "differs from checkpoint" in out


def test_a_deleted_tail_fails_verify(checkpointed: tuple[str, Path]) -> None:
    db, _ = checkpointed
    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        head = int(conn.execute(text("SELECT max(position) FROM events")).scalar() or 0)
    engine.dispose()
    sql(db, f"DELETE FROM events WHERE position > {head - 25}", "DELETE FROM inbound_messages",
        "DELETE FROM projection_positions")
    out = itp(db, "verify", code=1)  # the checkpoint directory of the settings is used by default
    assert f"events position {head - 24}: missing: checkpoint" in out


def test_an_edited_recorded_time_fails_verify(checkpointed: tuple[str, Path]) -> None:
    """It changes what `replay --as-of-recorded` answers; occurred_at and message_key: tests/store."""
    db, _ = checkpointed
    sql(db, "UPDATE events SET recorded_at = '2019-01-01 00:00:00' WHERE position = 7")
    assert "events position 7: hash does not match" in itp(db, "verify", code=1)


def test_edited_read_tables_are_named_and_rebuild_repairs_them(checkpointed: tuple[str, Path]) -> None:
    db, _ = checkpointed
    sql(db, "UPDATE alerts SET state = 'acknowledged', acknowledged_by = 'nobody' WHERE state = 'open'",
        "UPDATE patient_status SET state = 'complete-responder'")
    out = itp(db, "verify", code=1)
    assert "alerts alert_event_id=" in out and "column state: stored 'acknowledged', the log gives 'open'" in out
    assert "patient_status derivation_set=canonical, patient=" in out and "column state: stored" in out
    assert "itpwatch projections rebuild" in out
    itp(db, "projections", "rebuild")
    assert "read models match a rebuild" in itp(db, "verify")


def test_checkpoints_also_go_to_the_checkpoint_sink_and_alerts_do_not(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, object]] = []

    class Archive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Archive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text(f"sinks:\n  - {{name: log, kind: log}}\n  - {{name: anchor, kind: webhook, "
                     f"url: 'http://127.0.0.1:{server.server_port}/cp'}}\n")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    itp(db, "checkpoint-key", str(tmp_path / "k.pem"))
    monkeypatch.setenv("ITPWATCH_CHECKPOINT_KEY", str(tmp_path / "k.pem"))
    monkeypatch.setenv("ITPWATCH_CHECKPOINT_DIR", str(tmp_path / "cp"))
    monkeypatch.setenv("ITPWATCH_CHECKPOINT_SINK", "anchor")
    itp(db, "--sinks", str(sinks), "ingest", str(FEED / "lab_results.hl7"), str(FEED / "administrations.hl7"))
    itp(db, "--sinks", str(sinks), "checkpoint")
    itp(db, "--sinks", str(sinks), "alerts", "dispatch")
    server.shutdown()
    assert [r["kind"] for r in received] == ["checkpoint"], "the checkpoint, and no alert, reached the archive"
    assert received[0]["signature"] and received[0]["chains"]


def test_rows_written_while_the_log_grew_are_not_a_difference(tmp_path: Path) -> None:
    """A projection rewrites a touched patient from the whole stream of the moment, beyond its position."""
    from engine.projections.patients import write_patients
    from engine.projections.status import PatientStatusProjection
    from engine.store import EventStore

    db = f"sqlite:///{tmp_path / 'x.db'}"
    itp(db, "ingest", str(FEED / "administrations.hl7"))
    itp(db, "alerts", "list")  # read models at the head of the log
    itp(db, "ingest", str(FEED / "lab_results.hl7"))  # the log grows; the read models stay where they were
    store = EventStore.open(db)
    with store.engine.begin() as conn:  # what an update racing with appends leaves behind
        write_patients(conn, [s for s in store.streams() if not s.startswith("$")], [PatientStatusProjection()])
    store.close()
    assert "read models match a rebuild" in itp(db, "verify")
    sql(db, "UPDATE patient_status SET state = 'complete-responder'")
    assert "column state: stored 'complete-responder'" in itp(db, "verify", code=1)
