"""Crash and shutdown of `itpwatch serve`: SIGKILL mid-stream loses and duplicates nothing; SIGTERM exits cleanly."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
from server_support import (
    ADMIN_FILE,
    LAB_FILE,
    MLLP_SEND,
    MllpClient,
    Server,
    ack_code,
    env,
    events_by_key,
    inbound_keys,
    lab_message,
    messages_of,
    mllp_send,
    msh,
    parse_acks,
    write_messages,
)


def test_sigkill_mid_stream_then_resend_unacked_stores_every_message_exactly_once(
    tmp_path: Path, reference_db: Path
) -> None:
    messages = messages_of(LAB_FILE) + messages_of(ADMIN_FILE)
    feed = write_messages(tmp_path / "feed.hl7", messages)
    server = Server(tmp_path / "x.db").start(http=False)
    kill_after = len(messages) // 3
    sender = subprocess.Popen([MLLP_SEND, "--loose", "-f", str(feed), "-p", str(server.mllp_port), "127.0.0.1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    try:
        assert sender.stdout is not None
        acked: list[tuple[str, str]] = []
        output = b""
        # mllp_send prints each ACK as it arrives (unbuffered): kill the server once a third is ACKed,
        # while the sender is still streaming.
        for line in sender.stdout:
            output += line
            acked = [a[:2] for a in parse_acks(output)]
            if len(acked) >= kill_after:
                server.kill()
                break
        rest, _ = sender.communicate(timeout=15)
        acked = [a[:2] for a in parse_acks(output + rest)]
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(timeout=5)
    assert server.proc is not None and server.proc.returncode == -9
    assert sender.returncode != 0  # the sender saw the server go away mid-stream
    assert kill_after <= len(acked) < len(messages)
    # ACKs come in order, one per message: the sender knows exactly which messages are confirmed.
    assert [control for _, control in acked] == [msh(m, 10).decode() for m in messages[: len(acked)]]
    assert {code for code, _ in acked} == {"AA"}

    # Restart on the same file; the sender resends everything that got no ACK (including the one in flight,
    # which may or may not have committed before the kill).
    server.start(http=False)
    try:
        unacked = write_messages(tmp_path / "unacked.hl7", messages[len(acked) :])
        resent = mllp_send(server.mllp_port, unacked)
        assert resent.returncode == 0, resent.stderr.decode()
        assert [a[0] for a in parse_acks(resent.stdout)] == ["AA"] * (len(messages) - len(acked))
    finally:
        server.terminate()
    # Every message exactly once: the same message keys, and per key the same events (same stable ids, in
    # the same order), as reading the feed files once with `itpwatch ingest`.
    assert inbound_keys(server.db) == inbound_keys(reference_db)
    assert events_by_key(server.db) == events_by_key(reference_db)


def test_sigterm_exits_cleanly_with_open_connections(tmp_path: Path) -> None:
    server = Server(tmp_path / "x.db").start()
    idle = socket.create_connection(("127.0.0.1", server.mllp_port), timeout=5)  # a sender that stays connected
    with MllpClient(server.mllp_port) as client:
        assert ack_code(client.exchange(lab_message("T-TERM-0001"))) == "AA"
        with httpx.Client(base_url=server.http_base, timeout=5) as http:
            assert http.get("/health/live").status_code == 200
            started = time.monotonic()
            assert server.terminate(timeout=15) == 0
        assert time.monotonic() - started < 10
    idle.close()
    stderr = server.stderr_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert '"stopped"' in stderr
    for port in server.ports.values():  # both listeners are gone
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_frame_in_flight_at_sigterm_is_acked_or_not_stored(tmp_path: Path) -> None:
    """Shutdown never leaves a stored message un-ACKed by choice: a frame being stored when SIGTERM arrives
    gets its ACK; one that arrives later is neither stored nor ACKed (the sender resends it)."""
    server = Server(tmp_path / "x.db").start(http=False)
    results: list[str] = []

    def stream() -> None:
        with MllpClient(server.mllp_port) as client:
            for i in range(400):
                try:
                    results.append(ack_code(client.exchange(lab_message(f"T-INF-{i:04d}"))))
                except OSError:
                    return

    t = threading.Thread(target=stream)
    t.start()
    while len(results) < 20 and t.is_alive():
        time.sleep(0.005)
    assert server.terminate(timeout=15) == 0
    t.join(timeout=15)
    assert not t.is_alive()
    stored = inbound_keys(server.db, "LAB_LIS^UKX|T-INF-")
    assert set(results) == {"AA"}
    # Everything ACKed is stored; at most the one frame whose ACK was on the wire is stored without the
    # client having read it.
    assert len(results) <= len(stored) <= len(results) + 1
