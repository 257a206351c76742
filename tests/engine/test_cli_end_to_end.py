"""The CLI end to end on the bundled example feed: the numbers a clinician reads must be the expected ones."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "feed"
EXPECTED = json.loads((REPO / "examples" / "expected.json").read_text())
runner = CliRunner()


def itp(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, "--log-format", "json", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def summary_rows(output: str) -> dict[str, str]:
    rows = [line.split("│") for line in output.splitlines() if line.count("│") == 3]
    return {cells[1].strip(): cells[2].strip() for cells in rows}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'itpwatch.db'}"
    out = itp(db, "ingest", str(EXAMPLES))
    assert "dead-lettered" in out
    return db


def test_ingest_summary_counts_every_message(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    out = itp(db, "ingest", str(EXAMPLES))
    lines = summary_rows(out)
    hl7_messages = sum(f.read_bytes().count(b"MSH|") for f in EXAMPLES.glob("*.hl7"))
    fhir_entries = json.loads((EXAMPLES / "fhir_bundle.json").read_text())["entry"]
    csv_rows = len((EXAMPLES / "enrollment.csv").read_text().strip().splitlines()) - 1
    assert int(lines["messages read"]) == hl7_messages + len(fhir_entries) + csv_rows
    assert int(lines["duplicates"]) == 2
    assert int(lines["dead-lettered"]) == 0
    assert int(lines["derived events appended"]) > 0
    again = itp(db, "ingest", str(EXAMPLES))
    lines = summary_rows(again)
    assert int(lines["events appended"]) == 0, "a second import of the same files appends nothing"
    assert int(lines["derived events appended"]) == 0


def test_missing_path_exits_non_zero_but_reads_the_rest(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["--db", db, "ingest", str(EXAMPLES / "enrollment.csv"), str(tmp_path / "nope.hl7")])
    assert result.exit_code == 2
    assert "events appended" in result.output


def test_report_json_matches_the_expected_cohort(loaded: str) -> None:
    report = json.loads(itp(loaded, "report", "--agent", "daratumumab", "--format", "json"))
    summary = EXPECTED["cohort_summary"]
    patients = {p["patient"]: p for p in report["patients"]}
    assert len(patients) == summary["daratumumab_patients"]
    assert report["profile"] == "site" and len(report["profile_version"]) == 12
    for mrn, want in EXPECTED["patients"].items():
        if not want["daratumumab_cohort"]:
            assert mrn not in patients
            continue
        got = patients[mrn]
        assert got["applications"] == want["applications"]["daratumumab"], mrn
        first = got["episodes"][0]
        assert first["best_response"] == want["episode_details"][0]["best_response"], mrn
        assert first["response_onset"] == want["episode_details"][0]["response_onset"], mrn
        assert first["relapse_onset"] == want["episode_details"][0]["relapse_onset"], mrn
        baseline = want["episode_details"][0]["baseline"]
        assert first["baseline"] == (baseline["value"] if baseline else None), mrn
    ttr = sorted(e["time_to_response_days"] for p in patients.values() for e in p["episodes"][:1]
                 if e["time_to_response_days"] is not None)
    assert ttr == summary["ttr_days_first_episode"]


def test_text_report_states_the_abstract_figures(loaded: str) -> None:
    out = itp(loaded, "report", "--format", "text")
    assert "5 of 8 patients (62.5 %, 95 % CI 24.5–91.5)" in out
    assert "median time to response was 2 weeks (range 1–10)" in out
    assert "relapsed 2 and 4 months after response" in out


def test_status_timeline_explain(loaded: str) -> None:
    status = itp(loaded, "status")
    assert "100003" in status and "relapsed" in status
    assert "100006" in status and "non-responder" in status
    timeline = itp(loaded, "timeline", "100003")
    assert "ResponseAchieved" in timeline and "PlateletCountRecorded" in timeline
    explained = itp(loaded, "explain", "100003")
    assert "rule site.response" in explained and "LAB_LIS" in explained
    itp(loaded, "timeline", "no-such-patient", code=1)


def test_verify_passes_then_names_a_tampered_position(tmp_path: Path) -> None:
    db_file = tmp_path / "v.db"
    db = f"sqlite:///{db_file}"
    itp(db, "ingest", str(EXAMPLES / "enrollment.csv"), str(EXAMPLES / "fhir_bundle.json"))
    assert "re-derivation matches" in itp(db, "verify")
    from sqlalchemy import create_engine

    engine = create_engine(db)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER events_no_update"))
        conn.execute(text("UPDATE events SET payload = replace(payload, 'primary', 'secondary') WHERE position = 2"))
    out = itp(db, "verify", code=1)
    assert "events position 2: hash does not match" in out


def test_verify_fails_when_a_derivation_is_missing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'n.db'}"
    itp(db, "ingest", "--no-derive", str(EXAMPLES / "administrations.hl7"), str(EXAMPLES / "lab_results.hl7"))
    out = itp(db, "verify", code=1)
    assert "missing in store" in out


def test_tick_derives_non_response_by_event_time(tmp_path: Path) -> None:
    """Patient 100006's only evidence is before day 84; a clock tick past D1+84 must declare NR, not before."""
    db = f"sqlite:///{tmp_path / 't.db'}"
    adm = [m for m in (EXAMPLES / "administrations.hl7").read_bytes().split(b"\n") if b"100006" in m][:1]
    single = tmp_path / "one_dose.hl7"
    single.write_bytes(b"\n".join(adm) + b"\n")
    itp(db, "ingest", str(single))
    d1 = EXPECTED["patients"]["100006"]["episode_details"][0]["d1"]
    day83 = datetime.fromisoformat(d1).replace(tzinfo=UTC).toordinal() + 82
    before = datetime.fromordinal(day83).replace(hour=12, tzinfo=UTC).isoformat()
    after = datetime.fromordinal(day83 + 2).replace(hour=12, tzinfo=UTC).isoformat()
    itp(db, "tick", "--at", before)
    assert "non-responder" not in itp(db, "status", "100006")
    itp(db, "tick", "--at", after)
    assert "non-responder" in itp(db, "status", "100006")


def test_replay_hides_what_was_recorded_later(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    labs = (EXAMPLES / "lab_results.hl7").read_bytes().split(b"\n")
    adms = EXAMPLES / "administrations.hl7"
    itp(db, "ingest", str(adms))
    time.sleep(0.05)
    cut = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    rest = tmp_path / "labs.hl7"
    rest.write_bytes(b"\n".join(labs))
    itp(db, "ingest", str(rest))
    then = itp(db, "replay", "--as-of-recorded", cut, "--format", "json")
    now = json.loads(itp(db, "report", "--format", "json"))
    assert now["summary"]["responders"] == 5
    report_then = json.loads(then[then.index("{"):])
    assert report_then["summary"]["responders"] == 0, "no count had been recorded at the cut"


def test_dead_letter_list_show_and_retry_after_mapping(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.db'}"
    lab = next(m for m in (EXAMPLES / "lab_results.hl7").read_bytes().split(b"\n") if b"777-3" in m)
    segments = lab.split(b"\r")
    for i, segment in enumerate(segments):
        if segment.startswith(b"OBX") and b"777-3" in segment:
            fields = segment.split(b"|")
            fields[6] = b"Tsd/nl"
            segments[i] = b"|".join(fields)
    odd = b"\r".join(segments)
    assert odd != lab
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(odd)
    out = itp(db, "ingest", str(bad))
    assert "OBX" in out and "Tsd/nl" in out
    listing = itp(db, "dead-letters", "list")
    assert "bad.hl7" in listing and "103" in listing
    shown = itp(db, "dead-letters", "show", "1")
    assert "REDACTED" in shown or "PID" in shown
    assert "still rejected" in itp(db, "dead-letters", "retry", "1")
    mapping = tmp_path / "site.yaml"
    mapping.write_text("units:\n  Tsd/nl: 1.0\n")
    retried = runner.invoke(app, ["--db", db, "--mapping", str(mapping), "dead-letters", "retry", "--all"])
    assert retried.exit_code == 0 and "accepted" in retried.output
    assert "open" not in itp(db, "dead-letters", "list")
    assert "PlateletCountRecorded" in itp(db, "timeline", lab.split(b"PID|")[1].split(b"|")[2].split(b"^")[0].decode())


def test_projections_rebuild_is_identical(loaded: str) -> None:
    from sqlalchemy import create_engine

    itp(loaded, "projections", "update")
    engine = create_engine(loaded)

    queries = ("SELECT * FROM patient_status ORDER BY patient", "SELECT * FROM alerts ORDER BY alert_event_id",
               "SELECT * FROM episodes ORDER BY patient, agent, episode", "SELECT * FROM cohort_statistics")

    def snapshot() -> list[list[tuple[object, ...]]]:
        with engine.connect() as conn:
            return [[tuple(r) for r in conn.execute(text(q)).all()] for q in queries]

    before = snapshot()
    assert all(before)
    assert '"responders":5' in str(before[3])
    itp(loaded, "projections", "rebuild")
    assert snapshot() == before


def test_what_if_set_leaves_canonical_untouched_and_compare_explains(loaded: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(loaded)
    with engine.connect() as conn:
        canonical = conn.execute(text("SELECT count(*), max(stream_version) FROM events WHERE stream = '100003'")).one()
    out = itp(loaded, "rederive", "--profile", "iwg2009")
    assert "derivation set 'iwg2009'" in out
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), max(stream_version) FROM events WHERE stream = '100003'")).one() \
            == canonical
        assert conn.execute(text("SELECT count(*) FROM events WHERE stream LIKE 'iwg2009::%'")).scalar()
    compared = itp(loaded, "compare", "site", "iwg2009")
    assert "responders: site 5/8" in compared
    assert "why site:" in compared or "0 episode(s) disagree" in compared
    assert "re-derivation matches" in itp(loaded, "verify")


def test_report_under_another_profile_is_derived_in_memory(loaded: str) -> None:
    """`report --profile iwg2009`: IWG criteria over the same facts, nothing stored, canonical untouched."""
    from sqlalchemy import create_engine

    engine = create_engine(loaded)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM events")).scalar()
    iwg = json.loads(itp(loaded, "report", "--profile", "iwg2009", "--format", "json"))
    site = json.loads(itp(loaded, "report", "--profile", "site", "--format", "json"))
    assert iwg["profile"] == "iwg2009" and site["profile"] == "site"
    assert site["summary"]["responders"] == 5
    assert iwg["summary"]["responders"] != site["summary"]["responders"], "IWG (>= 30 and doubling) differs"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == before
