"""Temporal abstraction: from one patient's events to flat situations the rules can decide on.

durable_rules may only see one flat fact compared with constants (the safe subset), so everything that
needs history or arithmetic is computed here, in plain typed Python: which version of a result counts,
eligibility (status, code, rescue windows, premedication), calendar dates in the site time zone, the last
count of each day, episodes and baseline, days since D1, whether a qualifying run of days is long enough,
and which time-based deadlines the patient's event time has passed. Nothing here reads the wall clock.

Two layers:
- `resolve` looks at the whole *set* of known events and annotates each one (effective version? eligible
  count? rescue? premedication? combination partners?). These facts can depend on events later in valid
  time (a correction, a same-day IVIG, a steroid on an anti-CD38 day), so they are computed over the set;
  the deriver re-folds from the start whenever an annotation of an already folded event changes.
- `Timeline` is the fold state: it is fed events in valid-time order and produces situations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from events.base import Event
from events.clinical import (
    GIVEN_STATUSES,
    AdministrationRetracted,
    AdverseEventReported,
    BleedingReported,
    BodyWeightRecorded,
    ClockAdvanced,
    DrugAdministered,
    PatientDemographics,
    PatientEnrolled,
    PatientMerged,
    PlateletCountRecorded,
    ResultRetracted,
    ResultStatus,
)
from rules.profile import Profile
from rules.situation import Situation, default_situation

TYPE_RANK: dict[type[Event], int] = {
    PatientEnrolled: 0,
    PatientDemographics: 0,
    PatientMerged: 0,
    BodyWeightRecorded: 1,
    PlateletCountRecorded: 2,  # before a dose at the same instant: a count at the dose time is pre-dose
    ResultRetracted: 3,
    DrugAdministered: 4,
    AdministrationRetracted: 5,
    BleedingReported: 6,
    AdverseEventReported: 7,
    ClockAdvanced: 9,
}
"""Fixed tie-break between event types at the same valid time."""

_CENSOR_EPSILON = 1e-6


def is_input(event: Event) -> bool:
    """Events the derivation consumes (clinical facts and clock ticks; not acks, not derived events)."""
    return type(event) in TYPE_RANK


def sort_key(event: Event) -> tuple[datetime, int, str]:
    """Valid time, type rank, event id: a total order that depends only on the events themselves."""
    return (event.occurred_at, TYPE_RANK[type(event)], str(event.event_id))


def local_date(ts: datetime, tz: ZoneInfo) -> date:
    return ts.astimezone(tz).date()


def start_of_day(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


# ----------------------------------------------------------------------------------------------------
# resolution over the set


@dataclass(frozen=True)
class Annotation:
    """What the set of known events says about one event."""

    effective: bool = True
    """False for a superseded result version, a retracted result or administration, a non-given dose."""
    counting: bool = False
    """Counts: latest version, counting status, accepted code, has a value."""
    eligible: bool = False
    """Counts: counting and outside every rescue window."""
    rescue: str | None = None
    """Administrations: id of the rescue definition it meets."""
    premedication: bool = False
    combination: tuple[str, ...] = ()
    """Tracked-agent administrations: ITP drugs (re)started within +-combination_days of its date."""


def _mg_per_day(total: float, unit: str | None) -> float | None:
    u = (unit or "mg").strip().lower()
    if u == "mg":
        return total
    if u == "g":
        return total * 1000.0
    return None


NEUTRAL_TYPES: tuple[type[Event], ...] = (
    PatientEnrolled, PatientDemographics, PatientMerged, BleedingReported, AdverseEventReported, ClockAdvanced,
)
"""Events whose annotation is always the default and which change no other event's annotation."""


def count_annotation(e: PlateletCountRecorded, profile: Profile, rescue_dates: Sequence[date]) -> Annotation:
    """The annotation of the only version of a result (as resolve would give it), from known rescue dates."""
    if e.status in (ResultStatus.PRELIMINARY, ResultStatus.OTHER):
        return Annotation(effective=False)
    counting = (e.status in profile.counts.accepted_statuses and e.code in profile.counts.accepted_codes
                and e.value is not None)
    d = local_date(e.occurred_at, profile.tz)
    window = timedelta(days=profile.windows.rescue_days - 1)
    in_window = any(r <= d <= r + window for r in rescue_dates)
    return Annotation(effective=True, counting=counting, eligible=counting and not in_window)


def rescue_dates_of(events: Sequence[Event], annotations: dict[UUID, Annotation], tz: ZoneInfo) -> list[date]:
    return sorted({local_date(e.occurred_at, tz) for e in events
                   if isinstance(e, DrugAdministered) and annotations.get(e.event_id, Annotation()).rescue})


def combination_starts(given: Sequence[tuple[date, str]], profile: Profile) -> list[tuple[date, str]]:
    """(date, agent) of every (re)start of an ITP drug among given administrations in time order: the first
    dose, or a dose after >= the re-exposure gap without that agent."""
    starts: list[tuple[date, str]] = []
    last_seen: dict[str, date] = {}
    for d, agent in given:
        cls = profile.agent_class(agent)
        if cls is None or not profile.classes[cls].itp_drug:
            continue
        prev = last_seen.get(agent)
        if prev is None or (d - prev).days >= profile.windows.reexposure_gap_days:
            starts.append((d, agent))
        last_seen[agent] = d
    return starts


def resolve(events: Sequence[Event], profile: Profile) -> dict[UUID, Annotation]:
    """Annotate every event of a sorted event list from the whole list."""
    tz = profile.tz
    out: dict[UUID, Annotation] = {}
    # Latest version of each result / administration by version time (reported_at), then by position (a
    # content order); preliminary/other never replace. A retraction is a version too: with a version time
    # (FHIR) it competes, without one (HL7 D/W, RXA-21 D) it retracts whatever else there is.
    last = datetime.max.replace(tzinfo=UTC)
    winners: dict[str, tuple[tuple[datetime, int], Event]] = {}
    admin_winner: dict[str, tuple[tuple[datetime, int], Event]] = {}
    weights: list[tuple[date, float]] = []
    for pos, e in enumerate(events):
        if isinstance(e, PlateletCountRecorded | ResultRetracted):
            if isinstance(e, PlateletCountRecorded) and e.status in (ResultStatus.PRELIMINARY, ResultStatus.OTHER):
                continue
            at = e.reported_at or (e.occurred_at if isinstance(e, PlateletCountRecorded) else last)
            cur = winners.get(e.result_key)
            if cur is None or (at, pos) > cur[0]:
                winners[e.result_key] = ((at, pos), e)
        elif isinstance(e, DrugAdministered | AdministrationRetracted):
            first = datetime.min.replace(tzinfo=UTC)
            at = e.reported_at or (first if isinstance(e, DrugAdministered) else last)
            cur_admin = admin_winner.get(e.administration_key)
            if cur_admin is None or (at, pos) > cur_admin[0]:  # without version times: last in valid-time order
                admin_winner[e.administration_key] = ((at, pos), e)
        elif isinstance(e, BodyWeightRecorded):
            weights.append((local_date(e.occurred_at, tz), e.kg))

    admins = [a for _, a in admin_winner.values() if isinstance(a, DrugAdministered) and a.completion in GIVEN_STATUSES]
    admins.sort(key=sort_key)
    admin_ids = {a.event_id for a in admins}

    # Rescue classification (premedication first: a steroid on an anti-CD38 day is not rescue).
    anti_cd38_days = {
        local_date(a.occurred_at, tz)
        for a in admins
        if profile.agent_class(a.agent) in profile.premedication.same_day_as_classes
    }
    daily: dict[tuple[str, date], tuple[float, str | None]] = {}
    for a in admins:
        if a.dose is not None:
            key = (a.agent, local_date(a.occurred_at, tz))
            total, _ = daily.get(key, (0.0, a.dose_unit))
            daily[key] = (total + a.dose, a.dose_unit)
    rescue_of: dict[UUID, str] = {}
    premed: set[UUID] = set()
    for a in admins:
        d = local_date(a.occurred_at, tz)
        if a.agent in profile.premedication.agents and d in anti_cd38_days:
            premed.add(a.event_id)
            continue
        for r in profile.rescue:
            by_name = a.agent in r.agents or any((a.atc_code or "").startswith(p) for p in r.atc_prefixes)
            if not by_name:
                continue
            total, unit = daily.get((a.agent, d), (0.0, None))
            if r.min_mg_per_day is not None:
                mg = _mg_per_day(total, unit)
                if mg is None or mg < r.min_mg_per_day:
                    continue
            if r.min_mg_per_kg_per_day is not None:
                kg = next((w for wd, w in reversed(sorted(weights)) if wd <= d), None)
                mg = _mg_per_day(total, unit)
                if kg is None or mg is None or mg / kg < r.min_mg_per_kg_per_day:
                    continue
            rescue_of[a.event_id] = r.id
            break
    rescue_dates = sorted({local_date(a.occurred_at, tz) for a in admins if a.event_id in rescue_of})
    window = profile.windows.rescue_days - 1

    # Combination partners: an ITP drug of another class (re)started within +-N days of a tracked dose.
    starts = combination_starts([(local_date(a.occurred_at, tz), a.agent) for a in admins], profile)

    accepted_status = set(profile.counts.accepted_statuses)
    accepted_codes = set(profile.counts.accepted_codes)
    winner_ids = {e.event_id for _, e in winners.values() if isinstance(e, PlateletCountRecorded)}
    for e in events:
        if isinstance(e, PlateletCountRecorded):
            is_winner = e.event_id in winner_ids
            counting = is_winner and e.status in accepted_status and e.code in accepted_codes and e.value is not None
            d = local_date(e.occurred_at, tz)
            in_window = any(r <= d <= r + timedelta(days=window) for r in rescue_dates)
            out[e.event_id] = Annotation(effective=is_winner, counting=counting, eligible=counting and not in_window)
        elif isinstance(e, DrugAdministered):
            if e.event_id not in admin_ids:
                out[e.event_id] = Annotation(effective=False)
                continue
            combo: tuple[str, ...] = ()
            if e.agent in profile.tracked_agents:
                d = local_date(e.occurred_at, tz)
                own = profile.agent_class(e.agent)
                span = timedelta(days=profile.windows.combination_days)
                combo = tuple(
                    sorted({ag for sd, ag in starts if d - span <= sd <= d + span and profile.agent_class(ag) != own})
                )
            out[e.event_id] = Annotation(
                rescue=rescue_of.get(e.event_id), premedication=e.event_id in premed, combination=combo
            )
        else:
            out[e.event_id] = Annotation()
    return out


# ----------------------------------------------------------------------------------------------------
# fold state


@dataclass
class DayEntry:
    """The occasion of one calendar day in an episode: the last eligible count of the day, or a bleed."""

    at: datetime
    value: float | None
    event_id: UUID
    meets: bool
    meets_complete: bool
    fails: bool
    bleeding: bool = False

    @property
    def fails_complete(self) -> bool:
        """The occasion fails the complete-response criterion: below it, or a voiding bleed."""
        return not self.meets_complete


@dataclass
class Episode:
    agent: str
    index: int
    d1_at: datetime
    d1_date: date
    d1_event_id: UUID
    baseline: float | None
    baseline_imputed: bool
    baseline_event_id: UUID | None
    reexposure: bool
    combination_with: tuple[str, ...]
    last_dose_date: date
    last_dose_event_id: UUID
    state: str = "assessing"
    complete: bool = False
    complete_onset: date | None = None
    complete_confirmed_on: date | None = None
    complete_lost: bool = False
    sustained: bool = False
    response_onset: date | None = None
    response_onset_event_id: UUID | None = None
    response_confirmed_on: date | None = None
    last_eligible_count_date: date | None = None
    last_eligible_count_id: UUID | None = None
    last_eligible_count_at: datetime | None = None
    days: dict[date, DayEntry] = field(default_factory=dict)
    alerted_runs: set[date] = field(default_factory=set)
    evaluated_ticks: set[tuple[str, datetime]] = field(default_factory=set)


@dataclass(frozen=True)
class Run:
    start: DayEntry
    start_date: date
    length_days: int


@dataclass(frozen=True)
class Tick:
    at: datetime
    episode: Episode
    deadline: str


class Timeline:
    """The fold state of one patient: episodes, day occasions, last doses; produces situations."""

    def __init__(self, profile: Profile, tz: ZoneInfo | None = None) -> None:
        self.profile = profile
        self.tz = tz or profile.tz
        self.episodes: dict[str, list[Episode]] = {}
        self.last_dose: dict[str, tuple[date, UUID]] = {}
        self.eligible_counts: list[tuple[date, float, UUID]] = []

    # -- helpers ------------------------------------------------------------------------------------
    def date_of(self, ts: datetime) -> date:
        return local_date(ts, self.tz)

    def start_of(self, d: date) -> datetime:
        return start_of_day(d, self.tz)

    def current_episodes(self) -> list[Episode]:
        return [eps[-1] for agent in self.profile.tracked_agents if (eps := self.episodes.get(agent))]

    @property
    def tracked(self) -> bool:
        return bool(self.episodes)

    def _judge(self, ep: Episode, value: float, censored: str | None) -> tuple[bool, bool, bool]:
        """(meets response, meets complete, fails) for one count in this episode."""
        t = self.profile.response
        v = value - _CENSOR_EPSILON if censored == "<" else value + _CENSOR_EPSILON if censored == ">" else value
        meets = v >= t.response
        if t.doubling_of_baseline:
            meets = meets and ep.baseline is not None and v >= 2 * ep.baseline
        meets_c = v >= t.complete
        # IWG defines CR (>= 100) without the doubling: a count that meets CR never fails R, even when it
        # is below twice a high baseline (a CR patient with baseline 60 and a count of 110 is in CR)
        fails = (not meets and not meets_c) if t.doubling_of_baseline else v < t.relapse_below
        return meets, meets_c, fails

    # -- runs ---------------------------------------------------------------------------------------
    def _run(self, ep: Episode, pred: str, floor: date | None, none_failing: bool) -> Run | None:
        days = sorted(d for d in ep.days if floor is None or d >= floor)
        if not days or not getattr(ep.days[days[-1]], pred):
            return None
        start = days[-1]
        for d in reversed(days):
            if getattr(ep.days[d], pred):
                start = d
            elif none_failing:
                break
        return Run(ep.days[start], start, (days[-1] - start).days)

    def response_run(self, ep: Episode) -> Run | None:
        return self._run(ep, "meets", None, self.profile.confirmation.none_failing_between)

    def complete_run(self, ep: Episode) -> Run | None:
        return self._run(ep, "meets_complete", None, self.profile.confirmation.none_failing_between)

    def failing_run(self, ep: Episode) -> Run | None:
        if ep.response_confirmed_on is None:
            return None
        return self._run(ep, "fails", ep.response_confirmed_on, self.profile.loss_confirmation.none_failing_between)

    def complete_failing_run(self, ep: Episode) -> Run | None:
        """After the complete response was confirmed: the latest run of occasions failing it (IWG loss of CR)."""
        if ep.complete_confirmed_on is None:
            return None
        return self._run(
            ep, "fails_complete", ep.complete_confirmed_on, self.profile.loss_confirmation.none_failing_between
        )

    # -- situations ---------------------------------------------------------------------------------
    def episode_situation(self, ep: Episode, at: datetime, kind: str) -> Situation:
        d = self.date_of(at)
        s = default_situation()
        s.update(
            kind=kind,
            scope="episode",
            tracked=True,
            has_episode=True,
            state=ep.state,
            complete=ep.complete,
            complete_lost=ep.complete_lost,
            sustained=ep.sustained,
            days_since_d1=(d - ep.d1_date).days,
        )
        if ep.response_onset is not None:
            s["days_since_response_onset"] = (d - ep.response_onset).days
            if ep.last_eligible_count_date is not None and ep.last_eligible_count_date >= ep.response_onset:
                s["response_days_observed"] = (ep.last_eligible_count_date - ep.response_onset).days
        if ep.last_eligible_count_date is not None:
            s["days_since_last_eligible_count"] = (d - ep.last_eligible_count_date).days
        last = self.last_dose.get(ep.agent)
        if last is not None:
            s["days_since_last_dose"] = (d - last[0]).days
        conf, loss = self.profile.confirmation, self.profile.loss_confirmation
        r, c, f = self.response_run(ep), self.complete_run(ep), self.failing_run(ep)
        s["response_confirmed"] = r is not None and r.length_days >= conf.min_days_apart
        s["complete_confirmed"] = c is not None and c.length_days >= conf.min_days_apart
        s["in_failing_run"] = f is not None
        s["loss_confirmed"] = f is not None and f.length_days >= loss.min_days_apart
        s["loss_alerted"] = f is not None and f.start_date in ep.alerted_runs
        cf = self.complete_failing_run(ep)
        s["complete_loss_confirmed"] = cf is not None and cf.length_days >= loss.min_days_apart
        return s

    def next_tick(self, until: datetime) -> Tick | None:
        """The earliest time-based deadline at or before `until` not evaluated yet."""
        w = self.profile.windows
        best: Tick | None = None
        for ep in self.current_episodes():
            cands: list[tuple[str, date]] = []
            if ep.state == "assessing":
                cands.append(("non_response", ep.d1_date + timedelta(days=w.non_response_day)))
                last = self.last_dose.get(ep.agent)
                if last is not None:
                    cands.append(("early_stop", last[0] + timedelta(days=w.early_stop_no_dose_days + 1)))
            # sustained remission has no deadline of its own: a response is known to last only as far as
            # its last eligible count (domain.md A8), so an eligible count has to show it
            if ep.state == "responder" and ep.last_eligible_count_date is not None:
                missing_at = ep.last_eligible_count_date + timedelta(days=w.missing_count_days + 1)
                cands.append(("missing_count", missing_at))
            for deadline, d in cands:
                at = self.start_of(d)
                if at <= until and (deadline, at) not in ep.evaluated_ticks and (best is None or at < best.at):
                    best = Tick(at, ep, deadline)
        return best

    def tick_situation(self, tick: Tick) -> Situation:
        tick.episode.evaluated_ticks.add((tick.deadline, tick.at))
        s = self.episode_situation(tick.episode, tick.at, "tick")
        s["deadline"] = tick.deadline
        return s

    def observe_count(
        self, e: PlateletCountRecorded, counting: bool, eligible: bool
    ) -> tuple[list[tuple[Episode, Situation]], Situation]:
        """Record an effective count; return one situation per current episode and one for the patient."""
        d = self.date_of(e.occurred_at)
        value = float(e.value) if e.value is not None else 0.0
        if eligible:
            self.eligible_counts.append((d, value, e.event_id))
        out: list[tuple[Episode, Situation]] = []
        for ep in self.current_episodes():
            if eligible:
                meets, meets_c, fails = self._judge(ep, value, e.censored)
                prev = ep.days.get(d)
                bleeding = prev is not None and prev.bleeding
                ep.days[d] = DayEntry(
                    e.occurred_at,
                    value,
                    e.event_id,
                    meets and not bleeding,
                    meets_c and not bleeding,
                    fails or bleeding,
                    bleeding,
                )
                ep.last_eligible_count_date = d
                ep.last_eligible_count_id = e.event_id
                ep.last_eligible_count_at = e.occurred_at
            s = self.episode_situation(ep, e.occurred_at, "count")
            s.update(counting=counting, eligible=eligible, count=value, count_censored_below=e.censored == "<")
            if eligible:
                entry = ep.days[d]
                s.update(
                    meets_response=entry.meets,
                    meets_complete=entry.meets_complete,
                    fails_response=entry.fails,
                    fails_complete=entry.fails_complete,
                )
            out.append((ep, s))
        p = default_situation()
        p.update(
            kind="count",
            scope="patient",
            tracked=self.tracked,
            counting=counting,
            eligible=eligible,
            count=value,
            count_censored_below=e.censored == "<",
        )
        return out, p

    def observe_bleeding(self, e: BleedingReported) -> list[tuple[Episode, Situation]]:
        """A bleed of the voiding grade is a failing occasion of its day (IWG: response needs no bleeding)."""
        b = self.profile.bleeding
        if not b.voids_response or e.who_grade < b.min_who_grade:
            return []
        d = self.date_of(e.occurred_at)
        out = []
        for ep in self.current_episodes():
            prev = ep.days.get(d)
            ep.days[d] = DayEntry(e.occurred_at, prev.value if prev else None, e.event_id, False, False, True, True)
            s = self.episode_situation(ep, e.occurred_at, "bleeding")
            s.update(eligible=True, fails_response=True, fails_complete=True, bleeding_grade=e.who_grade)
            out.append((ep, s))
        return out

    def dose_situation(self, e: DrugAdministered) -> Situation:
        """Situation of an administration of a tracked agent, before it is recorded."""
        eps = self.episodes.get(e.agent)
        if eps:
            s = self.episode_situation(eps[-1], e.occurred_at, "dose")
        else:
            s = default_situation()
            s.update(kind="dose", tracked=self.tracked)
            last = self.last_dose.get(e.agent)
            if last is not None:
                s["days_since_last_dose"] = (self.date_of(e.occurred_at) - last[0]).days
        s["dose_of_tracked"] = True
        return s

    def record_dose(self, e: DrugAdministered, rescue: bool) -> None:
        d = self.date_of(e.occurred_at)
        self.last_dose[e.agent] = (d, e.event_id)
        for ep in self.current_episodes():
            if ep.agent == e.agent:
                ep.last_dose_date, ep.last_dose_event_id = d, e.event_id
            if rescue:
                # A rescue breaks every run: counts before it cannot confirm with counts after it.
                ep.days.clear()

    def ae_situation(self, e: AdverseEventReported) -> Situation:
        inf = self.profile.infection
        s = default_situation()
        s.update(
            kind="adverse_event",
            scope="patient",
            tracked=self.tracked,
            ae_infection=(e.term_code in inf.codes) or ((e.category or "").lower() in inf.categories),
            ae_serious=e.serious is True,
            ae_grade=e.grade or 0,
            ae_severity=e.severity or "unknown",
        )
        return s

    # -- transitions --------------------------------------------------------------------------------
    def start_episode(self, e: DrugAdministered, reexposure: bool, combination: tuple[str, ...]) -> Episode:
        """Open an episode with D1 = this administration; baseline from counts folded before it."""
        w = self.profile.windows
        d1 = self.date_of(e.occurred_at)
        baseline: tuple[date, float, UUID] | None = None
        imputed = False
        for span, imp in ((w.baseline_days, False), (w.baseline_fallback_days, True)):
            cands = [c for c in self.eligible_counts if d1 - timedelta(days=span) <= c[0] <= d1]
            if cands:
                baseline, imputed = cands[-1], imp
                break
        eps = self.episodes.setdefault(e.agent, [])
        ep = Episode(
            agent=e.agent,
            index=len(eps) + 1,
            d1_at=e.occurred_at,
            d1_date=d1,
            d1_event_id=e.event_id,
            baseline=baseline[1] if baseline else None,
            baseline_imputed=imputed,
            baseline_event_id=baseline[2] if baseline else None,
            reexposure=reexposure,
            combination_with=combination,
            last_dose_date=d1,
            last_dose_event_id=e.event_id,
        )
        eps.append(ep)
        return ep
