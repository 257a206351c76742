"""`itpwatch verify`: the chains hold (against signed checkpoints when given), re-deriving from the clinical
facts gives the stored derivations, and rebuilding the read models gives the stored read tables.

The re-derivation walks the log patient by patient (one stream read each, plus the streams merged into
it and the latest clock event), so memory stays that of the largest patient, not of the whole log; the
read-model comparison walks chunks of patients the same way (engine.projections.check).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from engine.app import App
from engine.derivation_sets import SEPARATOR
from engine.processor import active_derived, derive_in_memory, same_fact
from engine.store.integrity import Finding
from events import CANONICAL_SET, CLOCK_STREAM, ClockAdvanced, DerivedEvent, Event, PatientMerged

SHOWN = 50
"""Differences printed per part; the count says how many there were."""


def _red(text: str) -> Text:
    return Text(text, style="red")


def verify_all(app: App, console: Console, *, checkpoints: Path | None = None,
               public_keys: Sequence[Path] = ()) -> bool:
    """Print what holds and what does not; True when everything holds."""
    store = app.store
    anchors: dict[str, Any] = {}
    if checkpoints is not None:
        from engine.checkpoints import load_checkpoints, load_private_key, load_public_key

        keys = [load_public_key(p) for p in [*public_keys, *app.settings.checkpoint_trusted_keys]]
        if app.settings.checkpoint_key is not None and app.settings.checkpoint_key.exists():
            keys.append(load_private_key(app.settings.checkpoint_key).public_key())
        anchors, problems = load_checkpoints(checkpoints, keys)
        count = len(anchors.get("events", []))
        if problems:
            console.print(_red(f"{len(problems)} checkpoint files cannot be trusted"))
            _print_findings(console, problems)
            return False
        if count == 0:
            console.print(_red(f"no checkpoint in {checkpoints}: a deleted tail or a recomputed chain cannot be seen"))
            return False
        console.print(f"{count} signed checkpoints read from {checkpoints}")
    walk = store.verify_chains(anchors)
    if walk.findings:
        console.print(_red(f"hash chains broken or not as checkpointed ({len(walk.findings)} findings)"))
        _print_findings(console, walk.findings)
        return False
    head = walk.heads["events"][0]
    sides = ", ".join(f"{walk.heads[t][0]} {t}" for t in walk.heads if t != "events")
    covered = "; the checkpoints match" if checkpoints is not None else " (no checkpoints given: a deleted tail or " \
        "a recomputed chain is only seen with --checkpoints)"
    console.print(f"hash chains intact over {head} events and {sides}{covered}")
    differences = compare_store(app)
    if differences:
        console.print(_red(f"{len(differences)} differences between stored and re-derived events"))
        for line in differences[:SHOWN]:
            console.print(f"  {line}")
        return False
    console.print("re-derivation matches the stored derivations")
    from engine.projections.check import compare_read_models

    episodes_projection = next((p for p in app.projections if p.name == "episodes"), None)
    read_models = list(compare_read_models(store, episodes_projection))
    if read_models:
        console.print(_red(f"{len(read_models)} differences between the stored read models and a rebuild from "
                           "the log (repair: itpwatch projections rebuild)"))
        _print_findings(console, read_models)
        return False
    console.print("read models match a rebuild from the log")
    return True


def _print_findings(console: Console, findings: Sequence[Finding]) -> None:
    for finding in findings[:SHOWN]:
        console.print(f"  {finding}")
    if len(findings) > SHOWN:
        console.print(f"  ... {len(findings) - SHOWN} more")


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
