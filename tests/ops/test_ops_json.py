"""Machine-readable output (`--format json`, docs/cli-output.md), `ingest --strict`, and the ingest log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import REPO

FEED = REPO / "examples" / "feed"
SECOND_LAB = REPO / "examples" / "second-lab.hl7"
runner = CliRunner()


def itp(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, "--log-format", "json", *args])
    assert result.exit_code == code, result.output[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    folder = tmp_path_factory.mktemp("json")
    marked = folder / "marked.hl7"  # feed text that looks like terminal markup must come out verbatim
    marked.write_bytes(SECOND_LAB.read_bytes().split(b"MSH|")[1].join([b"MSH|", b""]).replace(
        "Tsd./µl".encode("latin-1"), b"[red]G/L[/red]").replace(b"MVZ20240401-001", b"MVZ-MARKUP-1"))
    db = f"sqlite:///{folder / 'j.db'}"
    summary = json.loads(itp(db, "ingest", "--format", "json", str(FEED), str(SECOND_LAB), str(marked)))
    return db, summary


def test_ingest_summary(loaded: tuple[str, dict[str, object]]) -> None:
    _, summary = loaded
    assert summary["files"] == 7 and summary["duplicates"] == 2 and summary["unreadable"] == []
    assert summary["messages"] == (summary["accepted"] + summary["duplicates"]  # type: ignore[operator]
                                   + sum(summary["skipped"].values()) + len(summary["dead_lettered"]))  # type: ignore[attr-defined]
    reasons = [d["reason"] for d in summary["dead_lettered"]]  # type: ignore[attr-defined]
    assert len(reasons) == 3 and "unit '[red]G/L[/red]' not in unit map" in reasons


def test_status_timeline_explain(loaded: tuple[str, dict[str, object]]) -> None:
    db, _ = loaded
    status = json.loads(itp(db, "status", "--format", "json"))
    patients = {p["patient"]: p for p in status["patients"]}
    assert patients["100003"]["state"] == "relapsed" and patients["100003"]["since"] == "2021-09-16"
    assert status["profile"] == "site" and status["cohorts"][0]["agent"] == "daratumumab"
    one = json.loads(itp(db, "status", "100003", "--format", "json"))
    assert [p["patient"] for p in one["patients"]] == ["100003"] and one["cohorts"] == []
    timeline = json.loads(itp(db, "timeline", "100003", "--format", "json"))
    times = [e["valid_time"] for e in timeline["events"]]
    assert timeline["patient"] == "100003" and len(times) > 20
    assert any(e["derived"] and e["type"] == "ResponseLost" for e in timeline["events"])
    assert all(e["event"]["stream"] == "100003" for e in timeline["events"])
    explained = json.loads(itp(db, "explain", "100003", "--format", "json"))
    relapse = next(t for t in explained["transitions"] if t["type"] == "ResponseLost")
    assert relapse["rule_id"] and relapse["statement"] and relapse["inputs"]
    assert any(i["type"] == "PlateletCountRecorded" and i["event"]["value"] < 50 for i in relapse["inputs"])


def test_alerts_and_dead_letters(loaded: tuple[str, dict[str, object]]) -> None:
    db, _ = loaded
    alerts = json.loads(itp(db, "alerts", "list", "--open", "--format", "json"))["alerts"]
    assert alerts and all(a["state"] == "open" for a in alerts)
    assert {"id", "patient", "alert", "severity", "message", "occurred_at", "state"} <= set(alerts[0])
    letters = json.loads(itp(db, "dead-letters", "list", "--format", "json"))
    assert [d["field"] for d in letters] == ["OBX[1]-6"] * 3
    assert {d["reason"] for d in letters} >= {"unit '[red]G/L[/red]' not in unit map"}
    assert all(d["ack_code"] == "AE" and d["state"] == "open" for d in letters)


def test_strict_exits_1_after_a_dead_letter(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    itp(db, "ingest", "--strict", str(FEED / "enrollment.csv"))
    out = itp(db, "ingest", "--strict", "--format", "json", str(SECOND_LAB), code=1)
    assert len(json.loads(out)["dead_lettered"]) == 2, "the summary is printed before the exit code"


def test_one_log_line_per_ingest_run_and_file_lines_at_debug(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    files = [str(FEED / "enrollment.csv"), str(FEED / "adt_orders.hl7")]
    info = runner.invoke(app, ["--db", db, "--log-format", "json", "ingest", *files])
    lines = [json.loads(line) for line in info.stderr.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["ingest finished"]
    assert lines[0]["messages"] > 10
    debug = runner.invoke(app, ["--db", db, "--log-format", "json", "--log-level", "debug", "ingest", *files])
    events = [json.loads(line)["event"] for line in debug.stderr.splitlines() if line.startswith("{")]
    assert events.count("file read") == 2 and events.count("ingest finished") == 1
