"""The live derivation: clinical events in, derived events out, in the transaction that stored the facts.

A patient's derived state is a function of the set of their clinical events. An event that sorts after
everything already seen for the patient is fed to the cached deriver (incremental); a late event, a
correction or a retraction re-derives the patient from the start, and only the difference is appended:
new derived events, and one DerivationRevised naming those that no longer hold. Nothing is deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from engine.clock import Clock, system_clock
from engine.derivation_sets import derived_stream
from engine.logs import get_logger
from engine.rulebook import RuleEngine
from engine.store import EventStore, StoredEvent, StoreWriter
from engine.store.schema import events as events_table
from events import (
    CANONICAL_SET,
    CLOCK_STREAM,
    AlertRaised,
    ClockAdvanced,
    DerivationRevised,
    DerivedEvent,
    Event,
    PatientMerged,
    Source,
    stable_event_id,
)

log = get_logger("itpwatch.processor")



@dataclass
class PatientState:
    deriver: Any
    known_version: int = -1
    """Version of the patient's stream when this process last derived it; another writer moves it on."""
    active: dict[str, DerivedEvent] = field(default_factory=dict)
    """derivation_key -> the stored derived event that currently holds."""
    used_ids: set[str] = field(default_factory=set)


class Processor:
    def __init__(
        self,
        store: EventStore,
        profile: Any,
        *,
        derivation_set: str | None = None,
        tz: str = "Europe/Berlin",
        clock: Clock = system_clock,
        rule_engine: RuleEngine | None = None,
        alert_sinks: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.derivation_set = derivation_set or CANONICAL_SET
        self.rules = rule_engine or RuleEngine(profile, tz=tz, derivation_set=self.derivation_set)
        self.clock = clock
        self.alert_sinks = tuple(alert_sinks)
        """Sinks to notify. Empty for every run that must not deliver (replay, what-if, verify)."""
        self.notices_queued = 0
        """Outbox rows written so far; `serve` wakes its dispatcher when this moves."""
        self._patients: dict[str, PatientState] = {}
        self._merged_into: dict[str, str] | None = None

    # -- entry point from ingest -------------------------------------------------------------------
    def process(self, writer: StoreWriter, appended: Sequence[StoredEvent]) -> int:
        """Derive from the events this transaction appended; returns the number of derived events."""
        try:
            return self._process(writer, appended)
        except BaseException:
            self._patients.clear()  # the transaction will roll back: cached state may be ahead of the log
            self._merged_into = None
            raise

    def _process(self, writer: StoreWriter, appended: Sequence[StoredEvent]) -> int:
        merged = self._merge_map(writer)
        by_patient: dict[str, list[Event]] = defaultdict(list)
        clocks: list[ClockAdvanced] = []
        for stored in appended:
            event = stored.event
            if isinstance(event, DerivedEvent) or not event.CLINICAL:
                continue
            if isinstance(event, ClockAdvanced):
                clocks.append(event)
                continue
            if isinstance(event, PatientMerged):
                merged[event.merged_stream] = event.stream
                self._retire_merged(writer, event)
            by_patient[merged.get(event.stream, event.stream)].append(event)
        if clocks:
            latest = max(clocks, key=lambda c: c.occurred_at)
            for patient in self._tracked_patients(writer):
                by_patient[patient].append(latest)
        appended_here: dict[str, int] = defaultdict(int)
        for stored in appended:
            appended_here[stored.event.stream] += 1
        count = 0
        for patient in sorted(by_patient):
            before = writer.stream_version(patient) - appended_here.get(patient, 0)
            count += self._derive_patient(writer, patient, by_patient[patient], version_before=before)
            self._patients[patient].known_version = writer.stream_version(patient)
        return count

    # -- one patient -------------------------------------------------------------------------------
    def _derive_patient(self, writer: StoreWriter, patient: str, new: list[Event], *, version_before: int) -> int:
        state = self._patients.get(patient)
        new_sorted = sorted(new, key=self.rules.sort_key)
        # another process (a second ingest beside `serve`) may have appended to this patient since we cached
        # it; the stream version tells, and the patient is then derived from the log instead of the cache
        stale = state is not None and state.known_version != version_before
        if any(isinstance(e, PatientMerged) for e in new):
            # the merged stream's history joins this patient's: derive from the whole log, not the cache
            return self._rederive(writer, patient, trigger=new_sorted[0])
        if state is None and version_before == 0 and not self._has_merged_streams(writer, patient):
            # a patient first seen in this transaction: everything there is to know is in `new`
            return self._rederive(writer, patient, trigger=new_sorted[0], history=new)
        if state is None or stale or not state.deriver.accepts_in_order(new_sorted[0]):
            return self._rederive(writer, patient, trigger=new_sorted[0])
        # in order: the deriver folds incrementally, and re-folds by itself when a new event changes what
        # is known about an earlier one (a correction, a retraction, a same-day premedication)
        refolded = False
        produced: list[DerivedEvent] = []
        for event in new_sorted:
            produced.extend(state.deriver.feed(event))
            refolded = refolded or bool(state.deriver.superseded)
        if refolded:
            return self._diff_and_append(writer, patient, state, state.deriver.derived, trigger=new_sorted[0])
        fresh = [d for d in produced if d.derivation_key not in state.active]
        return self._append(writer, patient, state, fresh, withdrawn=[], trigger=new_sorted[0])

    def _retire_merged(self, writer: StoreWriter, merge: PatientMerged) -> None:
        """ADT^A40: the merged stream's own derivations stop holding; its facts now count for the survivor."""
        old = merge.merged_stream
        self._patients.pop(old, None)
        state = self._load_state(writer, old)
        if state.active:
            # no "withdrawn" notices: the findings still hold and are raised again under the surviving MRN
            self._append(writer, old, state, [], withdrawn=list(state.active.values()), trigger=merge, notify=False)

    def rederive_patient(self, writer: StoreWriter, patient: str) -> int:
        """Derive one patient from the start and append the difference (what-if runs, repairs)."""
        history = self._history(writer, patient)
        if not history:
            return 0
        count = self._rederive(writer, patient, trigger=max(history, key=self.rules.sort_key))
        self._patients[patient].known_version = writer.stream_version(patient)
        return count

    def _rederive(self, writer: StoreWriter, patient: str, *, trigger: Event,
                  history: list[Event] | None = None) -> int:
        if history is None:
            state = self._load_state(writer, patient)
            history = self._history(writer, patient)
        else:
            state = PatientState(deriver=None)
            clock = self._latest_clock(writer)
            if clock is not None and not any(isinstance(e, ClockAdvanced) for e in history):
                history = [*history, clock]
        state.deriver = self.rules.new_deriver(patient)
        derived = state.deriver.load(history)
        self._patients[patient] = state
        return self._diff_and_append(writer, patient, state, derived, trigger=trigger)

    def _diff_and_append(self, writer: StoreWriter, patient: str, state: PatientState,
                         derived_list: Sequence[DerivedEvent], *, trigger: Event) -> int:
        derived: dict[str, DerivedEvent] = {}
        for d in derived_list:
            derived.setdefault(d.derivation_key, d)
        # a fact whose content changed under the same key (a baseline found later, other inputs) is revised too
        fresh = [d for key, d in derived.items() if key not in state.active or not same_fact(state.active[key], d)]
        withdrawn = [d for key, d in state.active.items() if key not in derived or not same_fact(d, derived[key])]
        return self._append(writer, patient, state, fresh, withdrawn=withdrawn, trigger=trigger)

    def _append(
        self,
        writer: StoreWriter,
        patient: str,
        state: PatientState,
        fresh: list[DerivedEvent],
        *,
        withdrawn: list[DerivedEvent],
        trigger: Event,
        notify: bool = True,
    ) -> int:
        if not fresh and not withdrawn:
            return 0
        now = self.clock.now()
        stream = derived_stream(patient, self.derivation_set)
        batch: list[Event] = []
        if withdrawn:
            ids = tuple(sorted(str(d.event_id) for d in withdrawn))
            key = f"{self.derivation_set}|{patient}|revised|{','.join(ids)}"
            batch.append(
                DerivationRevised(
                    event_id=self._unique_id(state, key),
                    stream=stream,
                    occurred_at=trigger.occurred_at,
                    recorded_at=now,
                    source=Source(feed="engine", sender=f"rules:{self.rules.profile_name}", message_id="rederive"),
                    causation_ids=(trigger.event_id,),
                    rule_id="rederive",
                    profile=self.rules.profile_name,
                    profile_version=self.rules.profile_version,
                    derivation_set=self.derivation_set,
                    derivation_key=key,
                    supersedes=ids,
                    reason=f"re-derived after a {trigger.type} with valid time {trigger.occurred_at.isoformat()}",
                )
            )
            for d in withdrawn:
                state.active.pop(d.derivation_key, None)
        stored_fresh: list[DerivedEvent] = []
        for d in fresh:
            stored = d.model_copy(
                update={"stream": stream, "recorded_at": now, "event_id": self._unique_id(state, d.derivation_key)}
            )
            batch.append(stored)
            stored_fresh.append(stored)
            state.active[d.derivation_key] = stored
        fresh = stored_fresh
        writer.append(batch)
        if notify and self.alert_sinks and self.derivation_set == CANONICAL_SET:
            self._enqueue_alerts(writer, fresh, withdrawn, now)
        return len(batch)

    def _enqueue_alerts(self, writer: StoreWriter, fresh: list[DerivedEvent], withdrawn: list[DerivedEvent],
                        now: Any) -> None:
        from engine.alerts.outbox import enqueue, sinks_notified

        writer.flush()
        for event in withdrawn:
            if isinstance(event, AlertRaised):
                sinks = sinks_notified(writer.connection, str(event.event_id))
                self.notices_queued += enqueue(
                    writer.connection, event, "withdrawn", sinks, now,
                    reason="a later or corrected result removed the finding behind this alert")
        for event in fresh:
            if isinstance(event, AlertRaised):
                self.notices_queued += enqueue(writer.connection, event, "raised", self.alert_sinks, now)

    @staticmethod
    def _unique_id(state: PatientState, key: str) -> Any:
        """The same derived fact gets the same id; if it was withdrawn and holds again, a new one."""
        n = 0
        while True:
            candidate = stable_event_id(key) if n == 0 else stable_event_id(key, f"#{n}")
            if str(candidate) not in state.used_ids:
                state.used_ids.add(str(candidate))
                return candidate
            n += 1

    # -- loading -----------------------------------------------------------------------------------
    def _history(self, writer: StoreWriter, patient: str) -> list[Event]:
        merged = self._merge_map(writer)
        streams = [patient, *sorted(s for s, into in merged.items() if into == patient)]
        history: list[Event] = []
        for stream in streams:
            history.extend(
                s.event for s in writer.read_stream(stream)
                if s.event.CLINICAL and not isinstance(s.event, DerivedEvent)
            )
        latest_clock = self._latest_clock(writer)
        if latest_clock is not None:
            history.append(latest_clock)
        return history

    def _load_state(self, writer: StoreWriter, patient: str) -> PatientState:
        state = PatientState(deriver=None)
        stored = [
            s.event for s in writer.read_stream(derived_stream(patient, self.derivation_set))
            if isinstance(s.event, DerivedEvent) and s.event.derivation_set == self.derivation_set
        ]
        superseded: set[str] = set()
        for event in stored:
            state.used_ids.add(str(event.event_id))
            if isinstance(event, DerivationRevised):
                superseded.update(event.supersedes)
        for event in stored:
            if not isinstance(event, DerivationRevised) and str(event.event_id) not in superseded:
                state.active[event.derivation_key] = event
        return state

    def _latest_clock(self, writer: StoreWriter) -> ClockAdvanced | None:
        """The latest clock event by valid time (only it matters for deadlines), by one indexed query.

        Not cached: `itpwatch tick` runs from cron in another process beside `serve`.
        """
        writer.flush()
        row = writer.connection.execute(
            select(events_table.c.payload).where(events_table.c.stream == CLOCK_STREAM)
            .order_by(events_table.c.occurred_at.desc()).limit(1)
        ).first()
        if row is None:
            return None
        from events import event_from_json

        latest = event_from_json(row[0])
        assert isinstance(latest, ClockAdvanced)
        return latest

    def _has_merged_streams(self, writer: StoreWriter, patient: str) -> bool:
        return patient in self._merge_map(writer).values()

    def _merge_map(self, writer: StoreWriter) -> dict[str, str]:
        if self._merged_into is None:
            rows = writer.connection.execute(
                select(events_table.c.payload).where(events_table.c.type == "PatientMerged")
            )
            from events import event_from_json

            merged: dict[str, str] = {}
            for (payload,) in rows:
                event = event_from_json(payload)
                assert isinstance(event, PatientMerged)
                merged[event.merged_stream] = event.stream
            self._merged_into = merged
        return self._merged_into

    def _tracked_patients(self, writer: StoreWriter) -> list[str]:
        """Patients with an episode in this set: the ones whose deadlines a clock event can pass."""
        from engine.derivation_sets import patient_of

        rows = writer.connection.execute(
            select(events_table.c.stream).where(
                events_table.c.type == "EpisodeStarted", events_table.c.derivation_set == self.derivation_set
            ).distinct()
        )
        return sorted({patient_of(r[0]) for r in rows} | set(self._patients))



_ENVELOPE = frozenset({"event_id", "stream", "stream_version", "recorded_at", "source"})
"""What says where and when a derived fact was stored, not what it is."""


def fact_of(event: DerivedEvent) -> dict[str, Any]:
    """The content of a derived fact: everything but its storage envelope."""
    return event.model_dump(mode="json", exclude=set(_ENVELOPE))


def same_fact(a: DerivedEvent, b: DerivedEvent) -> bool:
    return fact_of(a) == fact_of(b)


def derive_in_memory(rules: RuleEngine, events: Iterable[Event]) -> dict[str, dict[str, DerivedEvent]]:
    """patient -> derivation_key -> derived event, from clinical events only; used by replay and verify."""
    merged: dict[str, str] = {}
    by_patient: dict[str, list[Event]] = defaultdict(list)
    latest_clock: ClockAdvanced | None = None
    all_events = list(events)
    for event in all_events:
        if isinstance(event, PatientMerged):
            merged[event.merged_stream] = event.stream
    for event in all_events:
        if isinstance(event, DerivedEvent) or not event.CLINICAL:
            continue
        if isinstance(event, ClockAdvanced):
            if latest_clock is None or event.occurred_at > latest_clock.occurred_at:
                latest_clock = event
            continue
        by_patient[merged.get(event.stream, event.stream)].append(event)
    out: dict[str, dict[str, DerivedEvent]] = {}
    for patient, history in sorted(by_patient.items()):
        if latest_clock is not None:
            history = [*history, latest_clock]
        derived: dict[str, DerivedEvent] = {}
        for d in rules.new_deriver(patient).load(history):
            derived.setdefault(d.derivation_key, d)
        out[patient] = derived
    return out


def active_derived(events: Iterable[Event], derivation_set: str = CANONICAL_SET) -> dict[str, dict[str, DerivedEvent]]:
    """patient -> derivation_key -> stored derived event that still holds (not superseded)."""
    from engine.derivation_sets import patient_of

    stored = [e for e in events if isinstance(e, DerivedEvent) and e.derivation_set == derivation_set]
    superseded = {i for e in stored if isinstance(e, DerivationRevised) for i in e.supersedes}
    out: dict[str, dict[str, DerivedEvent]] = defaultdict(dict)
    for e in stored:
        if not isinstance(e, DerivationRevised) and str(e.event_id) not in superseded:
            out[patient_of(e.stream)][e.derivation_key] = e
    return dict(out)


