"""A lost complete response (IWG 2009) reaches the report's episode row."""

from __future__ import annotations

from datetime import timedelta

from engine.reporting import build_report
from rules import load_profile
from tests.rules.factories import DAY0, count, dose
from tests.rules.helpers_rules import derive


def test_iwg_complete_response_lost_onset_in_the_episode_row() -> None:
    facts = [count(-2, 10), dose(0), count(10, 120), count(17, 130), count(30, 60), count(31, 60)]
    derived = derive(facts, "iwg2009")
    profile = load_profile("iwg2009")
    report = build_report([*facts, *derived], agent="daratumumab", profile="iwg2009",
                          profile_version=profile.version, as_of=None, serious_infection_codes=frozenset(),
                          rules_profile=profile)
    (episode,) = report.patients[0].episodes
    assert episode.best_response == "CR"
    assert episode.complete_response_lost_onset == DAY0 + timedelta(days=30)
    assert episode.relapse_onset is None and episode.ongoing, "R continues after the CR is lost"
