"""The results paragraph states the seed figures in abstract style."""

from __future__ import annotations

from engine.reporting import build_report, summary_paragraph
from engine.reporting.text import join, num, spell

from .factories import AGENT, AS_OF, PROFILE, PROFILE_VERSION, SERIOUS_INFECTION_CODES, seed_cohort


def test_paragraph_contains_the_key_figures() -> None:
    events, _ = seed_cohort()
    r = build_report(
        events,
        agent=AGENT,
        profile=PROFILE,
        profile_version=PROFILE_VERSION,
        as_of=AS_OF,
        serious_infection_codes=SERIOUS_INFECTION_CODES,
    )
    text = summary_paragraph(r)
    for part in (
        "Eight patients (4 female, 4 male; median age 61 years, range 22–87)",
        "Three had secondary ITP",
        "median disease duration was 6 years (range 1–35)",
        "median of 9.5 applications (range 4–17)",
        "5 of 8 patients (62.5 %, 95 % CI 24.5–91.5) responded",
        "≥ 50",
        "median time to response was 2 weeks (range 1–10)",
        "Two responders relapsed 2 and 4 months after response",
        "re-exposed (together with romiplostim) 10 months after relapse and remitted again",
        "Long-term remissions are ongoing at 24, 32 and 51 months",
        "No serious infections occurred",
    ):
        assert part in text, part


def test_helpers() -> None:
    assert spell(8, capital=True) == "Eight" and spell(13) == "13"
    assert num(2.0) == "2" and num(9.5) == "9.5" and num(24.49) == "24.5" and num(None) == "n/a"
    assert join(["24", "32", "51"]) == "24, 32 and 51" and join(["2"]) == "2"
