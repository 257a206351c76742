"""`itpwatch verify`: the hash chain holds, and re-deriving from the clinical facts gives what is stored."""

from __future__ import annotations

from rich.console import Console

from engine.app import App
from engine.processor import active_derived, derive_in_memory
from events import CANONICAL_SET


def verify_all(app: App, console: Console) -> bool:
    store = app.store
    broken = store.verify_chain()
    if broken is not None:
        console.print(f"[red]hash chain broken at position {broken.position}[/red]: {broken.reason}")
        return False
    head = store.head()
    console.print(f"hash chain intact over {head} events")
    events = [s.event for s in store.read_all()]
    differences = compare_derivations(app, events)
    if differences:
        console.print(f"[red]{len(differences)} differences between stored and re-derived events[/red]")
        for line in differences[:50]:
            console.print(f"  {line}", markup=False)
        return False
    console.print("re-derivation matches the stored derivations")
    return True


def compare_derivations(app: App, events: list) -> list[str]:  # type: ignore[type-arg]
    rules = app.processor().rules
    expected = derive_in_memory(rules, events)
    stored = active_derived(events, CANONICAL_SET)
    lines: list[str] = []
    for patient in sorted(set(expected) | set(stored)):
        want = expected.get(patient, {})
        have = stored.get(patient, {})
        for key in sorted(set(want) - set(have)):
            lines.append(f"missing in store: {want[key].type} ({want[key].rule_id}) key {key}")
        for key in sorted(set(have) - set(want)):
            lines.append(f"stored but not re-derived: {have[key].type} ({have[key].rule_id}) key {key}")
    return lines
