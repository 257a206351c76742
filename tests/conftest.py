"""Shared fixtures: one suite, parametrized by database URL (SQLite file and the real PostgreSQL server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("ITPWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/itpwatch_test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("ITPWATCH_TEST_SAMPLES", REPO.parent / "shared" / "samples" / "real"))
"""Public HL7 v2 and FHIR sample files (from public repositories), kept outside the repository."""


def require_samples() -> Path:
    """The sample folder, or a skip that says where it was looked for (in CI: a failure that says so)."""
    if SAMPLES.is_dir() and any(SAMPLES.iterdir()):
        return SAMPLES
    message = (f"the public sample files (samples/real: hl7/, fhir/) are not at {SAMPLES}; "
               "set ITPWATCH_TEST_SAMPLES to their folder")
    if IN_CI:
        pytest.fail(f"CI needs them: {message}")
    pytest.skip(message)


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means the server is not usable
        return f"{type(exc).__name__}: {exc}"


_PG_PROBLEM: str | None = None
_PG_CHECKED = False


def pg_url_or_skip() -> str:
    """A fresh schema on the test server. In CI a missing server is a failure, not a skip."""
    global _PG_PROBLEM, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_PROBLEM = _pg_available()
        _PG_CHECKED = True
    if _PG_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable: {_PG_PROBLEM}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_pg_schema(url: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'itpwatch.db'}"
        return
    url = pg_url_or_skip()
    yield url
    drop_pg_schema(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'itpwatch.db'}"


@pytest.fixture
def samples_dir() -> Path:
    return require_samples()
