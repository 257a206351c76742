"""Data cut and censoring: a response is 'ongoing' only with an eligible count within 91 days of the cut."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from engine.reporting import Report, build_cohort, build_report
from engine.reporting.captions import km_caption
from engine.reporting.facts import latest_valid_time
from events import Event, PatientDemographics
from rules import load_profile

from .factories import AGENT, BERLIN, PROFILE, PROFILE_VERSION, SERIOUS_INFECTION_CODES, SRC, LogBuilder, at

D1 = date(2023, 1, 2)
LAST = date(2024, 1, 15)


def responder(log: LogBuilder, stream: str, last_count: date, *, relapse: bool = False) -> None:
    """D1, baseline 10, response onset day 14 confirmed day 21, then counts every 4 weeks up to `last_count`."""
    first = log.dose(stream, D1)
    log.count(stream, D1, 10.0, hour=7)
    log.episode(stream, 1, D1, 10.0, causes=(first,))
    onset, confirm = log.count(stream, D1 + timedelta(days=14), 80.0), log.count(stream, D1 + timedelta(days=21), 90.0)
    log.response(stream, 1, D1, onset.occurred_at.date(), confirm, onset)
    day = D1 + timedelta(days=49)
    while day < last_count:
        log.count(stream, day, 120.0)
        day += timedelta(days=28)
    last = log.count(stream, last_count, 20.0 if relapse else 110.0)
    if relapse:
        confirm_low = log.count(stream, last_count + timedelta(days=2), 25.0)
        log.lost(stream, 1, last_count, onset.occurred_at.date(), confirm_low)
    assert last.occurred_at.date() == last_count


def report(events: list[Event], as_of: datetime | None, **kw: object) -> Report:
    return build_report(events, agent=AGENT, profile=PROFILE, profile_version=PROFILE_VERSION, as_of=as_of,
                        serious_infection_codes=SERIOUS_INFECTION_CODES, **kw)  # type: ignore[arg-type]


def cut_days_after_last(days: int) -> datetime:
    return at(LAST + timedelta(days=days), 23, 30)


@pytest.mark.parametrize(("days", "status"), [(0, "ongoing"), (91, "ongoing"), (92, "censored"), (400, "censored")])
def test_ongoing_only_with_a_count_within_91_days_of_the_cut(days: int, status: str) -> None:
    log = LogBuilder()
    responder(log, "A", LAST)
    r = report(log.events, cut_days_after_last(days))
    ep = r.patients[0].episodes[0]
    assert ep.response_status == status
    assert ep.ongoing  # the older field keeps its meaning: the response was not lost
    assert ep.response_duration_days == (LAST - (D1 + timedelta(days=14))).days  # ends at the last count
    assert r.patients[0].last_follow_up == LAST
    assert [o.status for o in r.summary.ongoing_remissions] == [status]
    assert r.follow_up_window_days == 91 and r.data_cut_source == "as-of"


def test_relapsed_responses_are_neither_ongoing_nor_censored() -> None:
    log = LogBuilder()
    responder(log, "A", LAST, relapse=True)
    ep = report(log.events, cut_days_after_last(400)).patients[0].episodes[0]
    assert ep.response_status == "relapsed" and not ep.ongoing


def test_the_window_is_a_setting_of_the_profile() -> None:
    log = LogBuilder()
    responder(log, "A", LAST)
    site = load_profile("site")
    shorter = site.model_copy(update={"follow_up": site.follow_up.model_copy(update={"ongoing_window_days": 30})})
    assert report(log.events, cut_days_after_last(45)).patients[0].episodes[0].response_status == "ongoing"
    edited = report(log.events, cut_days_after_last(45), rules_profile=shorter)
    assert edited.patients[0].episodes[0].response_status == "censored" and edited.follow_up_window_days == 30


def test_default_cut_is_the_latest_valid_time_in_the_log() -> None:
    log = LogBuilder()
    responder(log, "A", LAST)
    later = log.count("B", LAST + timedelta(days=120), 200.0)  # another patient, not in the cohort
    # Demographics carry the time of receipt, not a clinical time: they must not move the cut.
    log.add(PatientDemographics(**log._common("A", at(date(2026, 11, 30)), None, SRC), sex="female"))
    assert latest_valid_time(log.events) == later.occurred_at
    r = report(log.events, None)
    assert r.as_of is None and r.data_cut_source == "latest-valid-time"
    assert r.data_cut == later.occurred_at and r.data_cut.tzinfo is not None
    assert r.patients[0].episodes[0].response_status == "censored"  # 120 days without a count
    again = report(log.events, r.data_cut)  # the printed cut reproduces the report
    assert again.patients == r.patients and again.summary == r.summary


def test_kaplan_meier_censors_at_the_last_count_and_says_how_many() -> None:
    log = LogBuilder()
    responder(log, "A", LAST)
    responder(log, "B", LAST - timedelta(days=200))
    responder(log, "C", LAST - timedelta(days=100), relapse=True)
    cohort = build_cohort(log.events, agent=AGENT, profile=PROFILE, profile_version=PROFILE_VERSION,
                          as_of=cut_days_after_last(10), serious_infection_codes=SERIOUS_INFECTION_CODES)
    statuses = {r.patient: r.episodes[0].response_status for r in cohort.report.patients}
    assert statuses == {"A": "ongoing", "B": "censored", "C": "relapsed"}
    text = km_caption(cohort.report).text
    assert "n = 3 responders of 3 patients" in text and "event: relapse (1)" in text
    assert "1 ongoing at the data cut, 1 censored at the last follow-up" in text


def test_naive_and_foreign_cuts_are_stated_in_site_time() -> None:
    log = LogBuilder()
    responder(log, "A", LAST)
    r = report(log.events, datetime(2024, 2, 1, 12, 0))
    assert r.data_cut == datetime(2024, 2, 1, 12, 0, tzinfo=BERLIN)
    assert r.data_cut is not None and r.data_cut.utcoffset() == timedelta(hours=1)
