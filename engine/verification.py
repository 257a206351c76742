"""`itpwatch verify`: the hash chain holds, and re-deriving from the clinical facts gives what is stored.

The re-derivation walks the log patient by patient (one stream read each, plus the streams merged into
it and the latest clock event), so memory stays that of the largest patient, not of the whole log.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console

from engine.app import App
from engine.derivation_sets import SEPARATOR
from engine.processor import active_derived, derive_in_memory, same_fact
from events import CANONICAL_SET, CLOCK_STREAM, ClockAdvanced, DerivedEvent, Event, PatientMerged


def verify_all(app: App, console: Console) -> bool:
    store = app.store
    broken = store.verify_chain()
    if broken is not None:
        console.print(f"[red]hash chain broken at position {broken.position}[/red]: {broken.reason}")
        return False
    console.print(f"hash chain intact over {store.head()} events")
    differences = compare_store(app)
    if differences:
        console.print(f"[red]{len(differences)} differences between stored and re-derived events[/red]")
        for line in differences[:50]:
            console.print(f"  {line}", markup=False)
        return False
    console.print("re-derivation matches the stored derivations")
    return True


def compare_store(app: App) -> list[str]:
    """Patient by patient: stored, non-superseded canonical derivations against a fresh re-derivation."""
    store = app.store
    rules = app.processor().rules
    merged_into = {e.merged_stream: e.stream for e in _events(store.read_all(types=["PatientMerged"]))
                   if isinstance(e, PatientMerged)}
    clocks = [e for e in _events(store.read_all(types=["ClockAdvanced"])) if isinstance(e, ClockAdvanced)]
    latest_clock = max(clocks, key=lambda c: c.occurred_at) if clocks else None
    lines: list[str] = []
    for patient in store.streams():
        if patient == CLOCK_STREAM or SEPARATOR in patient or patient in merged_into:
            continue
        events = [s.event for s in store.read_stream(patient)]
        for merged, into in merged_into.items():
            if into == patient:
                events += [s.event for s in store.read_stream(merged)]
        if latest_clock is not None:
            events.append(latest_clock)
        lines += _differences(derive_in_memory(rules, events), active_derived(events, CANONICAL_SET))
    return lines


def compare_derivations(app: App, events: list[Event]) -> list[str]:
    """The same comparison over a list of events already in memory (tests, small logs)."""
    rules = app.processor().rules
    return _differences(derive_in_memory(rules, events), active_derived(events, CANONICAL_SET))


def _differences(expected: dict[str, dict[str, DerivedEvent]], stored: dict[str, dict[str, DerivedEvent]]
                 ) -> list[str]:
    lines: list[str] = []
    for patient in sorted(set(expected) | set(stored)):
        want = expected.get(patient, {})
        have = stored.get(patient, {})
        for key in sorted(set(want) - set(have)):
            lines.append(f"missing in store: {want[key].type} ({want[key].rule_id}) key {key}")
        for key in sorted(set(have) - set(want)):
            lines.append(f"stored but not re-derived: {have[key].type} ({have[key].rule_id}) key {key}")
        for key in sorted(set(have) & set(want)):
            if not same_fact(have[key], want[key]):
                lines.append(f"stored content differs from re-derivation: {have[key].type} key {key}")
    return lines


def _events(stored: Iterable[object]) -> list[Event]:
    return [s.event for s in stored]  # type: ignore[attr-defined]
