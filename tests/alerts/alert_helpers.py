"""Helpers of the alert tests: real receivers (HTTP webhook, SMTP), sink files, apps, tiny HL7 messages.

Nothing here is a mock: the dispatcher talks HTTP and SMTP over sockets to these servers.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from engine.app import App
from engine.cli import app as cli_app
from engine.config import load_settings
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "feed"
runner = CliRunner()


# -- the webhook receiver ----------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


@dataclass
class WebhookReceiver:
    """Counts POSTs and records them; answers with the scripted statuses first, then 200."""

    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def acknowledged(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def webhook_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with receiver.lock:
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw), status)
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


# -- the SMTP receiver -------------------------------------------------------------------------------
@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class SmtpReceiver:
    port: int
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- configuration and apps --------------------------------------------------------------------------
def write_sinks(path: Path, webhook: WebhookReceiver | None = None, smtp: SmtpReceiver | None = None,
                *, log: bool = True, max_attempts: int = 8) -> Path:
    sinks: list[dict[str, Any]] = []
    if log:
        sinks.append({"name": "log", "kind": "log"})
    sinks.append({"name": "hook", "kind": "webhook", "url": webhook.url if webhook else "http://127.0.0.1:9/",
                  "timeout_seconds": 2, "max_attempts": max_attempts})
    sinks.append({"name": "mail", "kind": "smtp", "host": "127.0.0.1", "port": smtp.port if smtp else 9,
                  "sender": "itpwatch@hospital.example", "recipients": ["haematology@hospital.example"],
                  "timeout_seconds": 2, "max_attempts": max_attempts})
    path.write_text(json.dumps({"sinks": sinks}), encoding="utf-8")  # JSON is YAML
    return path


def make_app(db: str, sinks: Path) -> App:
    return App(load_settings(database_url=db, sinks=sinks))


def itp(db: str, sinks: Path, *args: str, code: int | None = 0) -> str:
    result = runner.invoke(cli_app, ["--db", db, "--sinks", str(sinks), "--log-format", "json", *args],
                           catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def ingest_text(app: App, text: str, origin: str = "test.hl7", *, duplicates_ok: bool = False) -> None:
    from adapters.reader import read_bytes

    messages = read_bytes(text.encode("utf-8"), origin=origin, received_at=app.clock.now(), mapping=app.mapping,
                          tz=app.tzinfo)
    summary = app.ingestor().ingest(messages)
    assert summary.accepted + (summary.duplicates if duplicates_ok else 0) == len(messages), summary


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- tiny HL7 v2 messages in the shape examples/feed uses ----------------------------------------------
def _msh(ts: str, kind: str, control_id: str, app: str) -> str:
    return f"MSH|^~\\&|{app}|UKX|ITPWATCH|UKX|{ts}||{kind}|{control_id}|P|2.5|||AL|NE|DEU|8859/1"


def _pid(mrn: str) -> str:
    return f"PID|1||{mrn}^^^UKX^MR||Test^Alert^^^^^L||19600514|F"


def oru(mrn: str, filler: str, taken: str, reported: str, value: float, status: str = "F") -> str:
    """One CBC result with a platelet count. A correction repeats `filler` with status 'C' and a later `reported`."""
    segments = [
        _msh(reported, "ORU^R01^ORU_R01", f"LAB-{filler}-{status}-{reported}", "LAB_LIS"),
        _pid(mrn),
        f"ORC|RE|ORD-{filler}^KIS|{filler}^LAB||CM||||{reported}",
        f"OBR|1|ORD-{filler}^KIS|{filler}^LAB|58410-2^CBC panel - Blood by Automated count^LN^KBB^Kleines Blutbild^L"
        f"|||{taken}|||||||||||||||{reported}|||{status}",
        f"OBX|1|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN^THRO^Thrombozyten^L||{value:g}"
        f"|Gpt/l^Gpt/l^L|150-400|L|||{status}|||{taken}|||||{reported}",
    ]
    return "\r".join(segments) + "\r"


def daratumumab(mrn: str, dose: int, given: str) -> str:
    """One RAS^O17 with a subcutaneous daratumumab 1800 mg administration."""
    segments = [
        _msh(given, "RAS^O17^RAS_O17", f"MED-{mrn}-{dose}", "PHARM"),
        _pid(mrn),
        f"ORC|RE|RX-{mrn}-{dose}^KIS|ADM-{mrn}-{dose}^PHARM||CM||||{given}",
        f"RXA|0|{dose}|{given}|{given}|L01FC01^Daratumumab^ATC|1800|mg^mg^UCUM|||||||||||||CP|A|{given}",
        "RXR|SC^subcutaneous^HL70162",
    ]
    return "\r".join(segments) + "\r"
