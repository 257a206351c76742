"""Plots and the HTML page are written, non-empty, self-contained and free of identifiers."""

from __future__ import annotations

from pathlib import Path

from engine.reporting import build_report
from engine.reporting.html import render_html, write_html
from engine.reporting.plots import write_plots

from .factories import AGENT, AS_OF, PROFILE, PROFILE_VERSION, SERIOUS_INFECTION_CODES, seed_cohort


def test_write_plots(tmp_path: Path) -> None:
    events, _ = seed_cohort()
    r = build_report(
        events,
        agent=AGENT,
        profile=PROFILE,
        profile_version=PROFILE_VERSION,
        as_of=AS_OF,
        serious_infection_codes=SERIOUS_INFECTION_CODES,
    )
    paths = write_plots(r, events, tmp_path / "plots")
    names = {p.name for p in paths}
    assert {"swimmer.png", "swimmer.svg", "km_response_duration.png", "km_response_duration.svg"} <= names
    assert {f"platelets_{row.patient}.png" for row in r.patients} <= names
    assert len(paths) == 2 * (2 + len(r.patients))
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    swimmer = (tmp_path / "plots" / "swimmer.svg").read_text()
    assert "PSN-001" in swimmer
    assert "1962" not in swimmer  # no birth years or other identifiers beyond the stream key


def test_html_is_self_contained(tmp_path: Path) -> None:
    events, _ = seed_cohort()
    r = build_report(
        events,
        agent=AGENT,
        profile=PROFILE,
        profile_version=PROFILE_VERSION,
        as_of=AS_OF,
        serious_infection_codes=SERIOUS_INFECTION_CODES,
    )
    page = render_html(r, events)
    assert page.startswith("<!DOCTYPE html>")
    assert "62.5 %, 95 % CI 24.5–91.5" in page
    assert page.count("data:image/png;base64,") == 2 + len(r.patients)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    out = write_html(r, events, tmp_path / "r" / "report.html")
    assert out.read_text(encoding="utf-8") == page
