"""Unit tests of the temporal abstraction (resolution, runs, dates, order)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from events import ResultStatus
from rules.temporal import Timeline, local_date, resolve, sort_key
from tests.rules.factories import at, count, dose, retract_admin, retract_result
from tests.rules.helpers_rules import setup


def test_dates_are_taken_in_site_time_zone() -> None:
    late = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Berlin
    from zoneinfo import ZoneInfo

    assert local_date(late, ZoneInfo("Europe/Berlin")) == date(2024, 3, 2)
    assert local_date(late, ZoneInfo("UTC")) == date(2024, 3, 1)


def test_sort_key_puts_counts_before_doses_at_same_instant() -> None:
    c = count(0, 10, hour=10)
    d = dose(0, hour=10)
    assert sorted([d, c], key=sort_key) == [c, d]


def test_resolve_versions_and_retractions() -> None:
    profile, _ = setup("site")
    v1 = count(1, 50, key="K")
    v2 = count(1, 60, key="K", status=ResultStatus.CORRECTED, reported_day=3)
    prelim = count(1, 10, key="K", status=ResultStatus.PRELIMINARY, reported_day=5)
    other = count(2, 70, key="L")
    gone = count(3, 70, key="M")
    events = sorted([v1, v2, prelim, other, gone, retract_result(4, "M")], key=sort_key)
    ann = resolve(events, profile)
    assert ann[v2.event_id].eligible and not ann[v1.event_id].effective
    assert not ann[prelim.event_id].effective and ann[other.event_id].eligible
    assert not ann[gone.event_id].effective


def test_resolve_unaccepted_code_is_not_counting() -> None:
    profile, _ = setup("site")
    c = count(1, 50, code="123-4")
    assert not resolve([c], profile)[c.event_id].counting


def test_resolve_rescue_and_premedication() -> None:
    profile, _ = setup("site")
    pre = dose(0, "dexamethasone", mg=40, hour=8)
    dara = dose(0)
    pulse = dose(3, "dexamethasone", mg=40)
    c = count(30, 60)
    c_after = count(31, 60)
    ann = resolve(sorted([pre, dara, pulse, c, c_after], key=sort_key), profile)
    assert ann[pre.event_id].premedication and ann[pre.event_id].rescue is None
    assert ann[pulse.event_id].rescue == "rescue.dexamethasone-pulse"
    assert not ann[c.event_id].eligible and ann[c_after.event_id].eligible  # day 3..30 is the window


def test_resolve_retracted_administration() -> None:
    profile, _ = setup("site")
    a = dose(0, key="A")
    ann = resolve([a, retract_admin(1, "A")], profile)
    assert not ann[a.event_id].effective


def test_runs_and_situation_fields() -> None:
    profile, _ = setup("site")
    tl = Timeline(profile)
    d1 = dose(0)
    ep = tl.start_episode(d1, reexposure=False, combination=())
    tl.record_dose(d1, rescue=False)
    ((_, s1),) = tl.observe_count(count(5, 60), True, True)[0]
    assert s1["meets_response"] and not s1["response_confirmed"] and s1["days_since_d1"] == 5
    ((_, s2),) = tl.observe_count(count(6, 70), True, True)[0]
    assert s2["response_confirmed"]
    run = tl.response_run(ep)
    assert run is not None and run.start_date == date(2024, 1, 6)


def test_next_tick_is_by_event_time_only() -> None:
    profile, _ = setup("site")
    tl = Timeline(profile)
    d1 = dose(0)
    tl.start_episode(d1, reexposure=False, combination=())
    tl.record_dose(d1, rescue=False)
    assert tl.next_tick(at(21, 23)) is None
    tick = tl.next_tick(at(200))
    assert tick is not None and tick.deadline == "early_stop" and tick.at == at(22, 0)
    assert tick.at - at(0, 0) == timedelta(days=22)
