"""Helpers of the server tests: the real `itpwatch serve` as a subprocess, raw MLLP clients, store queries.

Nothing here is mocked: the server is the installed console script, the client is either python-hl7's
`mllp_send` or a plain socket, and the store is read from the SQLite file the server wrote.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ITPWATCH = str(BIN / "itpwatch")
MLLP_SEND = str(BIN / "mllp_send")
FEED = REPO / "examples" / "feed"
LAB_FILE = FEED / "lab_results.hl7"
ADMIN_FILE = FEED / "administrations.hl7"
BUNDLE_FILE = FEED / "fhir_bundle.json"

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
STARTUP_TIMEOUT = 20.0
IO_TIMEOUT = 10.0

_MSA = re.compile(rb"MSA\|([A-Z]{2})\|([^|\r]*)")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update({"PYTHONUNBUFFERED": "1", "ITPWATCH_LOG_FORMAT": "json", "PYTHONDONTWRITEBYTECODE": "1"})
    e.pop("ITPWATCH_HTTP_TOKEN", None)
    e.pop("ITPWATCH_DATABASE_URL", None)
    return e


@dataclass
class Server:
    """One `itpwatch serve` process; ports read from the JSON lines it prints."""

    db: Path
    token: str = "secret"
    extra: Sequence[str] = ()
    environ: dict[str, str] = field(default_factory=dict)
    """ITPWATCH_* settings for this server (e.g. the CDS clients file)."""
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    stderr_path: Path | None = None
    _lines: queue.Queue[bytes] = field(default_factory=queue.Queue)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def start(self, *, mllp: bool = True, http: bool = True) -> Server:
        args = [ITPWATCH, "--db", self.url, "serve", "--token", self.token, *self.extra]
        if mllp:
            args += ["--mllp-port", "0"]
        if http:
            args += ["--http-port", "0"]
        self.stderr_path = self.db.with_suffix(f".{int(time.time() * 1000)}.stderr")
        self.ports, self.hosts, self._lines = {}, {}, queue.Queue()
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env={**env(), **self.environ},
                                         cwd=self.db.parent)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        wanted = {"mllp"} if mllp else set()
        wanted |= {"http"} if http else set()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while set(self.ports) != wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.kill()
                raise AssertionError(f"server did not start: {self.stderr_text()[-3000:]}")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict) and "listening" in info:
                self.ports[info["listening"]] = int(info["port"])
                self.hosts[info["listening"]] = str(info["host"])
        return self

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line)

    @property
    def mllp_port(self) -> int:
        return self.ports["mllp"]

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def stderr_text(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text("utf-8", "replace")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=IO_TIMEOUT)

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("server did not exit within the timeout after SIGTERM") from None


# -- HL7 messages ----------------------------------------------------------------------------------------
def messages_of(path: Path) -> list[bytes]:
    """The messages of an example feed file: one message a line, segments separated by CR."""
    return [line.rstrip(b"\r") for line in path.read_bytes().split(b"\n") if line.startswith(b"MSH")]


def msh(message: bytes, n: int) -> bytes:
    """MSH-n of a message (MSH-1 is the separator itself)."""
    fields = message.split(b"\r", 1)[0].split(b"|")
    return fields[n - 1] if len(fields) >= n else b""


def with_control_id(message: bytes, control_id: str) -> bytes:
    head, _, rest = message.partition(b"\r")
    fields = head.split(b"|")
    fields[9] = control_id.encode()
    return b"|".join(fields) + b"\r" + rest


def lab_message(control_id: str, *, unit: bytes = b"Gpt/l", mrn: str = "900001", charset: bytes = b"8859/1",
                value: bytes = b"42") -> bytes:
    """A minimal ORU^R01 with one platelet result."""
    segments = [
        b"MSH|^~\\&|LAB_LIS|UKX|ITPWATCH|UKX|20240305093600+0100||ORU^R01^ORU_R01|" + control_id.encode()
        + b"|P|2.5|||AL|NE|DEU|" + charset,
        b"PID|1||" + mrn.encode() + b"^^^UKX^MR||Test^Patient||19600514|F",
        b"OBR|1|ORD-1^KIS|F-1^LAB|58410-2^CBC^LN|||20240305081000+0100|||||||||||||||20240305093500+0100|||F",
        b"OBX|1|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN||" + value + b"|" + unit
        + b"|150-400|LL|||F|||20240305081000+0100",
    ]
    return b"\r".join(segments)


def parse_acks(data: bytes) -> list[tuple[str, str, bytes]]:
    """(MSA-1, MSA-2, whole ACK) for every MLLP-framed ACK in data."""
    out = []
    for chunk in data.split(VT)[1:]:
        body = chunk.split(FS, 1)[0]
        m = _MSA.search(body)
        if m is not None:
            out.append((m.group(1).decode(), m.group(2).decode("latin-1"), body))
    return out


def ack_segment(ack: bytes, name: str) -> list[str]:
    """Decode as a sender would: by the ACK's MSH-18 (8859/1 -> Latin-1), UTF-8 otherwise."""
    msh = ack.split(b"\r", 1)[0].split(b"|")
    charset = "latin-1" if len(msh) > 17 and msh[17].strip() == b"8859/1" else "utf-8"
    for seg in ack.decode(charset).split("\r"):
        if seg.startswith(name + "|"):
            return seg.split("|")
    raise AssertionError(f"no {name} segment in {ack!r}")


class MllpClient:
    """A blocking MLLP client on a plain socket, with timeouts; can split a frame into chunks."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = IO_TIMEOUT) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes, chunks: int = 1, pause: float = 0.0) -> None:
        size = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), size):
            self.sock.sendall(data[i : i + size])
            if pause and i + size < len(data):
                time.sleep(pause)

    def read_ack(self) -> bytes:
        while FS + CR not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection before the ACK")
            self.buf += chunk
        end = self.buf.index(FS + CR)
        start = self.buf.rfind(VT, 0, end)
        ack, self.buf = self.buf[start + 1 : end], self.buf[end + 2 :]
        return ack

    def exchange(self, message: bytes, chunks: int = 1, pause: float = 0.0) -> bytes:
        self.send_raw(VT + message + FS + CR, chunks, pause)
        return self.read_ack()


def ack_code(ack: bytes) -> str:
    m = _MSA.search(ack)
    assert m is not None, ack
    return m.group(1).decode()


def mllp_send(port: int, path: Path, *, timeout: float = 30.0) -> subprocess.CompletedProcess[bytes]:
    """python-hl7's own client: every message of a file (one a line), printing each ACK."""
    return subprocess.run([MLLP_SEND, "--loose", "-f", str(path), "-p", str(port), "127.0.0.1"],
                          capture_output=True, timeout=timeout, env=env(), check=False)


# -- the store -------------------------------------------------------------------------------------------
def query(db: Path, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def events_by_key(db: Path, prefix: str = "") -> dict[str, list[str]]:
    """Event ids of fact events (those carrying a message key) by message key."""
    out: dict[str, list[str]] = {}
    rows = query(db, "SELECT message_key, event_id FROM events WHERE message_key LIKE :p ORDER BY position",
                 p=prefix + "%")
    for key, event_id in rows:
        out.setdefault(key, []).append(event_id)
    return out


def inbound_keys(db: Path, prefix: str = "") -> dict[str, str]:
    return dict(query(db, "SELECT message_key, ack_code FROM inbound_messages WHERE message_key LIKE :p",
                      p=prefix + "%"))


def cli(db: Path, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ITPWATCH, "--db", f"sqlite:///{db}", *args], capture_output=True, text=True,
                          timeout=timeout, env={**env(), "COLUMNS": "250"}, check=False)


def write_messages(path: Path, messages: Iterable[bytes]) -> Path:
    path.write_bytes(b"\n".join(messages) + b"\n")
    return path
