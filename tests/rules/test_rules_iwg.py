"""Clauses of the iwg2009 profile: 30 + doubling of baseline, 7-day confirmation, CR 100, bleeding."""

from __future__ import annotations

from datetime import date, timedelta

from tests.rules.factories import DAY0, alerts, bleeding, count, dose, of_type
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


def test_a_count_meeting_cr_never_fails_r_with_a_high_baseline() -> None:
    """Baseline 60: counts of 110 and 105 are below 2 x baseline but in CR, so no loss of response."""
    events = [count(-2, 60), dose(0), count(10, 130), count(17, 140), count(30, 110), count(31, 105)]
    out = iwg(events)
    assert of_type(out, "CompleteResponseAchieved")
    assert not of_type(out, "ResponseLost")
    assert not of_type(out, "CompleteResponseLost")
    lost = iwg([*events, count(40, 90), count(41, 95)])  # below 100 and below 2 x 60: CR and R are lost
    assert of_type(lost, "CompleteResponseLost") and of_type(lost, "ResponseLost")


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


# -- loss of complete response (iwg.loss-of-complete-response) ------------------------------------------

CR = [count(-2, 10), dose(0), count(10, 100), count(17, 110)]
"""Baseline 10; R and CR onset day 10, both confirmed on day 17."""


def _d(day: int) -> date:
    return DAY0 + timedelta(days=day)


def test_complete_response_lost_on_two_counts_below_100_while_still_r() -> None:
    """iwg.loss-of-complete-response: two counts in [30, 100) and >= 2 x baseline on different days."""
    events = [*CR, count(24, 60), count(25, 60)]
    out = iwg(events)
    (lost,) = of_type(out, "CompleteResponseLost")
    assert lost.onset == _d(24) and lost.complete_response_duration_days == 14
    assert lost.rule_id == "iwg.loss-of-complete-response" and lost.profile == "iwg2009" and lost.episode == 1
    assert lost.occurred_at == events[4].occurred_at  # valid time: the first failing occasion
    assert lost.causation_ids == (events[4].event_id, events[5].event_id)
    # still R: no loss of response, no 'possible loss of response' alert
    assert not of_type(out, "ResponseLost") and alerts(out) == []


def test_complete_response_lost_at_the_first_count_below_100_that_is_confirmed() -> None:
    """iwg.loss-of-complete-response complete_loss_confirmed: one count below 100 is no loss."""
    assert not of_type(iwg([*CR, count(24, 60)]), "CompleteResponseLost")
    assert not of_type(iwg([*CR, count(24, 99.9), count(31, 100)]), "CompleteResponseLost")


def test_one_count_below_100_then_recovery_is_no_loss_of_complete_response() -> None:
    """loss_confirmation.none_failing_between: a count >= 100 between breaks the run."""
    out = iwg([*CR, count(24, 60), count(25, 100), count(26, 60)])
    assert not of_type(out, "CompleteResponseLost")


def test_two_counts_below_100_on_the_same_day_are_one_occasion() -> None:
    """loss_confirmation.min_days_apart: two counts of one calendar day do not confirm the loss of CR."""
    out = iwg([*CR, count(24, 60, hour=8), count(24, 50, hour=16)])
    assert not of_type(out, "CompleteResponseLost")


def test_bleed_is_an_occasion_failing_complete_response() -> None:
    """iwg fails_complete: a WHO grade >= 2 bleed fails CR (grade 1 does not); the count after it is R."""
    (lost,) = of_type(iwg([*CR, bleeding(24, 2), count(25, 60)]), "CompleteResponseLost")
    assert lost.onset == _d(24)
    assert not of_type(iwg([*CR, bleeding(24, 1), count(25, 60)]), "CompleteResponseLost")


def test_loss_of_r_after_loss_of_complete_response() -> None:
    """After the loss of CR the episode stays a responder; a later drop below 30 is the loss of R."""
    out = iwg([*CR, count(24, 60), count(25, 60), count(40, 25), count(41, 22)])
    (crl,) = of_type(out, "CompleteResponseLost")
    (rl,) = of_type(out, "ResponseLost")
    assert crl.onset == _d(24) and rl.onset == _d(40) and rl.response_duration_days == 30
    assert alerts(out) == ["post-response-drop", "relapse-confirmed"]


def test_direct_drop_from_complete_response_loses_cr_and_r() -> None:
    """One failing run below 30 ends the CR and the R on the same step: both are derived, same onset."""
    out = iwg([*CR, count(24, 20), count(25, 20)])
    (crl,) = of_type(out, "CompleteResponseLost")
    (rl,) = of_type(out, "ResponseLost")
    assert crl.onset == rl.onset == _d(24)


def test_complete_response_is_not_regained_in_the_same_episode() -> None:
    """iwg.complete-response complete: false / complete_lost: one CR and one loss of CR per episode."""
    out = iwg([*CR, count(24, 60), count(25, 60), count(40, 120), count(47, 130), count(54, 60), count(55, 60)])
    assert len(of_type(out, "CompleteResponseAchieved")) == 1
    assert len(of_type(out, "CompleteResponseLost")) == 1


def test_no_loss_of_complete_response_without_complete_response() -> None:
    """A responder who never reached CR has no CR to lose."""
    out = iwg([count(-2, 10), dose(0), count(10, 40), count(17, 60), count(24, 60), count(25, 60)])
    assert of_type(out, "ResponseAchieved") and not of_type(out, "CompleteResponseLost")


def test_site_profile_never_derives_loss_of_complete_response() -> None:
    """The site profile has no loss-of-CR clause (docs/clinical-decisions.md A4/A5)."""
    out = derive([dose(0), count(10, 100), count(11, 110), count(24, 60), count(25, 60), count(40, 20)])
    assert of_type(out, "CompleteResponseAchieved") and not of_type(out, "CompleteResponseLost")
