"""Fixtures of the alert tests: a real webhook receiver, a real SMTP server, the example feed ingested once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.alerts.alert_helpers import (
    EXAMPLES,
    SmtpReceiver,
    WebhookReceiver,
    free_port,
    itp,
    webhook_handler,
    write_sinks,
)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), webhook_handler(receiver))
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(port=free_port())
    controller = Controller(receiver, hostname="127.0.0.1", port=receiver.port)
    controller.start()
    yield receiver
    controller.stop()


@pytest.fixture(scope="session")
def feed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example feed ingested once through the CLI (sinks log, hook, mail); tests copy the file.

    The files are ingested one by one, as they would arrive over time: alerts raised from the first files
    are withdrawn by corrections in later ones (one `ingest` of the folder shares transactions across its
    files, and an alert that a later file of the same batch removes is never raised).
    """
    folder = tmp_path_factory.mktemp("feed")
    db = folder / "feed.db"
    sinks = write_sinks(folder / "sinks.yaml")
    for path in sorted(EXAMPLES.iterdir()):
        itp(f"sqlite:///{db}", sinks, "ingest", str(path))
    return db


@pytest.fixture
def feed_db(feed_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "itpwatch.db"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{feed_template}{suffix}")
        if source.exists():
            shutil.copyfile(source, Path(f"{target}{suffix}"))
    return f"sqlite:///{target}"
