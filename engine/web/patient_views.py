"""The patient list and the patient page: status, the platelet chart, episodes with their `explain` chains,
and the timeline. Pure reads of the log and the read models; nothing here changes anything."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import asc, desc, select

from engine.app import App
from engine.audit import Explanation, explain
from engine.projections import update as update_projections
from engine.projections.status import status_row
from engine.reporting.facts import Facts, collect_facts
from engine.store.schema import patient_status
from engine.store.timestamps import from_db
from engine.web import formatting
from engine.web.chart import Chart, CountIn, DoseIn, MarkIn, build_chart
from engine.web.wording import words
from events import (
    CANONICAL_SET,
    CLOCK_STREAM,
    DerivationRevised,
    DerivedEvent,
    DrugAdministered,
    Event,
    PatientDemographics,
    PatientMerged,
    PlateletCountRecorded,
)

SORTABLE = {"patient", "state", "agent", "episode", "last_count", "last_count_at", "open_alerts", "since"}
TRANSITION_LABELS = {
    "EpisodeStarted": "Episode started (D1)",
    "ResponseAchieved": "Response",
    "CompleteResponseAchieved": "Complete response",
    "CompleteResponseLost": "Complete response lost",
    "ResponseLost": "Relapse (loss of response)",
    "ReExposureStarted": "Re-exposure",
    "SustainedRemissionReached": "Sustained remission",
    "NonResponseDeclared": "Non-response",
    "AlertRaised": "Alert",
}


@dataclass(frozen=True)
class PatientListRow:
    patient: str
    state: str
    agent: str | None
    episode: int | None
    since: date | None
    last_count: float | None
    last_count_at: datetime | None
    open_alerts: int


@dataclass(frozen=True)
class PatientList:
    rows: list[PatientListRow]
    agents: list[str]
    states: list[str]
    total: int


def patient_list(app: App, *, query: str = "", agent: str = "", state: str = "", sort: str = "patient",
                 descending: bool = False) -> PatientList:
    update_projections(app.store, app.projections)
    base = select(patient_status).where(patient_status.c.derivation_set == CANONICAL_SET)
    with app.store.engine.connect() as conn:
        everyone = conn.execute(base).mappings().all()
        q = base
        if query:
            q = q.where(patient_status.c.patient.startswith(query, autoescape=True))
        if agent:
            q = q.where(patient_status.c.agent == agent)
        if state:
            q = q.where(patient_status.c.state == state)
        column = patient_status.c[sort]
        order = desc(column).nulls_last() if descending else asc(column).nulls_last()
        rows = conn.execute(q.order_by(order, patient_status.c.patient)).mappings().all()
    return PatientList(
        rows=[PatientListRow(r["patient"], r["state"], r["agent"], r["episode"], r["since"], r["last_count"],
                             from_db(r["last_count_at"]) if r["last_count_at"] else None, r["open_alerts"])
              for r in rows],
        agents=sorted({r["agent"] for r in everyone if r["agent"]}),
        states=sorted({r["state"] for r in everyone}),
        total=len(everyone),
    )


@dataclass(frozen=True)
class Transition:
    item: Explanation
    label: str
    on: date | None
    summary: str
    inputs: list[tuple[Event, str]]
    """(input event, its source as text)."""


@dataclass
class EpisodeView:
    agent: str
    index: int
    d1: date | None
    baseline: float | None
    transitions: list[Transition] = field(default_factory=list)


@dataclass(frozen=True)
class TimelineRow:
    event: Event
    detail: str
    source: str
    derived: bool
    superseded: bool
    repeats: int = 0
    last_repeat: datetime | None = None


@dataclass
class PatientPage:
    mrn: str
    status: dict[str, Any]
    sex: str
    birth_year: int | None
    chart: Chart
    counts_table: list[CountIn]
    episodes: list[EpisodeView]
    timeline: list[TimelineRow]
    thresholds: list[tuple[str, float, str]]
    rescue_days: int
    merged_from: list[str]


def patient_events(app: App, mrn: str) -> tuple[list[Event], list[str]]:
    """The patient's stream and the streams merged into it (ADT A40)."""
    own: list[Event] = [s.event for s in app.store.read_stream(mrn)]
    merged = [e.merged_stream for e in own if isinstance(e, PatientMerged)]
    for stream in merged:
        own += [s.event for s in app.store.read_stream(stream)]
    return own, merged


def patient_page(app: App, mrn: str) -> PatientPage | None:
    events, merged = patient_events(app, mrn)
    if not events:
        return None
    tz = app.tzinfo
    profile = app.profile
    status = status_row(mrn, events)
    derived = [e for e in events if isinstance(e, DerivedEvent) and e.derivation_set == CANONICAL_SET]
    agents = list(dict.fromkeys(e.agent for e in derived if e.agent)) or [profile.tracked_agents[0]]
    facts_by_agent = {a: collect_facts(events, agent=a, profile=profile.name, as_of=None, tz=app.settings.timezone,
                                       rules_profile=profile) for a in agents}
    facts = facts_by_agent[agents[0]]
    sources = _count_sources(events)
    counts = [CountIn(c.at, c.value, c.censored, c.eligible,
                      _count_tip(c.value, c.censored, c.at, c.eligible, sources.get((c.at, c.value)), tz))
              for c in facts.counts.get(mrn, [])]
    doses = _doses(events, facts, mrn, tz)
    thresholds = _thresholds(profile)
    marks = [m for a, f in facts_by_agent.items() for m in _marks(f, mrn, a)]
    rescues = [(r.on, r.kind) for r in facts.rescues.get(mrn, [])]
    chart = build_chart(counts, doses, rescues, profile.windows.rescue_days, thresholds, marks, tz)
    sex, birth_year = "unknown", None
    for d in sorted((e for e in events if isinstance(e, PatientDemographics)), key=lambda e: e.recorded_at):
        sex = d.sex if d.sex != "unknown" else sex
        birth_year = d.birth_date.year if d.birth_date else birth_year
    clock = [s.event for s in app.store.read_stream(CLOCK_STREAM)]
    chains = explain(app, mrn, events=[*events, *clock])
    return PatientPage(mrn, status, sex, birth_year, chart, counts, _episodes(chains, tz), _timeline(events, tz),
                       thresholds, profile.windows.rescue_days, merged)


def _count_sources(events: list[Event]) -> dict[tuple[datetime, float], PlateletCountRecorded]:
    out: dict[tuple[datetime, float], PlateletCountRecorded] = {}
    for e in events:
        if isinstance(e, PlateletCountRecorded) and e.value is not None:
            out[(e.occurred_at, e.value)] = e
    return out


def source_text(e: Event) -> str:
    s = e.source
    return " · ".join(x for x in (s.feed, s.sender, f"message {s.message_id}" if s.message_id else None) if x)


def _count_tip(value: float, censored: str | None, at: datetime, eligible: bool,
               event: PlateletCountRecorded | None, tz: Any) -> str:
    parts = [formatting.count(value, censored), formatting.local_time(at, tz)]
    parts.append("counts for response" if eligible else "inside a rescue window: not used for response")
    if event is not None:
        if event.status.value not in ("final",):
            parts.append(f"result {event.status.value}")
        parts.append(f"source: {source_text(event)}")
    return " · ".join(parts)


def _doses(events: list[Event], facts: Facts, mrn: str, tz: Any) -> list[DoseIn]:
    latest: dict[str, DrugAdministered] = {}
    for e in events:
        if isinstance(e, DrugAdministered):
            latest[e.administration_key] = e
    out = []
    for a in facts.administrations.get(mrn, []):
        given = latest.get(a.key)
        dose = "dose not given"
        if given is not None and given.dose is not None:
            dose = f"{given.dose:g} {given.dose_unit or ''}".strip()
        source = f" · source: {source_text(given)}" if given is not None else ""
        out.append(DoseIn(a.at, a.agent, f"{a.agent} {dose} · {formatting.local_time(a.at, tz)}{source}"))
    return out


def _thresholds(profile: Any) -> list[tuple[str, float, str]]:
    t = profile.response
    out = [("response", t.response, f"response ≥ {t.response:g}"), ("complete", t.complete, f"CR ≥ {t.complete:g}")]
    if t.relapse_below != t.response:
        out.append(("relapse", t.relapse_below, f"relapse < {t.relapse_below:g}"))
    return out


def _marks(facts: Facts, mrn: str, agent: str) -> list[MarkIn]:
    out: list[MarkIn] = []
    for index, ep in sorted(facts.episodes.get(mrn, {}).items()):
        tag = f"{agent}, episode {index}"
        if ep.started is not None:
            kind, label = ("reexposure", f"D1 re-exp. ({index})") if ep.started.reexposure else ("d1", f"D1 ({index})")
            base = "" if ep.started.baseline is None else f", baseline {formatting.count(ep.started.baseline)}"
            out.append(MarkIn(ep.started.d1, kind, label, f"D1 of {tag}: {ep.started.d1}{base}"))
        if ep.response is not None:
            out.append(MarkIn(ep.response.onset, "response", "R", f"response onset {ep.response.onset} ({tag}), "
                              f"{formatting.days(ep.response.time_to_response_days)} after D1"))
        if ep.complete is not None:
            out.append(MarkIn(ep.complete.onset, "complete", "CR", f"complete response {ep.complete.onset} ({tag})"))
        if ep.complete_lost is not None:
            out.append(MarkIn(ep.complete_lost.onset, "complete-lost", "CR lost",
                              f"complete response lost {ep.complete_lost.onset} ({tag})"))
        if ep.lost is not None:
            out.append(MarkIn(ep.lost.onset, "relapse", "relapse", f"relapse onset {ep.lost.onset} ({tag}), response "
                              f"lasted {formatting.days(ep.lost.response_duration_days)}"))
        if ep.sustained is not None:
            out.append(MarkIn(ep.sustained.reached_on, "sustained", "SR",
                              f"sustained remission {ep.sustained.reached_on} ({tag})"))
        if ep.non_response is not None:
            out.append(MarkIn(ep.non_response.assessed_on, "non-response", "NR",
                              f"non-response assessed {ep.non_response.assessed_on} ({tag})"))
    return out


def _episodes(chains: list[Explanation], tz: Any) -> list[EpisodeView]:
    episodes: dict[tuple[str, int], EpisodeView] = {}
    loose: list[Transition] = []
    for item in chains:
        e = item.event
        on = _date_of(e)
        transition = Transition(item, TRANSITION_LABELS.get(e.type, e.type), on, _summary(e),
                                [(i, source_text(i)) for i in item.inputs])
        if e.agent is None or e.episode is None:
            loose.append(transition)
            continue
        view = episodes.setdefault((e.agent, e.episode), EpisodeView(e.agent, e.episode, None, None))
        view.transitions.append(transition)
        if e.type == "EpisodeStarted" and not item.superseded:
            view.d1 = getattr(e, "d1", None)
            view.baseline = getattr(e, "baseline", None)
    out = sorted(episodes.values(), key=lambda v: (v.d1 or date.max, v.agent, v.index))
    for view in out:
        view.transitions.sort(key=lambda t: (t.item.event.occurred_at, t.item.event.stream_version))
    if loose:
        out.append(EpisodeView("(no episode)", 0, None, None, loose))
    return out


def _date_of(e: DerivedEvent) -> date | None:
    for name in ("onset", "reached_on", "assessed_on", "d1"):
        value = getattr(e, name, None)
        if isinstance(value, date):
            return value
    return None


def _summary(e: DerivedEvent) -> str:
    return words(e)


def _timeline(events: list[Event], tz: Any) -> list[TimelineRow]:
    """By valid time; identical demographics after the first are folded into it (ADT repeats them)."""
    gone = {i for e in events if isinstance(e, DerivationRevised) for i in e.supersedes}
    rows: list[TimelineRow] = []
    seen_demographics: dict[tuple[Any, ...], int] = {}
    repeats: dict[int, list[datetime]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.occurred_at, e.stream_version)):
        if isinstance(e, PatientDemographics):
            key = (e.stream, e.birth_date, e.sex)
            if key in seen_demographics:
                repeats[seen_demographics[key]].append(e.occurred_at)
                continue
            seen_demographics[key] = len(rows)
        derived = isinstance(e, DerivedEvent)
        source = f"rule {e.rule_id}" if isinstance(e, DerivedEvent) else source_text(e)
        rows.append(TimelineRow(e, words(e), source, derived, str(e.event_id) in gone))
    for index, times in repeats.items():
        row = rows[index]
        rows[index] = TimelineRow(row.event, row.detail, row.source, row.derived, row.superseded, len(times),
                                  max(times))
    return rows
