"""Synthetic event logs for the reporting tests: a small builder and the seed cohort of the abstract.

The seed cohort reproduces the German daratumumab series (8 patients, 5 responders, TTR 1/2/2/3/10 weeks,
relapses 2 and 4 months after response, one re-exposure with romiplostim 10 months after relapse,
long-term remissions ongoing at 24, 32 and 51 months, no serious infections) and deliberately carries
the traps a report must survive: duplicate and retracted administrations, not-given administrations,
corrected and retracted results, an estimate code, rescue therapy, steroid premedication, superseded
derivations, another profile and a what-if derivation set.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from events import (
    AdministrationRetracted,
    AdverseEventReported,
    CompleteResponseAchieved,
    CompletionStatus,
    DerivationRevised,
    DrugAdministered,
    EpisodeStarted,
    Event,
    NonResponseDeclared,
    PatientDemographics,
    PatientEnrolled,
    PlateletCountRecorded,
    ReExposureStarted,
    ResponseAchieved,
    ResponseLost,
    ResultRetracted,
    ResultStatus,
    Source,
    SustainedRemissionReached,
    stable_event_id,
)

BERLIN = ZoneInfo("Europe/Berlin")
AGENT = "daratumumab"
PROFILE = "site"
PROFILE_VERSION = "1.0.0"
AS_OF = datetime(2025, 6, 30, 23, 59, tzinfo=BERLIN)
SERIOUS_INFECTION_CODES = frozenset(
    {"40733004", "54150009", "233604007", "68566005", "91302008", "10509002", "10021881"}
)
SRC = Source(feed="test", sender="TEST|UKX")
ENGINE = Source(feed="engine")


def at(day: date, hour: int = 8, minute: int = 0) -> datetime:
    """A Berlin wall-clock time on `day` (the site time zone of every rule)."""
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


class LogBuilder:
    """Appends events with deterministic ids and per-stream versions, as the store would."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._versions: dict[str, int] = defaultdict(int)
        self._n = 0

    def _common(
        self, stream: str, occurred: datetime, recorded: datetime | None, source: Source
    ) -> dict[str, Any]:
        self._n += 1
        self._versions[stream] += 1
        return {
            "event_id": stable_event_id("test", str(self._n)),
            "stream": stream,
            "stream_version": self._versions[stream],
            "occurred_at": occurred,
            "recorded_at": recorded or occurred + timedelta(hours=1),
            "source": source,
        }

    def add(self, ev: Event) -> Event:
        self.events.append(ev)
        return ev

    # clinical -------------------------------------------------------------------------------------
    def enrol(self, stream: str, diagnosis: date, itp_type: str, prior_lines: int) -> Event:
        return self.add(
            PatientEnrolled(
                **self._common(stream, at(diagnosis), None, SRC),
                diagnosis_date=diagnosis,
                itp_type=itp_type,  # type: ignore[arg-type]
                prior_lines=prior_lines,
            )
        )

    def demographics(self, stream: str, birth: date, sex: str) -> Event:
        return self.add(
            PatientDemographics(**self._common(stream, at(birth), None, SRC), birth_date=birth, sex=sex)  # type: ignore[arg-type]
        )

    def dose(
        self,
        stream: str,
        day: date,
        *,
        agent: str = AGENT,
        dose: float | None = 1800.0,
        unit: str | None = "mg",
        completion: CompletionStatus = CompletionStatus.COMPLETE,
        key: str | None = None,
        atc: str | None = None,
        hour: int = 10,
    ) -> DrugAdministered:
        key = key or f"{stream}-{agent}-{day.isoformat()}-{hour}"
        ev = DrugAdministered(
            **self._common(stream, at(day, hour), None, SRC),
            agent=agent,
            atc_code=atc,
            original_code=atc or agent,
            dose=dose,
            dose_unit=unit,
            completion=completion,
            administration_key=key,
        )
        self.add(ev)
        return ev

    def retract_dose(self, stream: str, key: str, when: datetime) -> Event:
        return self.add(
            AdministrationRetracted(**self._common(stream, when, None, SRC), administration_key=key)
        )

    def count(
        self,
        stream: str,
        day: date,
        value: float | None,
        *,
        status: ResultStatus = ResultStatus.FINAL,
        key: str | None = None,
        code: str = "777-3",
        hour: int = 8,
        reported: datetime | None = None,
    ) -> PlateletCountRecorded:
        key = key or f"{stream}-{day.isoformat()}-{hour}-{code}"
        ev = PlateletCountRecorded(
            **self._common(stream, at(day, hour), None, SRC),
            value=value,
            original_value="" if value is None else str(value),
            original_unit="Gpt/l",
            code=code,
            code_system="LN",
            status=status,
            result_key=key,
            reported_at=reported or at(day, hour + 1),
        )
        self.add(ev)
        return ev

    def retract_result(self, stream: str, key: str, when: datetime) -> Event:
        return self.add(ResultRetracted(**self._common(stream, when, None, SRC), result_key=key))

    def adverse_event(self, stream: str, day: date, key: str, **fields: Any) -> Event:
        return self.add(
            AdverseEventReported(**self._common(stream, at(day, 12), None, SRC), ae_key=key, **fields)
        )

    # derived --------------------------------------------------------------------------------------
    def _derived(
        self,
        stream: str,
        occurred: datetime,
        episode: int,
        causes: tuple[Event, ...] = (),
        *,
        profile: str = PROFILE,
        derivation_set: str = "canonical",
        agent: str = AGENT,
    ) -> dict[str, Any]:
        return {
            **self._common(stream, occurred, occurred + timedelta(minutes=5), ENGINE),
            "causation_ids": tuple(c.event_id for c in causes),
            "rule_id": "test-rule",
            "profile": profile,
            "profile_version": PROFILE_VERSION,
            "derivation_set": derivation_set,
            "episode": episode,
            "agent": agent,
        }

    def episode(
        self,
        stream: str,
        index: int,
        d1: date,
        baseline: float | None,
        *,
        reexposure: bool = False,
        combination: tuple[str, ...] = (),
        causes: tuple[Event, ...] = (),
    ) -> Event:
        return self.add(
            EpisodeStarted(
                **self._derived(stream, at(d1, 10), index, causes),
                d1=d1,
                baseline=baseline,
                reexposure=reexposure,
                combination_with=combination,
            )
        )

    def response(
        self, stream: str, index: int, d1: date, onset: date, confirm: Event, onset_count: Event, **kw: Any
    ) -> Event:
        return self.add(
            ResponseAchieved(
                **self._derived(stream, confirm.occurred_at, index, (onset_count, confirm), **kw),
                onset=onset,
                time_to_response_days=(onset - d1).days,
            )
        )

    def complete(
        self, stream: str, index: int, d1: date, onset: date, confirm: Event, onset_count: Event
    ) -> Event:
        return self.add(
            CompleteResponseAchieved(
                **self._derived(stream, confirm.occurred_at, index, (onset_count, confirm)),
                onset=onset,
                time_to_response_days=(onset - d1).days,
            )
        )

    def lost(self, stream: str, index: int, onset: date, response_onset: date, confirm: Event) -> Event:
        return self.add(
            ResponseLost(
                **self._derived(stream, confirm.occurred_at, index, (confirm,)),
                onset=onset,
                response_duration_days=(onset - response_onset).days,
            )
        )

    def sustained(self, stream: str, index: int, onset: date) -> Event:
        reached = onset + timedelta(days=182)
        return self.add(
            SustainedRemissionReached(
                **self._derived(stream, at(reached, 9), index), reached_on=reached, response_onset=onset
            )
        )

    def non_response(self, stream: str, index: int, d1: date) -> Event:
        day = d1 + timedelta(days=84)
        return self.add(NonResponseDeclared(**self._derived(stream, at(day, 0, 5), index), assessed_on=day))

    def reexposure(self, stream: str, index: int, d1: date, days_since: int) -> Event:
        return self.add(
            ReExposureStarted(
                **self._derived(stream, at(d1, 10), index),
                previous_episode=index - 1,
                reason="after-relapse",
                days_since_previous=days_since,
            )
        )

    def revise(self, stream: str, superseded: tuple[Event, ...], when: datetime) -> Event:
        return self.add(
            DerivationRevised(
                **self._derived(stream, when, 0),
                supersedes=tuple(str(e.event_id) for e in superseded),
                reason="test re-derivation",
            )
        )


@dataclass(frozen=True)
class SeedPatient:
    stream: str
    sex: str
    age: int
    itp_type: str
    disease_years: int
    prior_lines: int
    d1: date
    doses: int
    ttr_days: int | None = None
    complete: bool = False
    relapse_after: int | None = None
    """Days from response onset to relapse onset."""
    follow_days: int = 180
    """Ongoing responders: last eligible count = onset + follow_days; others: days after D1 or relapse."""
    reexpose_after: int | None = None
    """Days from relapse onset to the re-exposure D1."""
    second_doses: int = 0
    second_ttr: int | None = None
    second_follow: int = 0


SEED = (
    SeedPatient(
        "PSN-001", "female", 58, "primary", 6, 5, date(2020, 10, 5), 14, ttr_days=14, follow_days=1552
    ),
    SeedPatient(
        "PSN-002",
        "male",
        45,
        "primary",
        10,
        6,
        date(2020, 11, 2),
        17,
        ttr_days=7,
        complete=True,
        follow_days=974,
    ),
    SeedPatient(
        "PSN-003", "female", 62, "secondary", 1, 4, date(2021, 2, 1), 9, ttr_days=21, follow_days=730
    ),
    SeedPatient(
        "PSN-004",
        "male",
        79,
        "primary",
        20,
        7,
        date(2021, 4, 12),
        8,
        ttr_days=70,
        relapse_after=61,
        follow_days=120,
    ),
    SeedPatient(
        "PSN-005",
        "female",
        22,
        "primary",
        2,
        4,
        date(2020, 12, 7),
        6,
        ttr_days=14,
        relapse_after=122,
        reexpose_after=304,
        second_doses=4,
        second_ttr=14,
        second_follow=150,
    ),
    SeedPatient("PSN-006", "male", 87, "secondary", 35, 8, date(2021, 6, 7), 4),
    SeedPatient("PSN-007", "female", 60, "primary", 4, 5, date(2021, 9, 6), 6),
    SeedPatient("PSN-008", "male", 70, "secondary", 6, 6, date(2022, 1, 10), 12, follow_days=330),
)
"""Ages 22..87 (median 61), disease duration 1..35 y (median 6), applications 4..17 (median 9.5)."""


def dose_days(d1: date, n: int) -> list[date]:
    """Induction of 4 weekly doses, then every 4 weeks (the seed's 'individual schedules')."""
    return [d1 + timedelta(days=7 * i if i < 4 else 21 + 28 * (i - 3)) for i in range(n)]


def _value(day: date, spans: list[tuple[date, date, float]], i: int) -> float:
    """Count on `day`: high inside a response span, low otherwise (varied a little by index)."""
    for start, stop, level in spans:
        if start <= day < stop:
            return level + (i % 4) * 10
    return 14.0 + (i % 3) * 6


def _schedule(d1: date, end: date, keys: list[date]) -> list[date]:
    days = {d1 - timedelta(days=7), d1, *keys, end}
    weekly_until = max([d1 + timedelta(days=84), *(k + timedelta(days=14) for k in keys)])
    day = d1
    while day <= end:
        days.add(day)
        day += timedelta(days=7 if day < weekly_until else 28)
    return sorted(d for d in days if d <= end)


def add_patient(log: LogBuilder, p: SeedPatient) -> dict[str, Event]:
    """All events of one seed patient; returns the notable ones by name for the tests."""
    s = p.stream
    named: dict[str, Event] = {}
    birth = date(p.d1.year - p.age, p.d1.month, 1) - timedelta(days=30)
    diagnosis = p.d1 - timedelta(days=round(p.disease_years * 365.25))
    log.enrol(s, diagnosis, p.itp_type, p.prior_lines)
    log.demographics(s, birth, p.sex)
    doses = dose_days(p.d1, p.doses)
    for day in doses:
        ev = log.dose(s, day)
        named.setdefault("first_dose", ev)

    level = 120.0 if p.complete else 60.0
    spans: list[tuple[date, date, float]] = []
    keys: list[date] = []
    onset = relapse = d1b = onset2 = None
    end = p.d1 + timedelta(days=p.follow_days)
    if p.ttr_days is not None:
        onset = p.d1 + timedelta(days=p.ttr_days)
        keys += [onset, onset + timedelta(days=7)]
        if p.relapse_after is not None:
            relapse = onset + timedelta(days=p.relapse_after)
            keys += [relapse, relapse + timedelta(days=3)]
            spans.append((onset, relapse, level))
            end = relapse + timedelta(days=p.follow_days)
            if p.reexpose_after is not None and p.second_ttr is not None:
                d1b = relapse + timedelta(days=p.reexpose_after)
                onset2 = d1b + timedelta(days=p.second_ttr)
                keys += [d1b, onset2, onset2 + timedelta(days=7)]
                end = onset2 + timedelta(days=p.second_follow)
                spans.append((onset2, end + timedelta(days=1), level))
        else:
            end = onset + timedelta(days=p.follow_days)
            spans.append((onset, end + timedelta(days=1), level))
    by_day: dict[date, PlateletCountRecorded] = {}
    for i, day in enumerate(_schedule(p.d1, end, keys)):
        hour = 7 if day in doses else 8
        by_day[day] = log.count(s, day, _value(day, spans, i), hour=hour)

    log.episode(s, 1, p.d1, by_day[p.d1].value, causes=(named["first_dose"],))
    if onset is not None:
        confirm = by_day[onset + timedelta(days=7)]
        named["response"] = log.response(s, 1, p.d1, onset, confirm, by_day[onset])
        if p.complete:
            log.complete(s, 1, p.d1, onset, confirm, by_day[onset])
        if relapse is not None:
            named["lost"] = log.lost(s, 1, relapse, onset, by_day[relapse + timedelta(days=3)])
        elif p.follow_days >= 182:
            log.sustained(s, 1, onset)
    else:
        named["nr"] = log.non_response(s, 1, p.d1)
    if d1b is not None and onset2 is not None and relapse is not None:
        log.reexposure(s, 2, d1b, (d1b - relapse).days)
        for day in dose_days(d1b, p.second_doses):
            log.dose(s, day)
        for k in range(4):
            log.dose(
                s,
                d1b + timedelta(days=7 * k),
                agent="romiplostim",
                dose=210.0,
                unit="ug",
                atc="B02BX04",
                hour=11,
            )
        log.episode(s, 2, d1b, by_day[d1b].value, reexposure=True, combination=("romiplostim",))
        log.response(s, 2, d1b, onset2, by_day[onset2 + timedelta(days=7)], by_day[onset2])
    return named


def seed_cohort() -> tuple[list[Event], dict[str, dict[str, Event]]]:
    """The seed cohort with every trap; returns the events and the notable events per stream."""
    log = LogBuilder()
    named = {p.stream: add_patient(log, p) for p in SEED}

    # Duplicate message of PSN-001's first dose: same administration key, must count once.
    first = named["PSN-001"]["first_dose"]
    assert isinstance(first, DrugAdministered)
    log.dose("PSN-001", SEED[0].d1, key=first.administration_key)
    # Dexamethasone 40 mg on a daratumumab day is premedication, not rescue.
    log.dose("PSN-001", SEED[0].d1 + timedelta(days=7), agent="dexamethasone", dose=40, atc="H02AB02", hour=9)
    # A retracted and a not-administered daratumumab dose of PSN-002 do not count.
    log.dose("PSN-002", date(2020, 11, 3), key="PSN-002-wrong")
    log.retract_dose("PSN-002", "PSN-002-wrong", at(date(2020, 11, 4)))
    log.dose("PSN-002", date(2020, 11, 5), completion=CompletionStatus.NOT_ADMINISTERED)
    # PSN-003: a correction, a retracted result and a smear estimate (not an accepted code).
    d = SEED[2].d1 + timedelta(days=40)
    log.count("PSN-003", d, 30.0, key="PSN-003-corr")
    log.count("PSN-003", d, 61.0, key="PSN-003-corr", status=ResultStatus.CORRECTED, reported=at(d, 15))
    log.count("PSN-003", d + timedelta(days=1), 4.0, key="PSN-003-wrong")
    log.retract_result("PSN-003", "PSN-003-wrong", at(d + timedelta(days=2)))
    log.count("PSN-003", d + timedelta(days=2), 9.0, code="49497-1")
    # PSN-006: a response the rules later withdrew (superseded) — it must not make a responder.
    p6 = SEED[5]
    wrong = log.response(
        "PSN-006",
        1,
        p6.d1,
        p6.d1 + timedelta(days=21),
        log.count("PSN-006", p6.d1 + timedelta(days=28), 55.0, hour=9),
        log.count("PSN-006", p6.d1 + timedelta(days=21), 52.0, hour=9),
    )
    named["PSN-006"]["superseded"] = wrong
    named["PSN-006"]["revision"] = log.revise("PSN-006", (wrong,), at(p6.d1 + timedelta(days=29)))
    # PSN-007: IVIG rescue; counts of the next 28 days are not eligible.
    p7 = SEED[6]
    log.dose("PSN-007", p7.d1 + timedelta(days=100), agent="ivig", dose=70, unit="g", atc="J06BA02")
    log.count("PSN-007", p7.d1 + timedelta(days=103), 160.0)
    # Another profile and a what-if set: never part of the canonical site report.
    p8 = SEED[7]
    c1 = log.count("PSN-008", p8.d1 + timedelta(days=30), 12.0, hour=9)
    c2 = log.count("PSN-008", p8.d1 + timedelta(days=37), 13.0, hour=9)
    log.add(
        ResponseAchieved(
            **log._derived("PSN-007", at(p7.d1 + timedelta(days=40)), 1, profile="iwg2009"),
            onset=p7.d1 + timedelta(days=33),
            time_to_response_days=33,
        )
    )
    named["PSN-008"]["whatif"] = log.add(
        ResponseAchieved(
            **log._derived("PSN-008", c2.occurred_at, 1, (c1, c2), derivation_set="whatif-1"),
            onset=c1.occurred_at.date(),
            time_to_response_days=30,
        )
    )
    # PSN-008: dexamethasone pulse on a non-dose day is rescue.
    log.dose("PSN-008", p8.d1 + timedelta(days=60), agent="dexamethasone", dose=40, atc="H02AB02", hour=9)
    # Adverse events: none is a serious infection.
    log.adverse_event(
        "PSN-001", SEED[0].d1, "ae-1", term_display="infusion reaction", category="infusion-reaction", grade=2
    )
    log.adverse_event(
        "PSN-002", date(2021, 1, 10), "ae-2", term_code="54150009", term_system="SNOMED", grade=2
    )
    log.adverse_event("PSN-006", date(2021, 7, 1), "ae-3", category="infection", severity="moderate")
    # Not in the cohort: only a retracted dose, only not-given doses, only another agent.
    log.dose("PSN-009", date(2021, 3, 1), key="PSN-009-x")
    log.retract_dose("PSN-009", "PSN-009-x", at(date(2021, 3, 2)))
    log.dose("PSN-010", date(2021, 3, 1), completion=CompletionStatus.NOT_ADMINISTERED)
    log.dose("PSN-010", date(2021, 3, 8), completion=CompletionStatus.REFUSED)
    log.dose("PSN-011", date(2021, 3, 1), agent="romiplostim", dose=250, unit="ug")
    return log.events, named
