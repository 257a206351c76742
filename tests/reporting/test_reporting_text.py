"""The results paragraph states the seed figures in abstract style."""

from __future__ import annotations

from datetime import datetime

from engine.reporting import build_report, summary_paragraph
from engine.reporting.text import join, num, spell

from .factories import AGENT, AS_OF, BERLIN, PROFILE, PROFILE_VERSION, SERIOUS_INFECTION_CODES, seed_cohort


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
        "Three long-term remissions of 24, 32 and 51 months and one further response of 5 months without "
        "relapse were censored at the last follow-up (no platelet count within 91 days before the data cut)",
        "No serious infections occurred",
        "Data cut: 30 June 2025.",
    ):
        assert part in text, part
    assert "ongoing" not in text  # nobody had a count in the 91 days before this cut


def test_paragraph_names_ongoing_and_censored_responses_at_the_cut() -> None:
    events, _ = seed_cohort()
    cut = datetime(2025, 3, 1, tzinfo=BERLIN)  # PSN-001's last count (2025-01-18) lies 42 days before
    r = build_report(events, agent=AGENT, profile=PROFILE, profile_version=PROFILE_VERSION, as_of=cut,
                     serious_infection_codes=SERIOUS_INFECTION_CODES)
    text = summary_paragraph(r)
    assert "At the data cut, a long-term remission is ongoing at 51 months." in text
    assert "Two long-term remissions of 24 and 32 months and one further response of 5 months without relapse " \
           "were censored at the last follow-up" in text
    assert text.endswith("Data cut: 1 March 2025.")


def test_helpers() -> None:
    assert spell(8, capital=True) == "Eight" and spell(13) == "13"
    assert num(2.0) == "2" and num(9.5) == "9.5" and num(24.49) == "24.5" and num(None) == "n/a"
    assert join(["24", "32", "51"]) == "24, 32 and 51" and join(["2"]) == "2"
