"""What-if runs: another profile over the same facts, in its own derivation set or in memory."""

from __future__ import annotations

from engine.app import App
from engine.audit import what_if
from engine.cohort_report import report_for
from engine.processor import Processor
from engine.rulebook import RuleEngine
from events import CANONICAL_SET, DerivedEvent


def rederive_into_set(app: App, profile_name: str, set_name: str | None) -> tuple[str, int]:
    """Append the derivations of `profile_name` into streams `<set>::<patient>`; nothing is delivered."""
    from rules import load_profile

    profile = load_profile(profile_name)
    name = set_name or profile.name
    if name == CANONICAL_SET:
        raise ValueError("the canonical set belongs to the live processor")
    processor = Processor(app.store, profile, derivation_set=name, tz=app.settings.timezone, clock=app.clock,
                          rule_engine=RuleEngine(profile, tz=app.settings.timezone, derivation_set=name))
    patients = sorted({s.event.stream for s in app.store.read_all()
                       if s.event.CLINICAL and not s.event.stream.startswith("$") and "::" not in s.event.stream
                       and not isinstance(s.event, DerivedEvent)})
    count = 0
    with app.store.writer() as writer:
        for patient in patients:
            count += processor.rederive_patient(writer, patient)
    return name, count


def compare_profiles(app: App, first: str, second: str, agent: str) -> list[str]:
    """Patient by patient, episode by episode: best response, onset and relapse under both, with rule ids."""
    events = [s.event for s in app.store.read_all() if not isinstance(s.event, DerivedEvent)]
    results = {}
    fired: dict[str, dict[str, list[str]]] = {}
    for name in (first, second):
        profile, derived = what_if(app, name, events)
        results[name] = report_for(app, [*events, *derived], agent=agent, as_of=None, profile=profile,
                                derivation_set=profile.name)
        per: dict[str, list[str]] = {}
        for d in derived:
            if d.agent == agent and d.type != "AlertRaised":
                per.setdefault(d.stream, []).append(f"{d.type}@{d.occurred_at.date()} ({d.rule_id})")
        fired[name] = per
    lines = [f"comparing {first} and {second} for {agent}"]
    a_rows = {p.patient: p for p in results[first].patients}
    b_rows = {p.patient: p for p in results[second].patients}
    disagreements = 0
    for patient in sorted(set(a_rows) | set(b_rows)):
        a_eps = {e.index: e for e in (a_rows[patient].episodes if patient in a_rows else [])}
        b_eps = {e.index: e for e in (b_rows[patient].episodes if patient in b_rows else [])}
        for index in sorted(set(a_eps) | set(b_eps)):
            ea, eb = a_eps.get(index), b_eps.get(index)
            sa = (ea.best_response, ea.response_onset, ea.relapse_onset) if ea else None
            sb = (eb.best_response, eb.response_onset, eb.relapse_onset) if eb else None
            if sa == sb:
                continue
            disagreements += 1
            lines.append(f"patient {patient} episode {index}: {first} {_fmt(sa)} | {second} {_fmt(sb)}")
            lines.append(f"  why {first}: {'; '.join(fired[first].get(patient, [])) or 'no transition fired'}")
            lines.append(f"  why {second}: {'; '.join(fired[second].get(patient, [])) or 'no transition fired'}")
    ra, rb = results[first].summary, results[second].summary
    lines.append(f"responders: {first} {ra.responders}/{ra.patients}, {second} {rb.responders}/{rb.patients}; "
                 f"{disagreements} episode(s) disagree")
    return lines


def _fmt(state: tuple[object, object, object] | None) -> str:
    if state is None:
        return "no episode"
    best, onset, relapse = state
    text = f"{best}"
    if onset:
        text += f" onset {onset}"
    if relapse:
        text += f" relapse {relapse}"
    return text
