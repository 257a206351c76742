"""A site copies a profile, edits it and points itpwatch at it: rules and report follow the edited copy."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import REPO

FEED = [REPO / "examples" / "feed" / name for name in ("administrations.hl7", "lab_results.hl7")]


def patient_of(report: dict[str, object], mrn: str) -> dict[str, object]:
    return next(p for p in report["patients"] if p["patient"] == mrn)  # type: ignore[attr-defined, index]


def run(db: str, profile: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--db", db, "--profile", profile, "--log-format", "json", *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_edited_rescue_window_changes_rules_and_report_alike(tmp_path: Path) -> None:
    """100007's rise after IVIG lies inside the 28-day rescue window: NR by default, R with a 7-day window."""
    default_db = f"sqlite:///{tmp_path / 'default.db'}"
    run(default_db, "site", "ingest", *map(str, FEED))
    default = json.loads(run(default_db, "site", "report", "--format", "json"))
    assert patient_of(default, "100007")["episodes"][0]["best_response"] == "NR"  # type: ignore[index]

    copy = tmp_path / "site-short-rescue.yaml"
    text = (REPO / "rules" / "profiles" / "site.yaml").read_text()
    assert "rescue_days: 28" in text
    copy.write_text(text.replace("rescue_days: 28", "rescue_days: 7"))
    edited_db = f"sqlite:///{tmp_path / 'edited.db'}"
    run(edited_db, str(copy), "ingest", *map(str, FEED))
    edited = json.loads(run(edited_db, str(copy), "report", "--format", "json"))
    assert edited["profile_version"] != default["profile_version"]
    episode = patient_of(edited, "100007")["episodes"][0]  # type: ignore[index]
    assert episode["best_response"] in ("R", "CR")
    assert "re-derivation matches" in run(edited_db, str(copy), "verify")
