"""Fixtures of the web tests: one prepared database per session, one server per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import WebServer, build_database, copy_db


@pytest.fixture(scope="session")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_database(tmp_path_factory.mktemp("webdb") / "prepared.db")


@pytest.fixture(scope="module")
def web_server(web_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    server = WebServer(copy_db(web_db, tmp_path_factory.mktemp("webserve"))).start()
    yield server
    server.stop(log_name="server-browser")
