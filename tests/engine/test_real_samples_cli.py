"""Every public sample file goes through `itpwatch ingest` without a crash or a hang."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import require_samples


def test_whole_samples_folder_ingests_with_a_summary(tmp_path: Path) -> None:
    samples = require_samples()
    db = f"sqlite:///{tmp_path / 's.db'}"
    result = CliRunner().invoke(app, ["--db", db, "--log-format", "json", "ingest", str(samples)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {c[1].strip(): c[2].strip() for c in (ln.split("│") for ln in result.output.splitlines()) if len(c) == 4}
    read = int(rows["messages read"])
    accounted = (int(rows["messages accepted"]) + int(rows["duplicates"])
                 + int(rows["messages skipped as not relevant"]) + int(rows["dead-lettered"]))
    assert read > 60 and accounted == read, rows
    assert int(rows["dead-lettered"]) >= 3, "the deliberately broken files are dead letters"
    timeline = CliRunner().invoke(app, ["--db", db, "dead-letters", "list"])
    assert "EXPECTED_FAIL" in timeline.output or "MALFORMED" in timeline.output
