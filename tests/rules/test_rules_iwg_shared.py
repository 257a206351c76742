"""The rules iwg2009 shares with the site profile (episodes, re-exposure, non-response, sustained
remission, alerts) and the IWG loss rules, each exercised under name="iwg2009".

IWG histories need a baseline (response = count >= 30 and >= 2 x baseline) and confirmation >= 7 days
apart, so the scenarios differ from the site ones. Each test names the clause it protects.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.rules.factories import (
    DAY0,
    alerts,
    bleeding,
    clock,
    count,
    dose,
    infection,
    of_type,
)
from tests.rules.helpers_rules import derive


def iwg(events: list[Any]) -> list[Any]:
    return derive(events, "iwg2009")


def d(day: int) -> date:
    return DAY0 + timedelta(days=day)


def ivig(day: int) -> Any:
    return dose(day, "ivig", atc="J06BA02", mg=None, hour=11)


RESPONDER = [count(-2, 10), dose(0), count(10, 40), count(17, 40)]
"""Baseline 10; R onset day 10, confirmed on day 17 (7 days apart)."""
RELAPSED = [*RESPONDER, count(30, 25), count(31, 22)]
"""Loss of R confirmed on day 31, onset day 30."""


# -- episodes ----------------------------------------------------------------------------------------


def test_iwg_episode_starts_once_at_first_dose() -> None:
    """episode.start has_episode: false - later doses of the agent belong to the same episode."""
    out = iwg([count(-2, 10), dose(0), dose(7), dose(14)])
    (ep,) = of_type(out, "EpisodeStarted")
    assert ep.d1 == DAY0 and ep.baseline == 10 and ep.profile == "iwg2009" and ep.rule_id == "episode.start"


def test_iwg_baseline_windows_14_and_30_days() -> None:
    """windows.baseline_days / baseline_fallback_days: day -14 is baseline, -15..-30 imputed, -31 none."""
    ep = of_type(iwg([count(-14, 12), dose(0)]), "EpisodeStarted")[0]
    assert ep.baseline == 12 and not ep.baseline_imputed
    ep = of_type(iwg([count(-15, 12), dose(0)]), "EpisodeStarted")[0]
    assert ep.baseline == 12 and ep.baseline_imputed
    ep = of_type(iwg([count(-30, 12), dose(0)]), "EpisodeStarted")[0]
    assert ep.baseline == 12 and ep.baseline_imputed
    ep = of_type(iwg([count(-31, 12), dose(0)]), "EpisodeStarted")[0]
    assert ep.baseline is None


def test_iwg_reexposure_after_loss_of_response_opens_new_episode() -> None:
    """episode.reexposure.after-relapse: a dose after the loss of R opens episode 2 with its own baseline."""
    out = iwg([*RELAPSED, count(40, 25), dose(45), count(50, 50), count(57, 55)])
    (rx,) = of_type(out, "ReExposureStarted")
    assert rx.reason == "after-relapse" and rx.previous_episode == 1 and rx.episode == 2
    eps = of_type(out, "EpisodeStarted")
    assert [e.episode for e in eps] == [1, 2] and eps[1].baseline == 25 and eps[1].d1 == d(45)
    (r2,) = [r for r in of_type(out, "ResponseAchieved") if r.episode == 2]
    assert r2.onset == d(50) and r2.time_to_response_days == 5


def test_iwg_dose_while_responding_is_no_reexposure() -> None:
    """episode.reexposure.after-relapse state: relapsed - a maintenance dose of a responder is no new episode."""
    out = iwg([*RESPONDER, dose(21), dose(28)])
    assert len(of_type(out, "EpisodeStarted")) == 1 and not of_type(out, "ReExposureStarted")


def test_iwg_reexposure_after_56_day_gap_not_55() -> None:
    """episode.reexposure.after-gap / windows.reexposure_gap_days: >= 56 days without the agent."""
    (rx,) = of_type(iwg([count(-2, 10), dose(0), dose(56)]), "ReExposureStarted")
    assert rx.reason == "after-gap" and rx.days_since_previous == 56
    assert not of_type(iwg([count(-2, 10), dose(0), dose(55)]), "ReExposureStarted")


def test_iwg_combination_within_14_days() -> None:
    """windows.combination_days: another ITP drug first given within +-14 days of D1."""
    out = iwg([dose(0), dose(14, "romiplostim", mg=0.25)])
    assert of_type(out, "EpisodeStarted")[0].combination_with == ("romiplostim",)
    out = iwg([dose(0), dose(15, "romiplostim", mg=0.25)])
    assert of_type(out, "EpisodeStarted")[0].combination_with == ()


def test_iwg_untracked_agent_dose_during_episode_changes_nothing() -> None:
    """episode rules dose_of_tracked: an untracked drug during an episode opens no episode."""
    out = iwg([*RESPONDER, dose(70, "romiplostim", mg=0.25), dose(140, "fostamatinib", mg=100)])
    assert len(of_type(out, "EpisodeStarted")) == 1 and not of_type(out, "ReExposureStarted")


# -- response, rescue --------------------------------------------------------------------------------


def test_iwg_response_threshold_30_inclusive() -> None:
    """response.response: exactly 30 (and 2 x baseline 15) meets R."""
    out = iwg([count(-2, 15), dose(0), count(10, 30), count(17, 30)])
    assert of_type(out, "ResponseAchieved")[0].onset == d(10)
    assert not of_type(iwg([count(-2, 10), dose(0), count(10, 29.9), count(17, 29.9)]), "ResponseAchieved")


def test_iwg_rescue_window_28_days() -> None:
    """windows.rescue_days: counts from the IVIG day up to 27 days after are not eligible."""
    out = iwg([count(-2, 10), dose(0), ivig(5), count(32, 40), count(39, 40)])
    assert not of_type(out, "ResponseAchieved")  # day 32 is the 28th day of the window
    out = iwg([count(-2, 10), dose(0), ivig(5), count(33, 40), count(40, 40)])
    assert of_type(out, "ResponseAchieved")[0].onset == d(33)


# -- complete response ---------------------------------------------------------------------------------


def test_iwg_complete_response_reached_from_responder() -> None:
    """iwg.complete-response state one_of [assessing, responder]: CR after R, its own onset."""
    out = iwg([*RESPONDER, count(24, 100), count(31, 110)])
    (cr,) = of_type(out, "CompleteResponseAchieved")
    assert cr.onset == d(24) and cr.time_to_response_days == 24
    assert len(of_type(out, "ResponseAchieved")) == 1


def test_iwg_no_complete_response_after_loss_of_response() -> None:
    """iwg.complete-response state: after the loss of R the episode's response is closed."""
    out = iwg([*RELAPSED, count(40, 120), count(47, 130)])
    assert of_type(out, "ResponseLost") and not of_type(out, "CompleteResponseAchieved")


# -- loss of response ----------------------------------------------------------------------------------


def test_iwg_first_failing_count_after_response_alerts_once_per_run() -> None:
    """iwg.loss.first-low-count: the first failing count after R alerts; good counts and repeats do not."""
    out = iwg([*RESPONDER, count(24, 40), count(30, 25)])
    assert alerts(out) == ["post-response-drop"] and not of_type(out, "ResponseLost")
    assert of_type(out, "AlertRaised")[0].rule_id == "iwg.loss.first-low-count"


def test_iwg_failing_count_before_response_raises_no_loss_alert() -> None:
    """iwg.loss.first-low-count state: responder - failing while assessing is not a loss of response."""
    assert alerts(iwg([count(-2, 10), dose(0), count(5, 25), count(6, 22)])) == []


def test_iwg_count_below_doubling_is_failing_after_response() -> None:
    """iwg fails_response: >= 30 but < 2 x baseline fails R (baseline 20: 35 fails)."""
    base = [count(-2, 20), dose(0), count(10, 45), count(17, 45)]
    out = iwg([*base, count(24, 35), count(25, 36)])
    assert alerts(out) == ["post-response-drop", "relapse-confirmed"]
    assert of_type(out, "ResponseLost")[0].onset == d(24)


def test_iwg_bleed_after_response_raises_possible_loss() -> None:
    """iwg.loss.first-low-count: a WHO grade >= 2 bleed is a failing occasion."""
    assert alerts(iwg([*RESPONDER, bleeding(24, 2)])) == ["post-response-drop"]


def test_iwg_second_failing_count_on_the_same_day_does_not_confirm_loss() -> None:
    """iwg.relapse: two failing counts on one calendar day are one occasion."""
    out = iwg([*RESPONDER, count(30, 25, hour=8), count(30, 22, hour=16)])
    assert not of_type(out, "ResponseLost") and alerts(out) == ["post-response-drop"]


def test_iwg_loss_confirmed_once() -> None:
    """iwg.relapse state: responder - further failing counts after the loss raise no second alert."""
    out = iwg([*RELAPSED, count(35, 22), count(40, 25)])
    (lost,) = of_type(out, "ResponseLost")
    assert lost.onset == d(30) and lost.response_duration_days == 20
    assert alerts(out) == ["post-response-drop", "relapse-confirmed"]


# -- non-response, sustained remission -----------------------------------------------------------------


def test_iwg_non_response_at_day_84_not_83() -> None:
    """iwg.non-response / windows.non_response_day: no R when the clock passes D1 + 84 days."""
    events = [count(-2, 10), dose(0), count(10, 15)]
    assert not of_type(iwg([*events, clock(83, 23)]), "NonResponseDeclared")
    (nr,) = of_type(iwg([*events, clock(84)]), "NonResponseDeclared")
    assert nr.assessed_on == d(84) and nr.rule_id == "iwg.non-response"


def test_iwg_response_before_day_84_prevents_non_response() -> None:
    """iwg.non-response state: assessing - a responder is never declared a non-responder."""
    assert not of_type(iwg([*RESPONDER, count(80, 40), clock(120)]), "NonResponseDeclared")


def test_iwg_sustained_remission_at_182_days() -> None:
    """iwg.sustained-remission / windows.sustained_remission_days: an eligible count >= 182 days after onset."""
    events = [*RESPONDER, count(100, 40), count(170, 45)]
    assert not of_type(iwg([*events, count(191, 40)]), "SustainedRemissionReached")
    (sr,) = of_type(iwg([*events, count(192, 40)]), "SustainedRemissionReached")
    assert sr.reached_on == d(192) and sr.response_onset == d(10) and sr.rule_id == "iwg.sustained-remission"


def test_iwg_sustained_remission_not_from_failing_count_or_time() -> None:
    """iwg.sustained-remission in_failing_run: false / eligible: true - a failing count or a tick shows nothing."""
    events = [*RESPONDER, count(100, 40), count(170, 45)]
    assert not of_type(iwg([*events, count(195, 25)]), "SustainedRemissionReached")
    assert not of_type(iwg([*events, clock(400)]), "SustainedRemissionReached")


def test_iwg_rescue_after_a_late_failing_count_reaches_no_sustained_remission() -> None:
    """iwg.sustained-remission eligible: true - a count in the rescue window after a failing count shows nothing."""
    out = iwg([*RESPONDER, count(100, 40), count(195, 25), ivig(196), count(197, 40)])
    assert not of_type(out, "SustainedRemissionReached")


def test_iwg_no_sustained_remission_after_loss_of_response() -> None:
    """iwg.sustained-remission state: responder - good counts after the loss of R are no remission."""
    out = iwg([*RELAPSED, count(200, 40), count(207, 45)])
    assert of_type(out, "ResponseLost") and not of_type(out, "SustainedRemissionReached")


# -- alerts --------------------------------------------------------------------------------------------


def test_iwg_low_count_alerts_in_tracked_patient() -> None:
    """alert.platelets-below-20 / -10: scope patient, tracked, 10 <= count < 20 urgent, < 10 critical."""
    out = iwg([count(-3, 15), count(-2, 5), dose(0), count(3, 15), count(4, 8), count(5, 10, censored="<")])
    assert alerts(out) == ["platelets-below-20", "platelets-below-10", "platelets-below-10"]
    out = iwg([dose(0), count(1, 20), count(2, 19.9), count(3, 10), count(4, 9.9), count(5, 15, censored="<")])
    assert alerts(out) == ["platelets-below-20", "platelets-below-20", "platelets-below-10", "platelets-below-20"]


def test_iwg_serious_infection_alert() -> None:
    """alert.serious-infection: tracked, infection, serious or grade >= 3 or severe without grade."""
    out = iwg(
        [
            infection(-3, serious=True),  # before D1: not tracked
            dose(0),
            infection(3, serious=True),
            infection(4, grade=2),
            infection(5, severity="severe"),
            infection(6, grade=3),
            infection(7, serious=True, code="1234", category="infusion-reaction"),
        ]
    )
    assert alerts(out) == ["serious-infection", "serious-infection", "serious-infection"]


def test_iwg_missing_count_alert_after_28_days_while_responding() -> None:
    """alert.missing-count / windows.missing_count_days: no eligible count for > 28 days while responding."""
    assert "missing-count" not in alerts(iwg([*RESPONDER, clock(45, 23)]))
    out = iwg([*RESPONDER, clock(46)])
    (a,) = [x for x in of_type(out, "AlertRaised") if x.alert == "missing-count"]
    assert a.occurred_at.date() == d(46) and a.profile == "iwg2009"


def test_iwg_early_stop_advisory_after_21_days_without_dose() -> None:
    """alert.early-stop / windows.early_stop_no_dose_days: before day 84, no R, no dose for > 21 days."""
    events = [count(-2, 10), dose(0), dose(7), count(10, 12)]
    assert "early-stop-advisory" not in alerts(iwg([*events, clock(28, 23)]))
    out = iwg([*events, clock(29)])
    (a,) = [x for x in of_type(out, "AlertRaised") if x.alert == "early-stop-advisory"]
    assert a.occurred_at.date() == d(29)
    # a last dose on day 62 would advise on day 84, when non-response is decided instead
    assert "early-stop-advisory" not in alerts(iwg([dose(0), dose(21), dose(42), dose(62), clock(100)]))
