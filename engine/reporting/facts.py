"""Read-side normalisation of the event log: the clinical facts a report or a plot may use.

The rules engine owns the *derivations*; this module only answers the questions a report asks of the
clinical log (which administrations count, which platelet counts are eligible, which adverse events are
serious infections) and picks the derived events that still hold. Everything is a pure function of the
event list, so a report can be rebuilt from any replay and gives the same answer.

The data cut ``as_of`` is a *valid-time* cut: facts that happened after it are left out, while
corrections and retractions are applied whenever they arrived, because they change what was true
before the cut rather than adding new facts (the report states the current knowledge about the period
up to the cut).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from uuid import UUID
from zoneinfo import ZoneInfo

from events.base import CANONICAL_SET, DerivedEvent, Event
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
)
from events.derived import (
    CompleteResponseAchieved,
    CompleteResponseLost,
    DerivationRevised,
    EpisodeStarted,
    NonResponseDeclared,
    ReExposureStarted,
    ResponseAchieved,
    ResponseLost,
    SustainedRemissionReached,
)
from rules import Profile, ProfileError, load_profile, sort_key
from rules.temporal import Annotation, is_input, resolve

DEFAULT_PLATELET_CODES: frozenset[str] = frozenset({"777-3", "26515-7", "778-1"})
"""domain.md A1: accepted platelet codes (local codes arrive already mapped by the site profile)."""

_DATED = (
    PlateletCountRecorded,
    DrugAdministered,
    BodyWeightRecorded,
    BleedingReported,
    AdverseEventReported,
    ClockAdvanced,
)
"""Events whose occurred_at is a clinical valid time (or a clock tick). Enrolment, demographics, merges and
retractions are left out: feeds without a clinical time stamp them with the time of receipt."""

_MG_FACTOR: dict[str, float] = {
    "mg": 1.0,
    "g": 1000.0,
    "ug": 0.001,
    "µg": 0.001,
    "mcg": 0.001,
    "ng": 1e-6,
}


def dose_in_mg(dose: float | None, unit: str | None) -> float | None:
    """The dose in mg, or None when the unit is not a mass (mL, mg/kg, IU): such doses cannot be summed."""
    if dose is None or unit is None:
        return None
    factor = _MG_FACTOR.get(unit.strip().lower())
    return None if factor is None else dose * factor


@dataclass(frozen=True)
class Administration:
    """One given administration (latest version of its key, not retracted)."""

    stream: str
    agent: str
    atc_code: str | None
    on: date
    at: datetime
    dose_mg: float | None
    key: str


@dataclass(frozen=True)
class Count:
    """The current version of one platelet result that is a count (eligible or inside a rescue window)."""

    stream: str
    on: date
    at: datetime
    value: float
    censored: str | None
    eligible: bool


@dataclass(frozen=True)
class Rescue:
    """A rescue therapy on a calendar day: it makes counts of the next 28 days ineligible."""

    stream: str
    on: date
    kind: str
    """ivig, anti-d, transfusion or steroid-pulse."""


@dataclass
class Patient:
    """Patient-level facts merged from the latest non-empty value of every field."""

    stream: str
    diagnosis_date: date | None = None
    itp_type: str | None = None
    prior_lines: int | None = None
    birth_date: date | None = None
    sex: str = "unknown"


@dataclass
class DerivedEpisode:
    """The derived events of one treatment episode that still hold."""

    index: int
    started: EpisodeStarted | None = None
    response: ResponseAchieved | None = None
    complete: CompleteResponseAchieved | None = None
    complete_lost: CompleteResponseLost | None = None
    lost: ResponseLost | None = None
    reexposure: ReExposureStarted | None = None
    sustained: SustainedRemissionReached | None = None
    non_response: NonResponseDeclared | None = None


@dataclass
class Facts:
    """Everything a report needs, per patient stream, after the cut and all retractions."""

    tz: ZoneInfo
    as_of: datetime | None
    """The cut applied: the requested `as_of`, else the latest valid time of the log."""
    cut_source: str | None = None
    """'as-of' or 'latest-valid-time'; None for an empty log."""
    patients: dict[str, Patient] = field(default_factory=dict)
    administrations: dict[str, list[Administration]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, list[Count]] = field(default_factory=lambda: defaultdict(list))
    rescues: dict[str, list[Rescue]] = field(default_factory=lambda: defaultdict(list))
    adverse_events: dict[str, list[AdverseEventReported]] = field(default_factory=lambda: defaultdict(list))
    episodes: dict[str, dict[int, DerivedEpisode]] = field(default_factory=lambda: defaultdict(dict))

    def agent_administrations(self, stream: str, agent: str) -> list[Administration]:
        return [a for a in self.administrations.get(stream, []) if a.agent == agent]

    def last_eligible_count(self, stream: str) -> date | None:
        days = [c.on for c in self.counts.get(stream, []) if c.eligible]
        return max(days) if days else None

    def renamed(self, names: Mapping[str, str]) -> Facts:
        """The facts of the streams in `names` only, filed and labelled under their new names (pseudonyms).

        Everything that carries a stream is relabelled, so nothing drawn from these facts can show the MRN.
        """
        out = Facts(tz=self.tz, as_of=self.as_of, cut_source=self.cut_source)
        for old, new in names.items():
            if old in self.patients:
                out.patients[new] = replace(self.patients[old], stream=new)
            out.administrations[new] = [replace(a, stream=new) for a in self.administrations.get(old, [])]
            out.counts[new] = [replace(c, stream=new) for c in self.counts.get(old, [])]
            out.rescues[new] = [replace(r, stream=new) for r in self.rescues.get(old, [])]
            out.adverse_events[new] = [
                ae.model_copy(update={"stream": new}) for ae in self.adverse_events.get(old, [])
            ]
            out.episodes[new] = {
                i: DerivedEpisode(
                    i, **{k: None if v is None else v.model_copy(update={"stream": new})
                          for k, v in vars(ep).items() if k != "index"}
                )
                for i, ep in self.episodes.get(old, {}).items()
            }
        return out


def local_date(ts: datetime, tz: ZoneInfo) -> date:
    """Calendar day in the site time zone (domain.md: windows are computed in local days, DST included)."""
    return ts.astimezone(tz).date()


def normalise_as_of(as_of: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A naive cut is read as site-local time, so `datetime(2024, 6, 30, 23, 59)` means Berlin time."""
    if as_of is None or as_of.tzinfo is not None:
        return as_of
    return as_of.replace(tzinfo=tz)


def latest_valid_time(events: Iterable[Event]) -> datetime | None:
    """The default data cut (domain item 14): the latest valid time in the log.

    Clinical observations and clock ticks count; enrolment, demographics, merges and retractions do not
    (see `_DATED`), nor do derivations, whose deadlines may have been passed by an administrative event.
    """
    times = [ev.occurred_at for ev in events if isinstance(ev, _DATED)]
    return max(times) if times else None


def _version_order(ev: Event) -> tuple[datetime, datetime, int]:
    reported = ev.reported_at if isinstance(ev, PlateletCountRecorded) and ev.reported_at else ev.recorded_at
    return (reported, ev.recorded_at, ev.stream_version)


def _resolve_merges(events: Sequence[Event]) -> dict[str, str]:
    """Stream aliases from ADT merges, transitive: a merged stream's events move to the survivor."""
    target: dict[str, str] = {}
    for ev in events:
        if isinstance(ev, PatientMerged) and ev.merged_stream != ev.stream:
            target[ev.merged_stream] = ev.stream
    resolved: dict[str, str] = {}
    for src in target:
        seen = {src}
        dst = target[src]
        while dst in target and target[dst] not in seen:
            seen.add(dst)
            dst = target[dst]
        resolved[src] = dst
    return resolved


def _derived_valid_time(ev: DerivedEvent, by_id: dict[str, Event]) -> datetime:
    """When a derivation became knowable in valid time: its latest known input, else its own occurred_at.

    A response is confirmed by its second count, so a cut between the two counts must not show it even
    though its onset (the first count) lies before the cut.
    """
    inputs = [by_id[str(cid)].occurred_at for cid in ev.causation_ids if str(cid) in by_id]
    return max([ev.occurred_at, *inputs])


def collect_facts(
    raw_events: Iterable[Event],
    *,
    agent: str,
    profile: str,
    as_of: datetime | None,
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    platelet_codes: frozenset[str] = DEFAULT_PLATELET_CODES,
    rules_profile: Profile | None = None,
) -> Facts:
    """Normalise the log into per-patient facts. Pure: the same events always give the same facts.

    Which count is eligible and which administration is rescue is decided by the rules' own temporal
    abstraction (rules.temporal.resolve) under the profile, never by a second copy of those rules here:
    a site that edits its rescue window changes the rules and the report alike.
    """
    rules_profile = rules_profile or profile_named(profile)
    zone = ZoneInfo(tz)
    cut = normalise_as_of(as_of, zone)
    events = list(raw_events)
    # Without a requested cut nothing is left out: the latest valid time is only the reference date of
    # follow-up (every observation lies at or before it by definition).
    reference, cut_source = (cut, "as-of") if cut is not None else (latest_valid_time(events), "latest-valid-time")
    merges = _resolve_merges(events)

    def stream_of(ev: Event) -> str:
        return merges.get(ev.stream, ev.stream)

    def in_cut(ts: datetime) -> bool:
        return cut is None or ts <= cut

    facts = Facts(tz=zone, as_of=None if reference is None else reference.astimezone(zone),
                  cut_source=cut_source if reference is not None else None)
    by_id = {str(ev.event_id): ev for ev in events}

    retracted_admin: set[tuple[str, str]] = set()
    retracted_results: set[tuple[str, str]] = set()
    superseded: set[str] = set()
    for ev in events:
        if isinstance(ev, AdministrationRetracted):
            retracted_admin.add((stream_of(ev), ev.administration_key))
        elif isinstance(ev, ResultRetracted):
            retracted_results.add((stream_of(ev), ev.result_key))
        elif isinstance(ev, DerivationRevised) and ev.derivation_set == derivation_set:
            superseded.update(ev.supersedes)

    admin_versions: dict[tuple[str, str], list[DrugAdministered]] = defaultdict(list)
    result_versions: dict[tuple[str, str], list[PlateletCountRecorded]] = defaultdict(list)
    ae_versions: dict[tuple[str, str], list[AdverseEventReported]] = defaultdict(list)
    weights: dict[str, list[tuple[date, float]]] = defaultdict(list)
    enrolments: list[PatientEnrolled] = []
    demographics: list[PatientDemographics] = []
    derived: list[DerivedEvent] = []

    inputs: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        s = stream_of(ev)
        if is_input(ev) and not isinstance(ev, ClockAdvanced) and in_cut(ev.occurred_at):
            inputs[s].append(ev)
        if isinstance(ev, DrugAdministered):
            admin_versions[(s, ev.administration_key)].append(ev)
        elif isinstance(ev, PlateletCountRecorded):
            result_versions[(s, ev.result_key)].append(ev)
        elif isinstance(ev, AdverseEventReported):
            ae_versions[(s, ev.ae_key)].append(ev)
        elif isinstance(ev, BodyWeightRecorded) and in_cut(ev.occurred_at):
            weights[s].append((local_date(ev.occurred_at, zone), ev.kg))
        elif isinstance(ev, PatientEnrolled):
            enrolments.append(ev)
        elif isinstance(ev, PatientDemographics):
            demographics.append(ev)
        elif (
            isinstance(ev, DerivedEvent)
            and not isinstance(ev, DerivationRevised)
            and ev.derivation_set == derivation_set
            and ev.agent == agent
            and ev.profile == profile
            and str(ev.event_id) not in superseded
            and ev.episode is not None
            and in_cut(_derived_valid_time(ev, by_id))
        ):
            derived.append(ev)

    # Patients: latest non-empty value of each field (feeds deliver demographics and enrolment separately).
    for enr in sorted(enrolments, key=lambda e: (e.recorded_at, e.stream_version)):
        p = facts.patients.setdefault(stream_of(enr), Patient(stream_of(enr)))
        p.diagnosis_date = enr.diagnosis_date or p.diagnosis_date
        p.itp_type = enr.itp_type or p.itp_type
        p.prior_lines = enr.prior_lines if enr.prior_lines is not None else p.prior_lines
    for dem in sorted(demographics, key=lambda e: (e.recorded_at, e.stream_version)):
        p = facts.patients.setdefault(stream_of(dem), Patient(stream_of(dem)))
        p.birth_date = dem.birth_date or p.birth_date
        p.sex = dem.sex if dem.sex != "unknown" else p.sex

    # Administrations: the latest version of a key decides (an update may turn CP into NA).
    for (s, key), versions in admin_versions.items():
        latest = max(versions, key=_version_order)
        if (s, key) in retracted_admin or latest.completion not in GIVEN_STATUSES:
            continue
        if not in_cut(latest.occurred_at):
            continue
        facts.administrations[s].append(
            Administration(
                stream=s,
                agent=latest.agent,
                atc_code=latest.atc_code,
                on=local_date(latest.occurred_at, zone),
                at=latest.occurred_at,
                dose_mg=dose_in_mg(latest.dose, latest.dose_unit),
                key=key,
            )
        )
    for adm_list in facts.administrations.values():
        adm_list.sort(key=lambda a: (a.at, a.key))

    annotations: dict[str, dict[UUID, Annotation]] = {
        s: resolve(sorted(evs, key=sort_key), rules_profile) for s, evs in inputs.items()
    }
    for s, evs in inputs.items():
        ann = annotations[s]
        facts.rescues[s] = sorted(
            (Rescue(s, local_date(e.occurred_at, zone), rescue_kind(ann[e.event_id].rescue or ""))
             for e in evs if isinstance(e, DrugAdministered) and ann[e.event_id].rescue),
            key=lambda r: (r.on, r.kind),
        )
        for e in evs:
            if (isinstance(e, PlateletCountRecorded) and ann[e.event_id].counting and e.value is not None
                    and e.code in platelet_codes):
                facts.counts[s].append(
                    Count(s, local_date(e.occurred_at, zone), e.occurred_at, e.value, e.censored,
                          eligible=ann[e.event_id].eligible)
                )
    for count_list in facts.counts.values():
        count_list.sort(key=lambda c: c.at)

    # Adverse events: latest version per key (PEX^P08 updates the initial report).
    for (s, _key), ae_list in ae_versions.items():
        latest_ae = max(ae_list, key=_version_order)
        if in_cut(latest_ae.occurred_at):
            facts.adverse_events[s].append(latest_ae)
    for aes in facts.adverse_events.values():
        aes.sort(key=lambda a: a.occurred_at)

    # Derived events: one per (type, episode); if several still hold, the latest recorded wins.
    for ev in sorted(derived, key=lambda e: (e.recorded_at, e.stream_version)):
        assert ev.episode is not None
        ep = facts.episodes[stream_of(ev)].setdefault(ev.episode, DerivedEpisode(ev.episode))
        if isinstance(ev, EpisodeStarted):
            ep.started = ev
        elif isinstance(ev, ResponseAchieved):
            ep.response = ev
        elif isinstance(ev, CompleteResponseAchieved):
            ep.complete = ev
        elif isinstance(ev, CompleteResponseLost):
            ep.complete_lost = ev
        elif isinstance(ev, ResponseLost):
            ep.lost = ev
        elif isinstance(ev, ReExposureStarted):
            ep.reexposure = ev
        elif isinstance(ev, SustainedRemissionReached):
            ep.sustained = ev
        elif isinstance(ev, NonResponseDeclared):
            ep.non_response = ev
    return facts


def rescue_kind(rescue_id: str) -> str:
    """The plot marker of a profile's rescue definition (rescue.ivig -> ivig, ...-pulse -> steroid-pulse)."""
    for kind, needle in (("ivig", "ivig"), ("anti-d", "anti-d"), ("transfusion", "transfusion")):
        if needle in rescue_id:
            return kind
    return "steroid-pulse" if ("pulse" in rescue_id or "dose" in rescue_id) else "other"


@cache
def profile_named(name: str) -> Profile:
    """The built-in profile of that name; a site's own profile file must be passed as rules_profile."""
    try:
        return load_profile(name)
    except ProfileError:
        return load_profile("site")
