"""Shared fixtures of the adapter tests: the real sample files, a fixed receipt time, the default mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.mapping import SiteMapping
from tests.conftest import require_samples

BERLIN = ZoneInfo("Europe/Berlin")
RECEIVED = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def samples_dir() -> Path:
    return require_samples()


@pytest.fixture
def received_at() -> datetime:
    return RECEIVED


@pytest.fixture
def mapping() -> SiteMapping:
    return SiteMapping.default()


@pytest.fixture
def simhosp_mapping(tmp_path: Path) -> SiteMapping:
    site = tmp_path / "site.yaml"
    site.write_text("local_codes: [tt-0002-06]\n", encoding="utf-8")
    return SiteMapping.load(site)
