"""The seed cohort figures, the cohort rule, derivation filtering, supersession and the data cut."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from engine.reporting import build_report, clopper_pearson, is_serious_infection
from engine.reporting.model import Report
from events import AdverseEventReported, CompletionStatus, DerivationRevised, Event

from .factories import (
    AGENT,
    AS_OF,
    BERLIN,
    PROFILE,
    PROFILE_VERSION,
    SEED,
    SERIOUS_INFECTION_CODES,
    LogBuilder,
    at,
    seed_cohort,
)


def report(events: list[Event], as_of: datetime | None = AS_OF, **kw: object) -> Report:
    return build_report(
        events,
        agent=AGENT,
        profile=PROFILE,
        profile_version=PROFILE_VERSION,
        as_of=as_of,
        serious_infection_codes=SERIOUS_INFECTION_CODES,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def seed() -> tuple[list[Event], dict[str, dict[str, Event]]]:
    return seed_cohort()


@pytest.fixture(scope="module")
def seed_report(seed: tuple[list[Event], dict[str, dict[str, Event]]]) -> Report:
    return report(seed[0])


def test_seed_summary_reproduces_the_abstract(seed_report: Report) -> None:
    s = seed_report.summary
    assert (s.patients, s.female, s.male, s.secondary_itp) == (8, 4, 4, 3)
    assert (s.age_years.median, s.age_years.min, s.age_years.max) == (61, 22, 87)
    dd = s.disease_duration_years
    assert (dd.median, dd.min, dd.max) == (6, 1, 35)
    assert (s.applications.median, s.applications.min, s.applications.max) == (9.5, 4, 17)
    assert s.responders == 5
    assert s.response_rate.percent == 62.5
    assert (s.response_rate.ci_low_percent, s.response_rate.ci_high_percent) == (24.5, 91.5)
    ttr = s.time_to_response_weeks
    assert (ttr.median, ttr.min, ttr.max) == (2, 1, 10)
    assert [round(r.months_after_response) for r in s.relapses] == [2, 4]
    assert len(s.reexposures) == 1
    rx = s.reexposures[0]
    assert rx.combination_with == ["romiplostim"]
    assert rx.months_after_relapse is not None and round(rx.months_after_relapse) == 10
    assert rx.outcome == "R"
    long_term = [round(o.months) for o in s.ongoing_remissions if o.sustained_remission]
    assert long_term == [24, 32, 51]
    assert s.serious_infections == 0
    assert (s.complete_responders, s.non_responders, s.pending) == (1, 3, 0)


def test_clopper_pearson_is_exact() -> None:
    low, high = clopper_pearson(5, 8)
    assert low == pytest.approx(0.2449, abs=1e-4)
    assert high == pytest.approx(0.9148, abs=1e-4)


def test_patient_rows(seed_report: Report) -> None:
    rows = {r.patient: r for r in seed_report.patients}
    p1 = rows["PSN-001"]
    assert p1.applications == 14  # the resent first dose counts once
    assert p1.cumulative_dose_mg == 14 * 1800
    assert p1.sex == "female" and p1.age_at_first_dose == 58 and p1.disease_duration_years == 6.0
    assert p1.adverse_events == 1 and p1.serious_infections == 0
    assert rows["PSN-002"].applications == 17  # retracted and not-administered doses excluded
    p5 = rows["PSN-005"]
    assert [e.best_response for e in p5.episodes] == ["R", "R"]
    ep1, ep2 = p5.episodes
    assert ep1.relapse_onset is not None and not ep1.ongoing and ep1.response_duration_days == 122
    assert ep2.reexposure and ep2.combination_with == ["romiplostim"] and ep2.ongoing
    assert ep2.time_to_response_days == 14
    assert rows["PSN-002"].episodes[0].best_response == "CR"
    assert rows["PSN-004"].episodes[0].time_to_response_days == 70


def test_ongoing_duration_runs_to_the_last_eligible_count(seed_report: Report) -> None:
    p1 = next(r for r in seed_report.patients if r.patient == "PSN-001")
    ep = p1.episodes[0]
    assert ep.ongoing and ep.sustained_remission
    assert ep.response_duration_days == 1552


def test_cohort_rule_excludes_retracted_not_given_and_other_agents(seed_report: Report) -> None:
    streams = {r.patient for r in seed_report.patients}
    assert streams == {p.stream for p in SEED}
    assert not streams & {"PSN-009", "PSN-010", "PSN-011"}


def test_partial_counts_and_units_convert() -> None:
    log = LogBuilder()
    d = date(2022, 1, 3)
    log.dose("X", d, dose=1.8, unit="g", completion=CompletionStatus.PARTIAL)
    log.dose("X", d + timedelta(days=7), dose=1800, unit="mg")
    log.dose("X", d + timedelta(days=14), dose=1800000, unit="ug")
    log.dose("X", d + timedelta(days=21), dose=16, unit="mg/kg")  # not a mass: counted, not summed
    row = report(log.events, as_of=None).patients[0]
    assert row.applications == 4
    assert row.cumulative_dose_mg == pytest.approx(5400)
    assert row.episodes == []  # no derived episode yet: nothing is invented


def test_latest_version_of_an_administration_decides() -> None:
    log = LogBuilder()
    d = date(2022, 1, 3)
    log.dose("X", d, key="k1")
    log.dose("X", d, key="k1", completion=CompletionStatus.NOT_ADMINISTERED)
    assert report(log.events, as_of=None).summary.patients == 0


def test_superseded_derivations_are_ignored(seed: tuple[list[Event], dict[str, dict[str, Event]]]) -> None:
    events, named = seed
    rows = {r.patient: r for r in report(events).patients}
    assert rows["PSN-006"].episodes[0].best_response == "NR"
    revision = named["PSN-006"]["revision"]
    assert isinstance(revision, DerivationRevised)
    without = [e for e in events if e.event_id != revision.event_id]
    rows = {r.patient: r for r in report(without).patients}
    assert rows["PSN-006"].episodes[0].best_response == "R"
    assert report(without).summary.responders == 6


def test_other_profiles_and_derivation_sets_are_ignored(
    seed: tuple[list[Event], dict[str, dict[str, Event]]],
) -> None:
    events, _named = seed
    rows = {r.patient: r for r in report(events).patients}
    assert rows["PSN-007"].episodes[0].best_response == "NR"  # an iwg2009 response exists
    assert rows["PSN-008"].episodes[0].best_response == "NR"  # a what-if response exists
    whatif = {r.patient: r for r in report(events, derivation_set="whatif-1").patients}
    assert whatif["PSN-008"].episodes == []  # the what-if set holds a response but never opened an episode


def test_as_of_cut(seed: tuple[list[Event], dict[str, dict[str, Event]]]) -> None:
    events, _named = seed
    p4 = SEED[3]
    onset = p4.d1 + timedelta(days=70)
    between = datetime.combine(onset + timedelta(days=3), datetime.min.time(), tzinfo=BERLIN)
    r = report(events, as_of=between)
    rows = {x.patient: x for x in r.patients}
    assert rows["PSN-004"].episodes[0].best_response == "pending"  # onset seen, confirmation not yet
    assert "PSN-008" not in rows  # first dose after the cut
    after = report(events, as_of=between + timedelta(days=7))
    ep = next(x for x in after.patients if x.patient == "PSN-004").episodes[0]
    assert ep.best_response == "R" and ep.ongoing and ep.relapse_onset is None
    assert ep.response_duration_days == 7  # last eligible count before the cut is the confirmation
    p1 = next(x for x in after.patients if x.patient == "PSN-001")
    assert p1.applications < 14
    assert after.as_of == between + timedelta(days=7)


def test_naive_as_of_is_site_local(seed: tuple[list[Event], dict[str, dict[str, Event]]]) -> None:
    naive = datetime(2025, 6, 30, 23, 59)
    assert report(seed[0], as_of=naive).as_of == AS_OF


def test_rescue_window_and_premedication(seed: tuple[list[Event], dict[str, dict[str, Event]]]) -> None:
    from engine.reporting.facts import collect_facts

    facts = collect_facts(seed[0], agent=AGENT, profile=PROFILE, as_of=AS_OF)
    assert [r.kind for r in facts.rescues["PSN-007"]] == ["ivig"]
    assert [r.kind for r in facts.rescues["PSN-008"]] == ["steroid-pulse"]
    assert facts.rescues["PSN-001"] == []  # dexamethasone on a daratumumab day is premedication
    blocked = [c for c in facts.counts["PSN-007"] if not c.eligible]
    assert blocked and all(0 <= (c.on - facts.rescues["PSN-007"][0].on).days < 28 for c in blocked)
    p3 = {c.on: c.value for c in facts.counts["PSN-003"]}
    corrected_day = SEED[2].d1 + timedelta(days=40)
    assert p3[corrected_day] == 61.0  # the correction replaces the final value
    assert corrected_day + timedelta(days=1) not in p3  # retracted
    assert 9.0 not in {c.value for c in facts.counts["PSN-003"]}  # an estimate is not an accepted code


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"term_code": "233604007", "grade": 3}, True),
        ({"term_code": "233604007", "grade": 2}, False),
        ({"term_code": "233604007", "grade": 2, "severity": "severe"}, False),  # an explicit grade wins
        ({"term_code": "233604007", "severity": "severe"}, True),
        ({"category": "infection", "serious": True}, True),
        ({"category": "Infection", "grade": 4}, True),
        ({"category": "infusion-reaction", "grade": 3}, False),
        ({"term_code": "10021881", "serious": True}, True),
        ({"term_code": "999999", "serious": True}, False),
    ],
)
def test_serious_infection_rule(fields: dict[str, object], expected: bool) -> None:
    ae = AdverseEventReported(
        event_id="00000000-0000-0000-0000-000000000001",  # type: ignore[arg-type]
        stream="X",
        occurred_at=at(date(2022, 1, 1)),
        recorded_at=at(date(2022, 1, 1)),
        source={"feed": "test"},  # type: ignore[arg-type]
        ae_key="a",
        **fields,  # type: ignore[arg-type]
    )
    assert is_serious_infection(ae, SERIOUS_INFECTION_CODES) is expected


def test_serious_infections_counted_from_first_dose() -> None:
    log = LogBuilder()
    d = date(2022, 1, 3)
    log.adverse_event("X", d - timedelta(days=5), "before", category="infection", grade=3)
    log.dose("X", d)
    log.adverse_event("X", d + timedelta(days=5), "after", term_code="233604007", serious=True)
    log.adverse_event("X", d + timedelta(days=6), "after", term_code="233604007", serious=True)  # update
    r = report(log.events, as_of=None)
    assert r.patients[0].serious_infections == 1 and r.patients[0].adverse_events == 1
    assert r.summary.serious_infections == 1 and r.summary.patients_with_serious_infection == 1


def test_json_schema_is_stable(seed_report: Report) -> None:
    """Fields are only ever appended (old readers keep working) and every field is documented."""
    data = json.loads(seed_report.model_dump_json())
    assert list(data) == [
        "agent", "profile", "profile_version", "as_of", "summary", "patients",
        "data_cut", "data_cut_source", "follow_up_window_days", "pseudonymized",  # added with the data cut
    ]
    assert list(data["patients"][0]) == [
        "patient",
        "sex",
        "age_at_first_dose",
        "itp_type",
        "disease_duration_years",
        "prior_lines",
        "applications",
        "cumulative_dose_mg",
        "adverse_events",
        "serious_infections",
        "episodes",
        "last_follow_up",  # added with the data cut
    ]
    assert list(data["patients"][0]["episodes"][0]) == [
        "index",
        "start",
        "baseline",
        "combination_with",
        "reexposure",
        "best_response",
        "response_onset",
        "time_to_response_days",
        "relapse_onset",
        "response_duration_days",
        "ongoing",
        "sustained_remission",
        "complete_response_lost_onset",  # added later, documented (fields are only ever appended)
        "response_status",  # added with the data cut
    ]
    assert list(data["summary"]["ongoing_remissions"][0])[-1] == "status"
    assert data["patients"][0]["episodes"][0]["start"] == "2020-10-05"
    documented = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text()
    summary = data["summary"]
    keys = [*data, *summary, *summary["response_rate"], *data["patients"][0], *data["patients"][0]["episodes"][0],
            *(key for listing in ("relapses", "reexposures", "ongoing_remissions") for key in summary[listing][0])]
    for key in keys:
        assert f"`{key}`" in documented, f"{key} is not documented in docs/report.md"
    assert Report.model_validate_json(seed_report.model_dump_json()) == seed_report


def test_json_written_before_the_data_cut_still_reads(seed_report: Report) -> None:
    """Rows stored by an older version (read models, archives) validate: every added field has a default."""
    data = json.loads(seed_report.model_dump_json())
    for key in ("data_cut", "data_cut_source", "follow_up_window_days", "pseudonymized"):
        del data[key]
    for row in data["patients"]:
        del row["last_follow_up"]
        for ep in row["episodes"]:
            del ep["response_status"], ep["complete_response_lost_onset"]
    for item in data["summary"]["ongoing_remissions"]:
        del item["status"]
    old = Report.model_validate(data)
    assert old.data_cut is None and not old.pseudonymized


def test_report_is_deterministic(seed: tuple[list[Event], dict[str, dict[str, Event]]]) -> None:
    events = seed[0]
    assert report(events) == report(list(reversed(events)))
