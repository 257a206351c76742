from __future__ import annotations

from datetime import datetime, timedelta, timezone

from adapter_helpers import EXAMPLE_A, obx, oru, read_one

from adapters.base import Rejected
from adapters.hl7v2.ack import ack_for, build_ack, err_location

AT = datetime(2024, 3, 5, 9, 40, 13, tzinfo=timezone(timedelta(hours=1)))


def _segments(ack: bytes) -> list[list[str]]:
    return [s.split("|") for s in ack.decode().split("\r") if s]


def test_aa_swaps_sender_and_echoes_control_id() -> None:
    ack = build_ack(EXAMPLE_A.encode(), "AA", at=AT)
    msh, msa = _segments(ack)
    assert msh[2:6] == ["ITP_ENGINE", "UKX_HAEMATOLOGIE", "LAB_LIS", "UKX_ZENTRALLABOR"]
    assert msh[6] == "20240305094013+0100"
    assert msh[8] == "ACK^R01^ACK"
    assert msh[9].startswith("ACK") and len(msh[9]) == 20
    assert msa == ["MSA", "AA", "LAB240305-000123"]
    assert build_ack(EXAMPLE_A.encode(), "AA", at=AT) == ack  # deterministic


def test_ae_with_err_segment_for_unmapped_unit() -> None:
    msg = read_one(oru(obx(unit="Tsd/nl")))
    assert isinstance(msg.outcome, Rejected)
    segs = _segments(ack_for(msg, at=AT))
    assert segs[1][:2] == ["MSA", "AE"]
    err = segs[2]
    assert err[0] == "ERR" and err[2] == "OBX^1^6" and err[3] == "103^Table value not found^HL70357"
    assert err[4] == "E" and "Tsd/nl" in err[8]


def test_ar_for_garbage_has_empty_msa2() -> None:
    ack = build_ack(b"\x00\x01 not hl7 at all", "AR", at=AT, error=Rejected("not HL7", ack_code="AR"))
    segs = _segments(ack)
    assert segs[0][0] == "MSH" and segs[1][:3] == ["MSA", "AR", ""]
    assert segs[2][3].startswith("207^")


def test_reason_text_is_escaped() -> None:
    ack = build_ack(EXAMPLE_A.encode(), "AE", at=AT, error=Rejected("bad | value ^ x", field="PID-3"))
    err = _segments(ack)[2]
    assert err[2] == "PID^1^3" and err[8] == "bad \\F\\ value \\S\\ x"


def test_err_location_forms() -> None:
    assert err_location("OBX[3]-6") == "OBX^3^6"
    assert err_location("Observation.valueQuantity.unit") == ""
    assert err_location(None) == ""


def test_msh18_is_never_echoed_with_what_it_smuggles() -> None:
    """MSH-18 was echoed unescaped: a sender with its own field separator could add fields to the ACK."""
    raw = b"MSH#^~\\&#LAB#UKX#ITPWATCH#UKX#20240305##ORU^R01#C1#P#2.5######8859/1~X|EVIL|MSA\rPID#1##4711^^^UKX^MR"
    msh, msa, err = _segments(build_ack(raw, "AE", at=AT))
    assert msh[17] == "8859/1" and len(msh) == 18, "only the known character set name is echoed"
    assert msa[:2] == ["MSA", "AE"] and err[0] == "ERR"
    unknown = raw.replace(b"8859/1~X|EVIL|MSA", b"UNICODE UTF-8|EVIL")
    assert "EVIL" not in build_ack(unknown, "AE", at=AT).decode()
