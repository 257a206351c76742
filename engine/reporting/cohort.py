"""Build the cohort report of one agent from the event log (pure function, no database, no clock).

Clinical facts (who was treated, how often, with what dose, which counts are eligible, which adverse
events are serious infections) are read from the clinical events; every *judgement* about response,
relapse, re-exposure and remission is taken from the derived events of the rules engine, so the report
can never disagree with the alerts and the audit trail. The only figure computed here that the rules do
not derive is the duration of a response that is still ongoing (it grows with every new count).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from engine.reporting.facts import (
    DEFAULT_PLATELET_CODES,
    DerivedEpisode,
    Facts,
    Patient,
    collect_facts,
    local_date,
    normalise_as_of,
    profile_named,
)
from engine.reporting.model import (
    MONTH_DAYS,
    WEEK_DAYS,
    BestResponse,
    Episode,
    OngoingRemission,
    PatientRow,
    Range,
    ReExposure,
    Relapse,
    Report,
    ResponseRate,
    ResponseStatus,
    Summary,
)
from engine.reporting.pseudonyms import pseudonymize_report, pseudonyms_for
from events.base import CANONICAL_SET, Event
from events.clinical import AdverseEventReported
from rules import Profile

CONFIDENCE = 0.95
YEAR_DAYS = 365.25


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact binomial interval (as proportions); the small-cohort standard that abstracts quote."""
    from scipy.stats import binomtest  # scipy.stats takes a second to import: only when a report is built

    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def is_serious_infection(ae: AdverseEventReported, infection_codes: frozenset[str]) -> bool:
    """domain.md A10: an infection (coded or categorised) that is serious or of CTCAE grade >= 3.

    FHIR severity 'severe' stands for grade 3 only when no grade is given; an explicit grade wins.
    """
    infection = (ae.term_code is not None and ae.term_code in infection_codes) or (
        (ae.category or "").strip().lower() == "infection"
    )
    if not infection:
        return False
    if ae.serious:
        return True
    if ae.grade is not None:
        return ae.grade >= 3
    return ae.severity == "severe"


def _number(value: float, digits: int = 2) -> int | float:
    """Integral values stay integers in the JSON (61, not 61.0); others are rounded for stable output."""
    rounded = round(value, digits)
    return int(rounded) if float(rounded).is_integer() else rounded


def _range(values: Sequence[float]) -> Range:
    if not values:
        return Range(n=0, median=None, min=None, max=None)
    return Range(
        n=len(values),
        median=_number(statistics.median(values)),
        min=_number(min(values)),
        max=_number(max(values)),
    )


def _age(birth: date | None, on: date) -> int | None:
    """Completed years at the first dose (the convention of baseline tables)."""
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class FollowUp:
    """The data cut as a local date and the window that separates ongoing from censored responses."""

    cut: date | None
    window_days: int

    def status(self, last_count: date | None) -> ResponseStatus:
        """domain item 14: ongoing only with an eligible count within the window before the cut."""
        if self.cut is None:
            return "ongoing"
        if last_count is None or (self.cut - last_count).days > self.window_days:
            return "censored"
        return "ongoing"


def _episode(ep: DerivedEpisode, last_count: date | None, follow_up: FollowUp) -> Episode | None:
    """One report episode from its derived events; an episode the rules never opened is not reported."""
    if ep.started is None:
        return None
    responses = [r for r in (ep.response, ep.complete) if r is not None]
    first = min(responses, key=lambda r: r.onset) if responses else None
    best: BestResponse
    if ep.complete is not None:
        best = "CR"
    elif ep.response is not None:
        best = "R"
    elif ep.non_response is not None:
        best = "NR"
    else:
        best = "pending"
    relapse = ep.lost if first is not None else None
    duration: int | None = None
    status: ResponseStatus | None = None
    if first is not None and relapse is not None:
        duration = relapse.response_duration_days
        status = "relapsed"
    elif first is not None:
        status = follow_up.status(last_count)
        if last_count is not None:
            duration = max(0, (last_count - first.onset).days)
    return Episode(
        index=ep.index,
        start=ep.started.d1,
        baseline=ep.started.baseline,
        combination_with=list(ep.started.combination_with),
        reexposure=ep.started.reexposure or ep.reexposure is not None,
        best_response=best,
        response_onset=first.onset if first else None,
        time_to_response_days=first.time_to_response_days if first else None,
        relapse_onset=relapse.onset if relapse else None,
        response_duration_days=duration,
        ongoing=first is not None and relapse is None,
        sustained_remission=ep.sustained is not None and first is not None,
        complete_response_lost_onset=ep.complete_lost.onset if ep.complete_lost is not None else None,
        response_status=status,
    )


def _patient_row(
    stream: str, facts: Facts, agent: str, serious_infection_codes: frozenset[str], follow_up: FollowUp
) -> PatientRow:
    adms = facts.agent_administrations(stream, agent)
    first_dose = adms[0].on
    info = facts.patients.get(stream, Patient(stream))
    doses = [a.dose_mg for a in adms if a.dose_mg is not None]
    aes = [
        ae
        for ae in facts.adverse_events.get(stream, [])
        if local_date(ae.occurred_at, facts.tz) >= first_dose
    ]
    last_count = facts.last_eligible_count(stream)
    episodes = [
        e
        for idx in sorted(facts.episodes.get(stream, {}))
        if (e := _episode(facts.episodes[stream][idx], last_count, follow_up)) is not None
    ]
    duration = None
    if info.diagnosis_date is not None:
        duration = round((first_dose - info.diagnosis_date).days / YEAR_DAYS, 1)
    sex = info.sex if info.sex in ("female", "male", "other") else "unknown"
    itp_type = info.itp_type if info.itp_type in ("primary", "secondary") else None
    return PatientRow(
        patient=stream,
        sex=sex,
        age_at_first_dose=_age(info.birth_date, first_dose),
        itp_type=itp_type,
        disease_duration_years=duration,
        prior_lines=info.prior_lines,
        applications=len(adms),
        cumulative_dose_mg=round(sum(doses), 3) if doses else None,
        adverse_events=len(aes),
        serious_infections=sum(is_serious_infection(ae, serious_infection_codes) for ae in aes),
        episodes=episodes,
        last_follow_up=last_count,
    )


def _responded(row: PatientRow) -> bool:
    return any(e.best_response in ("R", "CR") for e in row.episodes)


def summarise(rows: Sequence[PatientRow]) -> Summary:
    """The cohort figures of a results section; time to response is the first response of each responder."""
    responders = [r for r in rows if _responded(r)]
    ttr_days: list[float] = []
    relapses: list[Relapse] = []
    reexposures: list[ReExposure] = []
    ongoing: list[OngoingRemission] = []
    for row in rows:
        first = next((e for e in row.episodes if e.best_response in ("R", "CR")), None)
        if first is not None and first.time_to_response_days is not None:
            ttr_days.append(first.time_to_response_days)
        by_index = {e.index: e for e in row.episodes}
        for ep in row.episodes:
            if ep.relapse_onset is not None and ep.response_onset is not None:
                days = (
                    ep.response_duration_days
                    if ep.response_duration_days is not None
                    else (ep.relapse_onset - ep.response_onset).days
                )
                relapses.append(
                    Relapse(
                        patient=row.patient,
                        episode=ep.index,
                        onset=ep.relapse_onset,
                        days_after_response=days,
                        months_after_response=round(days / MONTH_DAYS, 2),
                    )
                )
            if ep.reexposure:
                previous = by_index.get(ep.index - 1)
                gap = (
                    (ep.start - previous.relapse_onset).days
                    if previous is not None and previous.relapse_onset is not None
                    else None
                )
                reexposures.append(
                    ReExposure(
                        patient=row.patient,
                        episode=ep.index,
                        start=ep.start,
                        combination_with=ep.combination_with,
                        days_after_relapse=gap,
                        months_after_relapse=None if gap is None else round(gap / MONTH_DAYS, 2),
                        outcome=ep.best_response,
                    )
                )
            if ep.ongoing and ep.response_onset is not None and ep.response_duration_days is not None:
                ongoing.append(
                    OngoingRemission(
                        patient=row.patient,
                        episode=ep.index,
                        response_onset=ep.response_onset,
                        days=ep.response_duration_days,
                        months=round(ep.response_duration_days / MONTH_DAYS, 2),
                        sustained_remission=ep.sustained_remission,
                        status="censored" if ep.response_status == "censored" else "ongoing",
                    )
                )
    n = len(rows)
    low, high = clopper_pearson(len(responders), n) if n else (None, None)
    non_responders = [
        r for r in rows if not _responded(r) and any(e.best_response == "NR" for e in r.episodes)
    ]
    return Summary(
        patients=n,
        female=sum(r.sex == "female" for r in rows),
        male=sum(r.sex == "male" for r in rows),
        age_years=_range([r.age_at_first_dose for r in rows if r.age_at_first_dose is not None]),
        secondary_itp=sum(r.itp_type == "secondary" for r in rows),
        disease_duration_years=_range(
            [r.disease_duration_years for r in rows if r.disease_duration_years is not None]
        ),
        applications=_range([r.applications for r in rows]),
        responders=len(responders),
        complete_responders=sum(any(e.best_response == "CR" for e in r.episodes) for r in rows),
        non_responders=len(non_responders),
        pending=n - len(responders) - len(non_responders),
        response_rate=ResponseRate(
            responders=len(responders),
            patients=n,
            percent=round(100 * len(responders) / n, 1) if n else None,
            ci_low_percent=None if low is None else round(100 * low, 1),
            ci_high_percent=None if high is None else round(100 * high, 1),
            confidence=CONFIDENCE,
        ),
        time_to_response_days=_range(ttr_days),
        time_to_response_weeks=_range([d / WEEK_DAYS for d in ttr_days]),
        relapses=sorted(relapses, key=lambda r: (r.days_after_response, r.patient)),
        reexposures=reexposures,
        ongoing_remissions=sorted(ongoing, key=lambda o: (o.days, o.patient)),
        serious_infections=sum(r.serious_infections for r in rows),
        patients_with_serious_infection=sum(r.serious_infections > 0 for r in rows),
    )


@dataclass(frozen=True)
class Cohort:
    """A report with what its figures are drawn from: the facts (same cut, same labels) and the profile.

    When pseudonymised, report and facts carry P1..Pn and `key` maps each pseudonym to its MRN; the key is
    never part of any output unless a caller writes it on purpose.
    """

    report: Report
    facts: Facts
    profile: Profile
    key: Mapping[str, str] = field(default_factory=dict)


def build_cohort(
    events: Iterable[Event],
    *,
    agent: str,
    profile: str,
    profile_version: str,
    as_of: datetime | None,
    serious_infection_codes: frozenset[str],
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    platelet_codes: frozenset[str] = DEFAULT_PLATELET_CODES,
    rules_profile: Profile | None = None,
    pseudonymize: bool = False,
) -> Cohort:
    """The cohort report of `agent` under the derivations of `profile` in `derivation_set`, with its facts.

    Cohort = patients with at least one given (complete or partial), non-retracted administration of the
    agent up to the cut; patients are listed by first dose. `profile_version` is a label of the report:
    derived events are filtered by profile, and a rule-version change that alters a fact must have
    superseded the old fact with DerivationRevised (event sourcing keeps both, the revision decides).
    The data cut is `as_of`, else the latest valid time of the log; responses without relapse are ongoing
    or censored by the profile's `follow_up.ongoing_window_days` before that cut.
    """
    rules_profile = rules_profile or profile_named(profile)
    facts = collect_facts(
        events,
        agent=agent,
        profile=profile,
        as_of=as_of,
        tz=tz,
        derivation_set=derivation_set,
        platelet_codes=platelet_codes,
        rules_profile=rules_profile,
    )
    follow_up = FollowUp(
        cut=local_date(facts.as_of, facts.tz) if facts.as_of is not None else None,
        window_days=rules_profile.follow_up.ongoing_window_days,
    )
    cohort = [s for s in facts.administrations if facts.agent_administrations(s, agent)]
    cohort.sort(key=lambda s: (facts.agent_administrations(s, agent)[0].at, s))
    rows = [_patient_row(s, facts, agent, serious_infection_codes, follow_up) for s in cohort]
    report = Report(
        agent=agent,
        profile=profile,
        profile_version=profile_version,
        as_of=normalise_as_of(as_of, facts.tz),
        summary=summarise(rows),
        patients=rows,
        data_cut=facts.as_of,
        data_cut_source=facts.cut_source,
        follow_up_window_days=follow_up.window_days,
    )
    if not pseudonymize:
        return Cohort(report=report, facts=facts, profile=rules_profile)
    names = pseudonyms_for(report)
    return Cohort(
        report=pseudonymize_report(report, names),
        facts=facts.renamed(names),
        profile=rules_profile,
        key={pseudonym: mrn for mrn, pseudonym in names.items()},
    )


def build_report(
    events: Iterable[Event],
    *,
    agent: str,
    profile: str,
    profile_version: str,
    as_of: datetime | None,
    serious_infection_codes: frozenset[str],
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    platelet_codes: frozenset[str] = DEFAULT_PLATELET_CODES,
    rules_profile: Profile | None = None,
    pseudonymize: bool = False,
) -> Report:
    """The report alone (see `build_cohort`): for JSON and text, where no figure is drawn."""
    return build_cohort(
        events, agent=agent, profile=profile, profile_version=profile_version, as_of=as_of,
        serious_infection_codes=serious_infection_codes, tz=tz, derivation_set=derivation_set,
        platelet_codes=platelet_codes, rules_profile=rules_profile, pseudonymize=pseudonymize,
    ).report
