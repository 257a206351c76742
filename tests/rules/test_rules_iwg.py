"""Clauses of the iwg2009 profile: 30 + doubling of baseline, 7-day confirmation, CR 100, bleeding."""

from __future__ import annotations

from datetime import timedelta

from tests.rules.factories import DAY0, bleeding, count, dose, of_type
from tests.rules.helpers_rules import derive


def iwg(events: list[object]) -> list[object]:
    return derive(events, "iwg2009")  # type: ignore[arg-type]


def test_response_needs_30_and_doubling_of_baseline() -> None:
    out = iwg([count(-2, 20), dose(0), count(10, 40), count(17, 45)])
    (r,) = of_type(out, "ResponseAchieved")
    assert r.onset == DAY0 + timedelta(days=10) and r.profile == "iwg2009"
    # 35 >= 30 but < 2 x 20
    assert not of_type(iwg([count(-2, 20), dose(0), count(10, 35), count(17, 45)]), "ResponseAchieved")
    # >= 2 x baseline but < 30
    assert not of_type(iwg([count(-2, 10), dose(0), count(10, 25), count(17, 29)]), "ResponseAchieved")


def test_no_baseline_means_doubling_cannot_be_met() -> None:
    assert not of_type(iwg([dose(0), count(10, 60), count(17, 60)]), "ResponseAchieved")


def test_confirmation_needs_7_days() -> None:
    assert not of_type(iwg([count(-2, 10), dose(0), count(10, 40), count(16, 40)]), "ResponseAchieved")
    assert of_type(iwg([count(-2, 10), dose(0), count(10, 40), count(13, 40), count(17, 40)]), "ResponseAchieved")


def test_site_rule_differs_from_iwg_on_same_history() -> None:
    events = [count(-2, 40), dose(0), count(10, 60), count(11, 60)]
    assert of_type(derive(events), "ResponseAchieved")
    assert not of_type(iwg(events), "ResponseAchieved")


def test_complete_response_at_100_without_doubling() -> None:
    out = iwg([count(-2, 60), dose(0), count(10, 100), count(17, 110)])
    (cr,) = of_type(out, "CompleteResponseAchieved")
    assert cr.onset == DAY0 + timedelta(days=10)


def test_bleeding_voids_response() -> None:
    base = [count(-2, 10), dose(0), count(10, 40)]
    assert of_type(iwg([*base, count(17, 40)]), "ResponseAchieved")
    assert not of_type(iwg([*base, bleeding(13, 2), count(17, 40)]), "ResponseAchieved")
    assert of_type(iwg([*base, bleeding(13, 1), count(17, 40)]), "ResponseAchieved")  # grade 1 does not void


def test_loss_on_two_failing_occasions_including_bleeding() -> None:
    base = [count(-2, 10), dose(0), count(10, 40), count(17, 40), count(24, 40)]
    out = iwg([*base, count(30, 25), count(31, 22)])
    assert of_type(out, "ResponseLost")[0].onset == DAY0 + timedelta(days=30)
    out = iwg([*base, bleeding(30, 3), count(31, 25)])
    (lost,) = of_type(out, "ResponseLost")
    assert lost.onset == DAY0 + timedelta(days=30)
