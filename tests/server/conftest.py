"""Fixtures of the server tests: a running `itpwatch serve` per module and a reference store built by `ingest`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import ADMIN_FILE, LAB_FILE, Server, cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server (MLLP and HTTP) for the tests of a module; they use distinct message ids."""
    srv = Server(tmp_path_factory.mktemp("serve") / "x.db").start()
    yield srv
    srv.kill()


@pytest.fixture(scope="session")
def reference_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example lab and administration feeds read by `itpwatch ingest` (the file path, no server)."""
    db = tmp_path_factory.mktemp("reference") / "ref.db"
    done = cli(db, "ingest", str(LAB_FILE), str(ADMIN_FILE), "--no-derive")
    assert done.returncode == 0, done.stderr
    return db
