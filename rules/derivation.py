"""Derivation: fold one patient's events through the temporal abstraction and the matcher.

The result is a function of the *set* of events: inputs are sorted by (valid time, type rank, event id),
never by arrival, and facts that depend on later events (corrections, retractions, same-day rescue or
premedication, combination partners) are resolved over the whole known set. `PatientDeriver` evaluates
in-order events incrementally and re-folds from the start itself when a new event changes what is known
about an earlier one; `derive_patient` is a fresh deriver fed everything.

Time-based transitions (non-response, sustained remission, missing-count and early-stop alerts) are
derived when the patient's event time passes their deadline (any later event of the patient or a
ClockAdvanced), with the deadline as their valid time. Nothing here reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from events.base import CANONICAL_SET, DerivedEvent, Event, Source
from events.clinical import (
    GIVEN_STATUSES,
    AdministrationRetracted,
    AdverseEventReported,
    BleedingReported,
    ClockAdvanced,
    DrugAdministered,
    PlateletCountRecorded,
    ResultRetracted,
)
from events.derived import (
    AlertRaised,
    CompleteResponseAchieved,
    CompleteResponseLost,
    EpisodeStarted,
    NonResponseDeclared,
    ReExposureStarted,
    ResponseAchieved,
    ResponseLost,
    SustainedRemissionReached,
)
from events.ids import stable_event_id
from rules.compiler import CompiledRule
from rules.matching import Matcher
from rules.profile import Profile
from rules.situation import Situation
from rules.temporal import (
    NEUTRAL_TYPES,
    Annotation,
    Episode,
    Tick,
    Timeline,
    combination_starts,
    count_annotation,
    is_input,
    local_date,
    rescue_dates_of,
    resolve,
    sort_key,
)

_TRANSITION_ORDER = {
    "start-episode": 0,
    "reexposure-after-relapse": 1,
    "reexposure-after-gap": 2,
    "response": 3,
    "complete-response": 4,
    "complete-response-lost": 5,  # before relapse: one failing run can end the CR and the R in one step
    "loss-pending": 6,
    "relapse": 7,
    "non-response": 8,
    "sustained-remission": 9,
}


@dataclass
class _Step:
    """What the current evaluation is about: the event (None for a deadline tick) and its time."""

    at: datetime
    event: Event | None
    tick: Tick | None = None


class PatientDeriver:
    """Incremental derivation for one patient. Feed events in sort order (see temporal.sort_key)."""

    def __init__(
        self,
        profile: Profile,
        matcher: Matcher,
        *,
        derivation_set: str = CANONICAL_SET,
        patient: str | None = None,
    ) -> None:
        self.profile = profile
        self.matcher = matcher
        self.derivation_set = derivation_set
        self.patient = patient
        self._rules = {r.id: r for r in matcher.compiled.rules}
        self._order = {r.id: i for i, r in enumerate(matcher.compiled.rules)}
        self._events: list[Event] = []
        self._ids: set[UUID] = set()
        self._result_keys: set[str] = set()
        self._retracted_results: set[str] = set()
        self._admin_keys: set[str] = set()
        self._retracted_admins: set[str] = set()
        self._rescue_dates: list[date] = []
        self._ann: dict[UUID, Annotation] = {}
        self.superseded: list[DerivedEvent] = []
        """Derived events the last feed no longer yields (after a re-fold); the engine revises them."""
        self._reset()

    # -- public -------------------------------------------------------------------------------------
    @property
    def derived(self) -> list[DerivedEvent]:
        """Every derived event of the events fed so far, in derivation order."""
        return list(self._derived)

    @property
    def last_key(self) -> tuple[datetime, int, str] | None:
        return sort_key(self._events[-1]) if self._events else None

    def accepts_in_order(self, event: Event) -> bool:
        """True when `event` can be fed incrementally (it sorts after every event fed so far)."""
        last = self.last_key
        return last is None or sort_key(event) > last

    def feed(self, event: Event) -> list[DerivedEvent]:
        """Fold one event that sorts after every event already fed; return the newly derived events.

        If the event changes what is known about an earlier event (a new version of a result, a
        retraction, a same-day rescue or anti-CD38 dose, a combination partner), the deriver re-folds
        from the start; then the return value holds the derived events that are new or changed and
        `superseded` those that are no longer derived.
        """
        self.superseded = []
        if not is_input(event) or event.event_id in self._ids:
            return []
        if not self.accepts_in_order(event):
            raise ValueError("event sorts before an event already fed; re-derive with derive_patient")
        fast = self._fast_annotation(event)
        self._remember(event)
        if fast is not None:
            # the event cannot change what is known about any earlier event: no re-resolve of the history
            self._ann[event.event_id] = fast
            return self._step(event)
        ann = resolve(self._events, self.profile)
        changed = any(ann.get(e.event_id) != self._ann.get(e.event_id) for e in self._events[:-1])
        self._ann = ann
        self._rescue_dates = rescue_dates_of(self._events, ann, self.profile.tz)
        if not changed:
            return self._step(event)
        old = self._derived
        self._refold()
        old_by_id = {d.event_id: d for d in old}
        new_ids = {d.event_id for d in self._derived}
        self.superseded = [d for d in old if d.event_id not in new_ids]
        return [d for d in self._derived if old_by_id.get(d.event_id) != d]

    def _fast_annotation(self, event: Event) -> Annotation | None:
        """The annotation of an event that changes no earlier annotation; None when a full resolve is needed.

        bench/ measured the full resolve on every event at 60 % of derivation time (quadratic in a patient's
        history). Demographics, enrolment, AEs, bleeds and clock ticks never change another annotation, nor
        does the first version of a new result; corrections, retractions, doses and weights may.
        """
        if isinstance(event, NEUTRAL_TYPES):
            return Annotation()
        if (isinstance(event, PlateletCountRecorded) and event.result_key not in self._result_keys
                and event.result_key not in self._retracted_results):
            return count_annotation(event, self.profile, self._rescue_dates)
        if isinstance(event, DrugAdministered):
            return self._fast_dose_annotation(event)
        return None

    def _fast_dose_annotation(self, e: DrugAdministered) -> Annotation | None:
        """A new administration that is no rescue, no steroid, makes no earlier steroid a premedication and
        starts no combination partner of an earlier tracked dose changes no earlier annotation; everything
        else (and every doubt) takes the full resolve. Its own annotation is what resolve would give it."""
        p = self.profile
        if e.administration_key in self._admin_keys or e.administration_key in self._retracted_admins:
            return None
        if e.completion not in GIVEN_STATUSES:
            return Annotation(effective=False)
        agent, cls = e.agent, p.agent_class(e.agent)
        if agent in p.premedication.agents:
            return None
        for rescue in p.rescue:
            if agent in rescue.agents or any((e.atc_code or "").startswith(x) for x in rescue.atc_prefixes):
                return None
        tz = p.tz
        day = local_date(e.occurred_at, tz)
        given = [(local_date(a.occurred_at, tz), a.agent) for a in self._events
                 if isinstance(a, DrugAdministered) and self._ann.get(a.event_id, Annotation()).effective]
        if cls in p.premedication.same_day_as_classes and any(
                d == day and ag in p.premedication.agents for d, ag in given):
            return None
        span = timedelta(days=p.windows.combination_days)
        starts = combination_starts(given, p)
        if cls is not None and p.classes[cls].itp_drug:
            own = [d for d, ag in given if ag == agent]
            is_start = not own or (day - max(own)).days >= p.windows.reexposure_gap_days
            if is_start and any(ag in p.tracked_agents and p.agent_class(ag) != cls and abs(d - day) <= span
                                for d, ag in given):
                return None
        combination: tuple[str, ...] = ()
        if agent in p.tracked_agents:
            combination = tuple(sorted({ag for d, ag in starts
                                        if day - span <= d <= day + span and p.agent_class(ag) != cls}))
        return Annotation(combination=combination)

    def load(self, events: Iterable[Event]) -> list[DerivedEvent]:
        """Replace everything fed so far by `events` (any order) and derive from the start."""
        self._events, self._ids = [], set()
        self._result_keys, self._retracted_results = set(), set()
        self._admin_keys, self._retracted_admins = set(), set()
        for e in sorted((e for e in events if is_input(e)), key=sort_key):
            if e.event_id not in self._ids:
                self._remember(e)
        self._ann = resolve(self._events, self.profile)
        self._rescue_dates = rescue_dates_of(self._events, self._ann, self.profile.tz)
        self._refold()
        self.superseded = []
        return self.derived

    # -- fold ---------------------------------------------------------------------------------------
    def _remember(self, event: Event) -> None:
        self._events.append(event)
        self._ids.add(event.event_id)
        if isinstance(event, PlateletCountRecorded):
            self._result_keys.add(event.result_key)
        elif isinstance(event, ResultRetracted):
            self._retracted_results.add(event.result_key)
        elif isinstance(event, DrugAdministered):
            self._admin_keys.add(event.administration_key)
        elif isinstance(event, AdministrationRetracted):
            self._retracted_admins.add(event.administration_key)
        if self.patient is None and not isinstance(event, ClockAdvanced):
            self.patient = event.stream

    def _reset(self) -> None:
        self._timeline = Timeline(self.profile)
        self._derived: list[DerivedEvent] = []
        self._keys: set[str] = set()
        self._recorded: datetime | None = None

    def _refold(self) -> None:
        self._reset()
        for e in self._events:
            self._step(e)

    def _step(self, event: Event) -> list[DerivedEvent]:
        if self._recorded is None or event.recorded_at > self._recorded:
            self._recorded = event.recorded_at
        out: list[DerivedEvent] = []
        tl = self._timeline
        while (tick := tl.next_tick(event.occurred_at)) is not None:
            out += self._decide(tick.episode, tl.tick_situation(tick), _Step(tick.at, None, tick))
        step = _Step(event.occurred_at, event)
        ann = self._ann.get(event.event_id, Annotation())
        if isinstance(event, PlateletCountRecorded) and ann.effective:
            per_episode, patient_sit = tl.observe_count(event, ann.counting, ann.eligible)
            if ann.counting:
                for ep, sit in per_episode:
                    out += self._decide(ep, sit, step)
                out += self._decide(None, patient_sit, step)
        elif isinstance(event, DrugAdministered) and ann.effective:
            if event.agent in self.profile.tracked_agents:
                out += self._decide(None, tl.dose_situation(event), step)
            tl.record_dose(event, rescue=ann.rescue is not None)
        elif isinstance(event, BleedingReported):
            for ep, sit in tl.observe_bleeding(event):
                out += self._decide(ep, sit, step)
        elif isinstance(event, AdverseEventReported):
            out += self._decide(None, tl.ae_situation(event), step)
        return out

    def _decide(self, ep: Episode | None, sit: Situation, step: _Step) -> list[DerivedEvent]:
        fired = self.matcher.fire(sit)
        if not fired:
            return []
        rules = sorted(
            (self._rules[r] for r in fired),
            key=lambda r: (_TRANSITION_ORDER.get(r.then.transition or "", 99), self._order[r.id]),
        )
        out: list[DerivedEvent] = []
        opened = False
        for rule in rules:
            t = rule.then.transition
            facts = ""
            if t in ("start-episode", "reexposure-after-relapse", "reexposure-after-gap"):
                if opened:
                    continue
                opened = True
                evs, ep = self._open_episode(rule, step, t)
                out += evs
                facts = f"d1={ep.d1_date}"
            elif t is not None and ep is not None:
                evs, facts = self._transition(rule, ep, step, t)
                out += evs
            if rule.then.alert is not None:
                out += self._alert(rule, rule.then.alert, ep, step, facts)
        return out

    # -- derived events -----------------------------------------------------------------------------
    def _emit(
        self,
        cls: type[DerivedEvent],
        rule: CompiledRule,
        ep: Episode | None,
        facts: str,
        occurred_at: datetime,
        causes: Iterable[UUID | None],
        **fields: Any,
    ) -> list[DerivedEvent]:
        scope = f"{ep.agent}#{ep.index}" if ep is not None else "-"
        key = "|".join((self.derivation_set, self.patient or "", rule.id, cls.__name__, scope, facts))
        if key in self._keys:
            return []
        self._keys.add(key)
        causation = tuple(dict.fromkeys(c for c in causes if c is not None))
        assert self._recorded is not None
        ev = cls(
            event_id=stable_event_id(key),
            stream=self.patient or "",
            occurred_at=occurred_at,
            recorded_at=self._recorded,
            source=Source(feed="engine", sender=f"rules:{self.profile.name}", message_id=rule.id),
            causation_ids=causation,
            rule_id=rule.id,
            profile=self.profile.name,
            profile_version=self.profile.version,
            derivation_set=self.derivation_set,
            episode=ep.index if ep is not None else None,
            agent=ep.agent if ep is not None else None,
            derivation_key=key,
            **fields,
        )
        self._derived.append(ev)
        return [ev]

    def _open_episode(self, rule: CompiledRule, step: _Step, t: str) -> tuple[list[DerivedEvent], Episode]:
        dose = step.event
        assert isinstance(dose, DrugAdministered)
        tl = self._timeline
        ann = self._ann.get(dose.event_id, Annotation())
        prev_eps = tl.episodes.get(dose.agent, [])
        prev = prev_eps[-1] if prev_eps else None
        last = tl.last_dose.get(dose.agent)
        ep = tl.start_episode(dose, reexposure=prev is not None, combination=ann.combination)
        facts = f"d1={ep.d1_date}"
        out: list[DerivedEvent] = []
        if prev is not None:
            out += self._emit(
                ReExposureStarted,
                rule,
                ep,
                facts,
                dose.occurred_at,
                [dose.event_id],
                previous_episode=prev.index,
                reason="after-relapse" if t == "reexposure-after-relapse" else "after-gap",
                days_since_previous=(ep.d1_date - last[0]).days if last else 0,
            )
        out += self._emit(
            EpisodeStarted,
            rule,
            ep,
            facts,
            dose.occurred_at,
            [dose.event_id, ep.baseline_event_id],
            d1=ep.d1_date,
            baseline=ep.baseline,
            baseline_imputed=ep.baseline_imputed,
            baseline_event_id=str(ep.baseline_event_id) if ep.baseline_event_id else None,
            reexposure=ep.reexposure,
            combination_with=ep.combination_with,
        )
        return out, ep

    def _transition(self, rule: CompiledRule, ep: Episode, step: _Step, t: str) -> tuple[list[DerivedEvent], str]:
        tl = self._timeline
        w = self.profile.windows
        current = step.event.event_id if step.event is not None else None
        if t == "response" and ep.state == "assessing":
            run = tl.response_run(ep)
            assert run is not None
            ep.state, ep.response_onset = "responder", run.start_date
            ep.response_onset_event_id, ep.response_confirmed_on = run.start.event_id, tl.date_of(step.at)
            facts = f"onset={run.start_date}"
            return self._emit(
                ResponseAchieved,
                rule,
                ep,
                facts,
                run.start.at,
                [run.start.event_id, current, ep.d1_event_id],
                onset=run.start_date,
                time_to_response_days=(run.start_date - ep.d1_date).days,
            ), facts
        if t == "complete-response" and not ep.complete:
            run = tl.complete_run(ep)
            assert run is not None
            ep.complete = True
            ep.complete_onset, ep.complete_confirmed_on = run.start_date, tl.date_of(step.at)
            if ep.state == "assessing":
                ep.state, ep.response_onset = "responder", run.start_date
                ep.response_onset_event_id, ep.response_confirmed_on = run.start.event_id, tl.date_of(step.at)
            facts = f"onset={run.start_date}"
            return self._emit(
                CompleteResponseAchieved,
                rule,
                ep,
                facts,
                run.start.at,
                [run.start.event_id, current, ep.d1_event_id],
                onset=run.start_date,
                time_to_response_days=(run.start_date - ep.d1_date).days,
            ), facts
        if (t == "complete-response-lost" and ep.state == "responder" and ep.complete and not ep.complete_lost
                and ep.complete_onset is not None):
            run = tl.complete_failing_run(ep)
            if run is None:
                return [], ""
            ep.complete_lost = True
            facts = f"onset={run.start_date}"
            return self._emit(
                CompleteResponseLost,
                rule,
                ep,
                facts,
                run.start.at,
                [run.start.event_id, current],
                onset=run.start_date,
                complete_response_duration_days=(run.start_date - ep.complete_onset).days,
            ), facts
        if t == "loss-pending":
            run = tl.failing_run(ep)
            if run is None:
                return [], ""
            ep.alerted_runs.add(run.start_date)
            return [], f"run={run.start_date}"
        if t == "relapse" and ep.state == "responder":
            run = tl.failing_run(ep)
            assert run is not None and ep.response_onset is not None
            ep.state = "relapsed"
            facts = f"onset={run.start_date}"
            return self._emit(
                ResponseLost,
                rule,
                ep,
                facts,
                run.start.at,
                [run.start.event_id, current],
                onset=run.start_date,
                response_duration_days=(run.start_date - ep.response_onset).days,
            ), facts
        if t == "non-response" and ep.state == "assessing":
            ep.state = "non_responder"
            assessed = ep.d1_date + timedelta(days=w.non_response_day)
            facts = f"assessed={assessed}"
            return self._emit(
                NonResponseDeclared,
                rule,
                ep,
                facts,
                tl.start_of(assessed),
                [ep.d1_event_id],
                assessed_on=assessed,
            ), facts
        if (t == "sustained-remission" and not ep.sustained and ep.response_onset is not None
                and ep.last_eligible_count_date is not None and ep.last_eligible_count_id is not None
                and ep.last_eligible_count_at is not None):
            ep.sustained = True
            reached = ep.last_eligible_count_date
            facts = f"reached={reached}"
            causes = [c for c in (ep.response_onset_event_id, ep.last_eligible_count_id) if c is not None]
            return self._emit(
                SustainedRemissionReached,
                rule,
                ep,
                facts,
                ep.last_eligible_count_at,
                causes,
                reached_on=reached,
                response_onset=ep.response_onset,
            ), facts
        return [], ""

    def _alert(
        self, rule: CompiledRule, alert_id: str, ep: Episode | None, step: _Step, facts: str
    ) -> list[DerivedEvent]:
        definition = self.profile.alert(alert_id)
        causes: list[UUID | None] = []
        if step.tick is not None:
            tep = step.tick.episode
            facts = facts or f"{step.tick.deadline}@{step.at.date()}"
            causes = [tep.last_eligible_count_id if step.tick.deadline == "missing_count" else tep.last_dose_event_id]
        else:
            ev = step.event
            assert ev is not None
            causes = [ev.event_id]
            if not facts:
                if isinstance(ev, PlateletCountRecorded):
                    facts = f"result={ev.result_key}"
                elif isinstance(ev, AdverseEventReported):
                    facts = f"ae={ev.ae_key}"
                else:
                    facts = f"event={ev.event_id}"
        return self._emit(
            AlertRaised,
            rule,
            ep,
            f"{alert_id}:{facts}",
            step.at,
            causes,
            alert=alert_id,
            severity=definition.severity,
            message=definition.message,
        )


def derive_patient(
    events: Iterable[Event], profile: Profile, matcher: Matcher, *, derivation_set: str = CANONICAL_SET
) -> list[DerivedEvent]:
    """Every derived event of one patient's events (clinical + ClockAdvanced, any order)."""
    deriver = PatientDeriver(profile, matcher, derivation_set=derivation_set)
    return deriver.load(events)
