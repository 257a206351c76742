from __future__ import annotations

from adapter_helpers import EXAMPLE_A, RECEIVED, events_of

from adapters.base import Accepted, Rejected, Skipped
from adapters.hl7v2.split import decode_message, repair_encoding_characters, split_messages
from adapters.reader import read_bytes, read_hl7

ADT = "MSH|^~\\&|KIS|UKX|ITP|UKX|20240101||ADT^A01|A1|P|2.5\rPID|1||1^^^UKX^MR"


def test_line_endings_and_bom_are_normalised() -> None:
    for sep in ("\r", "\n", "\r\n"):
        data = b"\xef\xbb\xbf" + EXAMPLE_A.replace("\r", sep).encode()
        assert any(e.type == "PlateletCountRecorded" for e in events_of(data))


def test_several_messages_blank_lines_and_unterminated_last_segment() -> None:
    data = (ADT + "\n\n" + EXAMPLE_A + "\n\n" + ADT.replace("A1", "A2")).encode()
    chunks = split_messages(data)
    assert len(chunks) == 3 and all(c.error is None for c in chunks)
    outcomes = [m.outcome for m in read_bytes(data, origin="f", received_at=RECEIVED)]
    assert [type(o) for o in outcomes] == [Skipped, Accepted, Skipped]


def test_batches_are_unwrapped() -> None:
    data = "\r".join(["FHS|^~\\&|X", "BHS|^~\\&|X", ADT, "BTS|1", "BHS|^~\\&|X", EXAMPLE_A, "BTS|1", "FTS|2"])
    msgs = read_bytes(data.encode(), origin="f", received_at=RECEIVED)
    assert [m.message_id for m in msgs] == ["A1", "LAB240305-000123"]


def test_nested_bhs_rejected_not_raised() -> None:
    data = "\r".join(["BHS|^~\\&|X", "MSH|^~\\&|A|B|||2024||ADT^A04|1|P|2.5", "BHS|^~\\&|X", "PID|1", "BTS|1"])
    msgs = read_bytes(data.encode(), origin="f", received_at=RECEIVED)
    assert len(msgs) == 1 and isinstance(msgs[0].outcome, Rejected) and "BHS" in msgs[0].outcome.reason


def test_encoding_characters() -> None:
    assert repair_encoding_characters("MSH|^~\\\\&|A") == "MSH|^~\\&|A"
    five = EXAMPLE_A.replace("MSH|^~\\&|", "MSH|^~\\&#|", 1).encode()
    assert any(e.type == "PlateletCountRecorded" for e in events_of(five))
    doubled = EXAMPLE_A.replace("MSH|^~\\&|", "MSH|^~\\\\&|", 1).encode()
    assert any(e.type == "PlateletCountRecorded" for e in events_of(doubled))
    bang = EXAMPLE_A.replace("|", "!").replace("^", "$").encode()
    events = events_of(bang)
    assert [getattr(e, "value", None) for e in events if e.type == "PlateletCountRecorded"] == [48.0]


def test_charset_by_msh18() -> None:
    latin = (EXAMPLE_A.replace("Musterfrau", "Müller")).encode("latin-1")
    assert "Müller" in decode_message(latin)
    utf8 = EXAMPLE_A.replace("8859/1", "UNICODE UTF-8").replace("Musterfrau", "Müller").encode()
    assert "Müller" in decode_message(utf8)
    undeclared = EXAMPLE_A.replace("|8859/1", "").replace("Musterfrau", "Müller").encode("latin-1")
    assert "Müller" in decode_message(undeclared)


def test_garbage_before_msh_rejected() -> None:
    msgs = read_hl7(b"hello\rworld\r" + EXAMPLE_A.encode(), origin="f", received_at=RECEIVED)
    assert isinstance(msgs[0].outcome, Rejected) and msgs[0].outcome.ack_code == "AR"
    assert isinstance(msgs[1].outcome, Accepted)


def test_unknown_format_is_one_ar_naming_the_file() -> None:
    msgs = read_bytes(b"hello world", origin="/in/notes.txt", received_at=RECEIVED)
    assert len(msgs) == 1 and isinstance(msgs[0].outcome, Rejected)
    assert msgs[0].outcome.ack_code == "AR" and "notes.txt" in msgs[0].outcome.reason
