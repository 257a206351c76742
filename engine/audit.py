"""Audit: what itpwatch knew and decided at a recorded time, and the chain behind each decision."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.app import App
from engine.derivation_sets import patient_of
from engine.processor import derive_in_memory
from engine.rulebook import RuleEngine
from events import (
    CANONICAL_SET,
    AlertRaised,
    DerivationRevised,
    DerivedEvent,
    Event,
    PlateletCountRecorded,
)


def known_at(app: App, recorded_until: datetime | None) -> list[Event]:
    """Every event recorded up to a moment: a correction recorded later is invisible."""
    return [s.event for s in app.store.read_all(recorded_until=recorded_until)]


def superseded_ids(events: Iterable[Event], derivation_set: str = CANONICAL_SET) -> set[str]:
    return {
        i for e in events if isinstance(e, DerivationRevised) and e.derivation_set == derivation_set
        for i in e.supersedes
    }


def describe(event: Event) -> str:
    """One line a clinician can read; patient data appears only in the terminal, never in logs."""
    if isinstance(event, PlateletCountRecorded):
        value = "no value" if event.value is None else f"{event.censored or ''}{event.value:g} x10^9/L"
        return f"platelets {value} ({event.status.value}, {event.original_value} {event.original_unit})"
    if isinstance(event, AlertRaised):
        return f"[{event.severity}] {event.message}"
    fields: dict[str, Any] = event.model_dump(
        exclude={"event_id", "stream", "stream_version", "type", "schema_version", "occurred_at", "recorded_at",
                 "source", "causation_ids", "rule_id", "profile", "profile_version", "derivation_set",
                 "derivation_key"},
        exclude_none=True, exclude_defaults=True,
    )
    return ", ".join(f"{k}={v}" for k, v in fields.items())


@dataclass(frozen=True)
class Explanation:
    event: DerivedEvent
    statement: str
    superseded: bool
    inputs: Sequence[Event]
    missing_inputs: list[str]


def explain(app: App, patient: str, transition: str | None = None,
            events: Sequence[Event] | None = None) -> list[Explanation]:
    """Each derived event of the patient with its rule statement and inputs.

    `events` narrows the search to what the caller already read (the patient's streams and the clock, for
    the web page); by default the whole log is read.
    """
    if events is None:
        events = [s.event for s in app.store.read_all()]
    by_id = {str(e.event_id): e for e in events}
    gone = superseded_ids(events)
    statements = {r.id: r.statement for r in app.profile.rules}
    out: list[Explanation] = []
    for event in events:
        if not isinstance(event, DerivedEvent) or isinstance(event, DerivationRevised):
            continue
        if patient_of(event.stream) != patient or event.derivation_set != CANONICAL_SET:
            continue
        if transition is not None and str(event.event_id) != transition:
            continue
        inputs = [by_id[str(i)] for i in event.causation_ids if str(i) in by_id]
        missing = [str(i) for i in event.causation_ids if str(i) not in by_id]
        statement = statements.get(event.rule_id, "(rule not in the current profile version)")
        out.append(Explanation(event, statement, str(event.event_id) in gone, inputs, missing))
    return out


def what_if(app: App, profile_name: str, events: Sequence[Event]) -> tuple[Any, list[DerivedEvent]]:
    """Derive every patient under another profile in memory: a separate RuleEngine, nothing delivered."""
    from rules import load_profile

    profile = load_profile(profile_name)
    engine = RuleEngine(profile, tz=app.settings.timezone, derivation_set=profile.name)
    derived = derive_in_memory(engine, events)
    return profile, [d for per in derived.values() for d in per.values()]
