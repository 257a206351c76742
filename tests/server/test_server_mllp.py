"""`itpwatch serve` over MLLP, end to end: the real server process, real sockets, python-hl7's mllp_send."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from server_support import (
    LAB_FILE,
    MllpClient,
    Server,
    ack_code,
    ack_segment,
    cli,
    events_by_key,
    inbound_keys,
    lab_message,
    messages_of,
    mllp_send,
    msh,
    parse_acks,
    query,
    write_messages,
)

LAB_SENDER = "LAB_LIS^UKX|"


def test_mllp_send_lab_feed_every_ack_aa_and_events_stored(server: Server, reference_db: Path) -> None:
    messages = messages_of(LAB_FILE)
    done = mllp_send(server.mllp_port, LAB_FILE)
    assert done.returncode == 0, done.stderr.decode()
    acks = parse_acks(done.stdout)
    assert len(acks) == len(messages)
    assert {code for code, _, _ in acks} == {"AA"}
    # MSA-2 echoes each message's MSH-10, in order: one ACK per message, none mixed up.
    assert [control for _, control, _ in acks] == [msh(m, 10).decode() for m in messages]
    # The store holds the same facts, with the same stable event ids, as a file import of the same feed.
    assert inbound_keys(server.db, LAB_SENDER) == inbound_keys(reference_db, LAB_SENDER)
    stored = events_by_key(server.db, LAB_SENDER)
    assert stored == events_by_key(reference_db, LAB_SENDER)
    assert sum(len(v) for v in stored.values()) > len(messages)


def test_unmapped_unit_gets_ae_with_err_and_is_dead_lettered(server: Server) -> None:
    with MllpClient(server.mllp_port) as client:
        ack = client.exchange(lab_message("T-AE-0001", unit=b"furlongs/fortnight"))
    assert ack_code(ack) == "AE"
    assert ack_segment(ack, "MSA")[2] == "T-AE-0001"
    err = ack_segment(ack, "ERR")
    assert err[2] == "OBX^1^6"  # ERR-2 location: OBX-6 (units)
    assert err[3] == "103^Table value not found^HL70357"  # ERR-3 from table 0357
    assert err[4] == "E"
    assert "furlongs/fortnight" in err[8]  # ERR-8 the text
    assert inbound_keys(server.db, LAB_SENDER + "T-AE-0001") == {LAB_SENDER + "T-AE-0001": "AE"}
    assert events_by_key(server.db, LAB_SENDER + "T-AE-0001") == {}
    listed = cli(server.db, "dead-letters", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if "furlongs" in row)
    assert "OBX[1]-6" in line and "103" in line and "AE" in line


def test_garbage_bytes_get_ar(server: Server) -> None:
    with MllpClient(server.mllp_port) as client:
        ack = client.exchange(b"this is not HL7 at all \x00\xff")
        assert ack_code(ack) == "AR"
        assert ack_segment(ack, "ERR")[4] == "E"
        # The connection stays usable after garbage (and after bytes outside any frame).
        client.send_raw(b"noise between frames")
        assert ack_code(client.exchange(lab_message("T-AR-0002"))) == "AA"
    with MllpClient(server.mllp_port) as client:
        # Starts like HL7 but has no usable MSH: still rejected, not dropped.
        assert ack_code(client.exchange(b"MSH")) in ("AR", "AE")


def test_resend_gets_same_ack_code_and_stores_nothing_new(server: Server, tmp_path: Path) -> None:
    def counts() -> tuple[int, int, int]:
        (events,), = query(server.db, "SELECT count(*) FROM events")
        (inbound,), = query(server.db, "SELECT count(*) FROM inbound_messages")
        (dead,), = query(server.db, "SELECT count(*) FROM dead_letters")
        return events, inbound, dead

    accepted, rejected = lab_message("T-RS-0001", value=b"37"), lab_message("T-RS-0002", unit=b"bananas")
    with MllpClient(server.mllp_port) as client:
        first = [client.exchange(accepted), client.exchange(rejected)]
    before = counts()
    with MllpClient(server.mllp_port) as client:
        again = [client.exchange(accepted), client.exchange(rejected)]
    assert [ack_code(a) for a in first] == [ack_code(a) for a in again] == ["AA", "AE"]
    assert ack_segment(first[1], "ERR") == ack_segment(again[1], "ERR")
    assert ack_segment(first[0], "MSH")[9] == ack_segment(again[0], "MSH")[9]  # same ACK control id
    assert counts() == before

    # The whole lab feed resent by mllp_send: every ACK the same code, nothing new in the store.
    sample = write_messages(tmp_path / "resend.hl7", messages_of(LAB_FILE)[:60])
    first_run = mllp_send(server.mllp_port, sample)
    assert first_run.returncode == 0, first_run.stderr.decode()
    before = counts()
    second_run = mllp_send(server.mllp_port, sample)
    assert second_run.returncode == 0, second_run.stderr.decode()
    assert [a[:2] for a in parse_acks(second_run.stdout)] == [a[:2] for a in parse_acks(first_run.stdout)]
    assert counts() == before


def test_concurrent_senders_with_frames_split_across_writes(server: Server) -> None:
    senders, per_sender = 8, 4
    results: dict[int, list[tuple[str, str]]] = {}
    errors: list[BaseException] = []
    latencies: list[float] = []
    start = threading.Barrier(senders, timeout=10)

    def sender(n: int) -> None:
        try:
            with MllpClient(server.mllp_port) as client:
                start.wait()
                got = []
                for i in range(per_sender):
                    control = f"T-CC-{n:02d}-{i:02d}"
                    t0 = time.perf_counter()
                    ack = client.exchange(lab_message(control, mrn=f"9100{n:02d}", value=str(20 + i).encode()),
                                          chunks=3, pause=0.02)
                    latencies.append(time.perf_counter() - t0 - 0.04)
                    got.append((ack_code(ack), ack_segment(ack, "MSA")[2]))
                results[n] = got
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    for n in range(senders):
        assert results[n] == [("AA", f"T-CC-{n:02d}-{i:02d}") for i in range(per_sender)]
    keys = inbound_keys(server.db, LAB_SENDER + "T-CC-")
    assert len(keys) == senders * per_sender and set(keys.values()) == {"AA"}
    sql = "SELECT DISTINCT stream FROM events WHERE message_key LIKE 'LAB_LIS^UKX|T-CC-%'"
    streams = {s for (s,) in query(server.db, sql)}
    assert streams == {f"9100{n:02d}" for n in range(senders)}
    median = sorted(latencies)[len(latencies) // 2] * 1000
    print(f"ACK latency under {senders} concurrent senders: median {median:.1f} ms")


def _original_unit(db: Path, key: str) -> str:
    import json

    rows = query(db, "SELECT payload FROM events WHERE message_key = :k AND type = 'PlateletCountRecorded'", k=key)
    assert len(rows) == 1, rows
    return str(json.loads(rows[0][0])["original_unit"])


def test_latin1_message_decoded_by_msh18(server: Server) -> None:
    latin1 = lab_message("T-L1-0001", unit="Tsd/µl".encode("latin-1"), charset=b"8859/1", mrn="920001")
    assert b"\xb5" in latin1 and b"\xc2\xb5" not in latin1
    utf8 = lab_message("T-U8-0001", unit="Tsd/µl".encode(), charset=b"UNICODE UTF-8", mrn="920002")
    # The same bytes as the UTF-8 message, but declared Latin-1: read as 'Tsd/Âµl', which is not a known unit.
    mislabelled = lab_message("T-L1-0002", unit="Tsd/µl".encode(), charset=b"8859/1", mrn="920003")
    # An umlaut in a stored field (the unit text) arrives intact from a Latin-1 sender.
    umlaut = lab_message("T-L1-0003", unit="Thrombozytenzählung".encode("latin-1"), charset=b"8859/1")
    with MllpClient(server.mllp_port) as client:
        assert ack_code(client.exchange(latin1, chunks=3, pause=0.01)) == "AA"
        assert ack_code(client.exchange(utf8)) == "AA"
        bad = client.exchange(mislabelled)
        umlaut_ack = client.exchange(umlaut)
    assert _original_unit(server.db, LAB_SENDER + "T-L1-0001") == "Tsd/µl"
    assert _original_unit(server.db, LAB_SENDER + "T-U8-0001") == "Tsd/µl"
    assert ack_code(bad) == "AE" and "Tsd/Âµl" in ack_segment(bad, "ERR")[8]
    assert ack_code(umlaut_ack) == "AE" and "Thrombozytenzählung" in ack_segment(umlaut_ack, "ERR")[8]
