"""No log line of a full ingest carries a patient identifier or a clinical value."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from engine.logs import SAFE_KEYS
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "feed"


def test_full_ingest_logs_carry_no_identifier_or_value(tmp_path: Path) -> None:
    env = {**os.environ, "ITPWATCH_LOG_LEVEL": "DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--db", f"sqlite:///{tmp_path / 'p.db'}", "--log-format", "json",
         "ingest", str(EXAMPLES)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=True,
    )
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert lines, "the ingest must log something to check"
    raw = (EXAMPLES / "lab_results.hl7").read_text(encoding="utf-8", errors="replace")
    mrns = set(re.findall(r"PID\|[^|]*\|[^|]*\|(\d+)\^", raw))
    values = set(re.findall(r"OBX\|\d+\|NM\|777-3[^|]*\|[^|]*\|([\d.]+)\|", raw))
    assert mrns and values
    for entry in lines:
        assert set(entry) <= SAFE_KEYS, entry
        text = json.dumps(entry)
        assert not any(mrn in text for mrn in mrns), entry
        for key, value in entry.items():
            if key in ("timestamp", "event"):
                continue
            assert not (isinstance(value, str) and value in values), entry
    assert "Test^" not in proc.stderr and "Patient" not in proc.stderr


def test_redaction_processor_drops_unknown_keys_and_digits() -> None:
    from engine.logs import drop_identifiers

    out = drop_identifiers(None, "info", {"event": "x", "patient": "4711", "feed": "mllp", "reason_code": "mrn 4711",
                                          "messages": 3})
    assert out == {"event": "x", "feed": "mllp", "messages": 3}


def test_stored_dead_letter_has_no_name_or_address(tmp_path: Path) -> None:
    from engine.privacy import redact

    raw = (b"MSH|^~\\&|LAB|X|||20240305||ORU^R01|1|P|2.5\rPID|1||4711^^^UKX^MR||Musterfrau^Erika||19650412|F|||"
           b"Beispielweg 1^^Leipzig\rNK1|1|Mustermann^Max\r")
    cleaned = redact(raw)
    assert b"Musterfrau" not in cleaned and b"Beispielweg" not in cleaned and b"Mustermann" not in cleaned
    assert b"4711^^^UKX^MR" in cleaned and b"19650412" in cleaned


def test_log_values_cannot_drive_a_terminal() -> None:
    from engine.logs import show_controls

    assert show_controls(None, "info", {"event": "x", "field": "OBX\x1b[2J"}) == {"event": "x", "field": "OBX\\x1b[2J"}
