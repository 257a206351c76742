"""A replay or a what-if run never shares engine state with the live processor."""

from __future__ import annotations

from pathlib import Path

from engine.app import App
from engine.config import Settings
from engine.rulebook import RuleEngine
from rules import DurableMatcher, load_profile


def test_what_if_and_live_processors_have_separate_hosts(tmp_path: Path) -> None:
    app = App(Settings(database_url=f"sqlite:///{tmp_path / 'i.db'}"))
    live = app.live_processor.rules
    replay = app.processor().rules
    what_if = RuleEngine(load_profile("iwg2009"), derivation_set="iwg2009")
    matchers = [getattr(m, "inner", m) for m in (live.matcher, replay.matcher, what_if.matcher)]
    assert len({id(m) for m in matchers}) == 3
    if all(isinstance(m, DurableMatcher) for m in matchers):
        hosts = {id(m._host) for m in matchers}  # type: ignore[attr-defined]
        assert len(hosts) == 3
    app.close()
