"""Which episodes get a CDS card and what it says, from feeds stored through the real store (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.reader import read_bytes
from engine.app import App
from engine.cds.cards import md
from engine.cds.routes import cards_for
from engine.config import Settings
from tests.fhir_resources import administration, dumps, observation


def cards(tmp_path: Path, resources: list[dict[str, Any]], mrn: str) -> list[dict[str, Any]]:
    app = App(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}"))
    ingestor = app.ingestor()
    for r in resources:
        ingestor.ingest(read_bytes(dumps(r), origin="t", received_at=datetime.now(UTC), mapping=app.mapping))
    found = cards_for(app, mrn)
    app.close()
    return found


def start(mrn: str) -> list[dict[str, Any]]:
    return [administration("a1", mrn, "2024-01-08T10:00"), observation("c0", mrn, "2024-01-08T07:00", 12)]


def responder(mrn: str) -> list[dict[str, Any]]:
    return [*start(mrn), observation("c1", mrn, "2024-01-22T08:00", 60), observation("c2", mrn, "2024-01-29T08:00", 75)]


def test_a_responder_in_remission_gets_no_card(tmp_path: Path) -> None:
    assert cards(tmp_path, responder("1"), "1") == []


def test_first_low_count_after_response_is_a_possible_loss(tmp_path: Path) -> None:
    (card,) = cards(tmp_path, [*responder("2"), observation("c3", "2", "2024-02-12T08:00", 40)], "2")
    assert card["summary"] == "daratumumab: possible loss of response 2024-02-12, platelets 40 x10^9/L (episode 1)"
    assert card["indicator"] == "warning" and card["source"]["topic"]["code"] == "possible-loss"
    assert "links" not in card  # no public_base_url configured: no link


def test_critical_count_is_a_critical_card(tmp_path: Path) -> None:
    (card,) = cards(tmp_path, [*start("3"), observation("c1", "3", "2024-01-15T08:00", 8)], "3")
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("daratumumab: platelets below 10")


def test_no_response_by_day_84_is_an_info_card(tmp_path: Path) -> None:
    later = [observation("c1", "4", "2024-02-20T08:00", 25), observation("c2", "4", "2024-04-08T08:00", 30)]
    (card,) = cards(tmp_path, [*start("4"), *later], "4")
    assert card["indicator"] == "info" and card["source"]["topic"]["code"] == "non-response"
    assert card["summary"].startswith("daratumumab: no response by day 84 2024-")


@pytest.mark.parametrize("text", ["<img src=x onerror=alert(1)>", "[click](javascript:x)", "| a | b |", "**x**"])
def test_feed_text_is_never_markup(text: str) -> None:
    escaped = md(text)
    for raw in ("<", "](", "**"):
        assert raw not in escaped
    assert "|" not in escaped.replace("\\|", "")
