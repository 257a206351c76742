"""CDS Hooks cards for one patient: one per tracked episode that needs attention, with its evidence chain.

An episode needs attention when its latest state is relapsed or non-responder (only the latest episode
of an agent: a relapse followed by re-exposure is history), or when an alert of it still asks for
attention (engine/cds/attention.py): a possible loss of response, an urgent or critical alert. The card's
summary names the agent, the state, its date and the count; its detail gives the chain `itpwatch explain`
prints: the rule and its statement, the profile and version, and every input with time, value and source.

Feed text is data: every string that came from a feed or a profile is escaped before it enters markdown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any
from urllib.parse import quote

from engine.audit import describe, superseded_ids
from engine.cds.attention import POSSIBLE_LOSS, alerts_needing_attention
from engine.projections.status import STATE_OF, STATE_RANK
from events import (
    CANONICAL_SET,
    AlertRaised,
    DerivedEvent,
    EpisodeStarted,
    Event,
    NonResponseDeclared,
    PlateletCountRecorded,
    ResponseLost,
    stable_event_id,
)
from rules import Profile

SUMMARY_MAX = 139
"""The spec asks for a summary under 140 characters."""
TOPIC_SYSTEM = "urn:itpwatch:cds-topic"
INDICATOR_RANK = {"info": 0, "warning": 1, "critical": 2}
ALERT_INDICATOR = {"critical": "critical", "urgent": "warning", "warning": "warning"}
STATE_ALERTS = {"relapse-confirmed", POSSIBLE_LOSS}
"""Alerts a relapse item already shows: its own alert, and the possible loss it confirmed."""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md(text: object) -> str:
    """Feed or profile text as literal markdown: no emphasis, links, tables or HTML can come from it."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    """A code span: markdown shows its content literally, so only backticks and line breaks must go."""
    return "`" + str(text).replace("`", "'").replace("\r", " ").replace("\n", " ") + "`"


@dataclass
class Item:
    """One reason an episode needs attention, with the derived event whose inputs are its evidence."""

    kind: str
    """relapse | possible-loss | non-response | alert"""
    headline: str
    indicator: str
    on: date
    cause: DerivedEvent
    count: PlateletCountRecorded | None = None
    onset: date | None = None
    """When the state began, if before `on` (a relapse's first failing count)."""


@dataclass
class EpisodeView:
    agent: str
    episode: int
    events: list[DerivedEvent] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


def patient_cards(patient: str, events: Sequence[Event], alert_rows: Sequence[Mapping[Any, Any]],
                  profile: Profile, tz: tzinfo, public_base: str | None) -> list[dict[str, Any]]:
    by_id = {str(e.event_id): e for e in events}
    gone = superseded_ids(events)
    derived = [e for e in events if isinstance(e, DerivedEvent) and e.derivation_set == CANONICAL_SET
               and str(e.event_id) not in gone and e.agent is not None and e.episode is not None]
    episodes: dict[tuple[str, int], EpisodeView] = {}
    for e in derived:
        assert e.agent is not None and e.episode is not None
        episodes.setdefault((e.agent, e.episode), EpisodeView(e.agent, e.episode)).events.append(e)
    latest = {agent: max(n for a, n in episodes if a == agent) for agent, _ in episodes}
    for (agent, n), view in episodes.items():
        if n == latest[agent]:
            _state_item(view, by_id, tz)
    for row in alerts_needing_attention(alert_rows):
        raised = by_id.get(str(row["alert_event_id"]))
        if not isinstance(raised, AlertRaised):
            continue
        found = _episode_of(raised, episodes, tz)
        relapsed = found is not None and any(i.kind == "relapse" for i in found.items)
        if found is None or (relapsed and raised.alert in STATE_ALERTS):
            continue  # the relapse card carries its own alert and the possible loss it confirmed
        possible_loss = raised.alert == POSSIBLE_LOSS
        found.items.append(Item(
            kind="possible-loss" if possible_loss else "alert",
            headline="possible loss of response" if possible_loss else raised.message,
            indicator=ALERT_INDICATOR.get(raised.severity, "info"),
            on=raised.occurred_at.astimezone(tz).date(),
            cause=raised,
            count=_latest_count(raised, by_id),
        ))
    cards = [_card(patient, view, by_id, profile, tz, public_base)
             for view in sorted(episodes.values(), key=lambda v: (v.agent, v.episode)) if view.items]
    return sorted(cards, key=lambda c: -INDICATOR_RANK[c["indicator"]])


def _episode_of(raised: AlertRaised, episodes: Mapping[tuple[str, int], EpisodeView], tz: tzinfo
                ) -> EpisodeView | None:
    """The alert's episode; a patient-level alert (a low count, an infection) belongs to the episode that was
    running then: the one with the latest D1 on or before the alert's date."""
    if raised.agent is not None and raised.episode is not None:
        return episodes.get((raised.agent, raised.episode))
    on = raised.occurred_at.astimezone(tz).date()
    running = [(start.d1, view) for view in episodes.values() for start in view.events
               if isinstance(start, EpisodeStarted) and start.d1 <= on]
    return max(running, key=lambda pair: pair[0])[1] if running else None


def _state_item(view: EpisodeView, by_id: Mapping[str, Event], tz: tzinfo) -> None:
    transitions = [e for e in view.events if type(e) in STATE_OF]
    if not transitions:
        return
    last = max(transitions, key=lambda e: (e.occurred_at, STATE_RANK[e.type]))
    if isinstance(last, ResponseLost):
        count = _latest_count(last, by_id)  # the count that confirmed it
        confirmed = count.occurred_at.astimezone(tz).date() if count is not None else last.onset
        view.items.append(Item("relapse", "relapse confirmed", "warning", confirmed, last, count,
                               onset=last.onset if last.onset != confirmed else None))
    elif isinstance(last, NonResponseDeclared):
        view.items.append(Item("non-response", "no response by day 84", "info", last.assessed_on, last,
                               _latest_count(last, by_id)))


def _latest_count(cause: DerivedEvent, by_id: Mapping[str, Event]) -> PlateletCountRecorded | None:
    counts = [e for i in cause.causation_ids if isinstance(e := by_id.get(str(i)), PlateletCountRecorded)
              and e.value is not None]
    return max(counts, key=lambda c: c.occurred_at) if counts else None


def _count_text(count: PlateletCountRecorded | None) -> str:
    if count is None or count.value is None:
        return ""
    return f", platelets {count.censored or ''}{count.value:g} x10^9/L"


def _summary(agent: str, episode: int, item: Item) -> str:
    onset = f"onset {item.onset.isoformat()}, " if item.onset else ""
    text = f"{agent}: {item.headline} {item.on.isoformat()}{_count_text(item.count)} ({onset}episode {episode})"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _card(patient: str, view: EpisodeView, by_id: Mapping[str, Event], profile: Profile, tz: tzinfo,
          public_base: str | None) -> dict[str, Any]:
    order = {"relapse": 0, "possible-loss": 1, "alert": 2, "non-response": 3}
    items = sorted(view.items, key=lambda i: (-INDICATOR_RANK[i.indicator], order[i.kind]))
    primary = items[0]
    indicator = max((i.indicator for i in items), key=INDICATOR_RANK.__getitem__)
    start = next((e for e in view.events if isinstance(e, EpisodeStarted)), None)
    card: dict[str, Any] = {
        "uuid": str(stable_event_id("cds-card", patient, view.agent, str(view.episode),
                                    *sorted(str(i.cause.event_id) for i in items))),
        "summary": _summary(view.agent, view.episode, primary),
        "indicator": indicator,
        "detail": _detail(view, items, start, by_id, profile, tz),
        "source": {
            "label": f"itpwatch, profile {primary.cause.profile} {primary.cause.profile_version}",
            "topic": {"system": TOPIC_SYSTEM, "code": primary.kind, "display": primary.headline[:80]},
        },
    }
    if public_base:
        card["links"] = [{"label": "Open the patient in itpwatch", "type": "absolute",
                          "url": f"{public_base.rstrip('/')}/patients/{quote(patient, safe='')}"}]
    return card


def _detail(view: EpisodeView, items: Sequence[Item], start: EpisodeStarted | None, by_id: Mapping[str, Event],
            profile: Profile, tz: tzinfo) -> str:
    statements = {r.id: r.statement for r in profile.rules}
    lines: list[str] = []
    d1 = f", D1 {start.d1.isoformat()}" if start is not None else ""
    lines.append(f"{md(view.agent)}, episode {view.episode}{d1}")
    for item in items:
        cause = item.cause
        lines.append("")
        onset = f" (onset {item.onset.isoformat()})" if item.onset else ""
        lines.append(f"**{md(item.headline)}** on {item.on.isoformat()}{md(_count_text(item.count))}{onset}")
        statement = statements.get(cause.rule_id, "(rule not in the current profile version)")
        lines.append("")
        lines.append(f"Rule {code(cause.rule_id)}: {md(statement)} Profile {md(cause.profile)}, version "
                     f"{md(cause.profile_version)}.")
        inputs = sorted((by_id[str(i)] for i in cause.causation_ids if str(i) in by_id),
                        key=lambda e: e.occurred_at)
        if inputs:
            lines.append("")
            lines.append("| valid time | fact | source |")
            lines.append("|---|---|---|")
            for e in inputs:
                when = e.occurred_at.astimezone(tz).isoformat(timespec="minutes")
                source = " ".join(p for p in (e.source.feed, e.source.sender or "", e.source.message_id or "") if p)
                lines.append(f"| {md(when)} | {md(e.type)}: {md(describe(e))} | {md(source)} |")
    return "\n".join(lines)
