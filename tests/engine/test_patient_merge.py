"""ADT^A40: one patient, whichever MRN the feeds used; history is re-keyed by a new event, never rewritten."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()


def msg(*segments: str) -> str:
    return "\r".join(segments)


def oru(control: str, mrn: str, filler: str, when: str, value: int) -> str:
    return msg(
        f"MSH|^~\\&|LAB_LIS|UKX|ITPWATCH|UKX|{when}||ORU^R01^ORU_R01|{control}|P|2.5",
        f"PID|1||{mrn}^^^UKX^MR||Test^Merge||19700101|F",
        f"OBR|1|O-{filler}|{filler}|58410-2^CBC^LN|||{when}",
        f"OBX|1|NM|777-3^Platelets^LN||{value}|G/L|150-400||||F|||{when}",
    )


def ras(control: str, mrn: str, when: str) -> str:
    return msg(
        f"MSH|^~\\&|PHARM|UKX|ITPWATCH|UKX|{when}||RAS^O17^RAS_O17|{control}|P|2.5",
        f"PID|1||{mrn}^^^UKX^MR||Test^Merge||19700101|F",
        f"ORC|RE|O-{control}|F-{control}",
        f"RXA|0|1|{when}|{when}|L01FC01^Daratumumab^ATC|1800|mg^mg^UCUM|||||||||||||CP|A",
        "RXR|SC^subcutaneous^HL70162",
    )


def a40(control: str, survivor: str, merged: str, when: str) -> str:
    return msg(
        f"MSH|^~\\&|KIS|UKX|ITPWATCH|UKX|{when}||ADT^A40^ADT_A39|{control}|P|2.5",
        f"PID|1||{survivor}^^^UKX^MR||Test^Merge||19700101|F",
        f"MRG|{merged}^^^UKX^MR",
    )


def itp(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, "--log-format", "json", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_a40_merge_joins_histories_and_retires_the_old_streams_derivations(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    first = tmp_path / "first.hl7"
    first.write_text("\n".join([
        ras("R1", "555", "20240304100000+0100"),
        oru("L1", "555", "F1", "20240311080000+0100", 62),
        oru("L2", "777", "F2", "20240312080000+0100", 71),  # the same person under a second MRN
    ]))
    itp(db, "ingest", str(first))
    assert "assessing" in itp(db, "status", "555")
    merge = tmp_path / "merge.hl7"
    merge.write_text(a40("A1", "777", "555", "20240315120000+0100"))
    itp(db, "ingest", str(merge))
    status = itp(db, "status")
    assert "777" in status and "responder" in status
    assert "555 " not in status and "│ 555" not in status, "the merged-away MRN is no longer a patient of its own"
    explained = itp(db, "explain", "777")
    assert "ResponseAchieved" in explained and "L1" in explained and "L2" in explained
    assert "re-derivation matches" in itp(db, "verify")
    report = json.loads(itp(db, "report", "--format", "json"))
    assert [p["patient"] for p in report["patients"]] == ["777"]
    assert report["patients"][0]["episodes"][0]["best_response"] == "R"
    # the old stream is untouched history plus one revision: nothing was rewritten
    timeline = itp(db, "timeline", "555")
    assert "DerivationRevised" in timeline and "PlateletCountRecorded" in timeline
    rebuilt_before = itp(db, "status")
    itp(db, "projections", "rebuild")
    assert itp(db, "status") == rebuilt_before
