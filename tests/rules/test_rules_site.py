"""One test per clause of the site profile; each fails when its clause is removed."""

from __future__ import annotations

from datetime import date

from events import ResultStatus
from tests.rules.factories import (
    DAY0,
    alerts,
    clock,
    count,
    dose,
    infection,
    of_type,
    retract_admin,
    retract_result,
    types,
    weight,
)
from tests.rules.helpers_rules import derive


def d(day: int) -> date:
    from datetime import timedelta

    return DAY0 + timedelta(days=day)


def test_episode_starts_at_first_dose_with_baseline() -> None:
    out = derive([count(-20, 12), count(-5, 15), dose(0), dose(7)])
    (ep,) = of_type(out, "EpisodeStarted")
    assert ep.d1 == DAY0 and ep.episode == 1 and ep.agent == "daratumumab"
    assert ep.baseline == 15 and not ep.baseline_imputed
    assert ep.rule_id == "episode.start" and ep.profile == "site"


def test_baseline_pre_dose_same_day_counts() -> None:
    out = derive([count(-5, 15), count(0, 18, hour=8), dose(0, hour=10)])
    assert of_type(out, "EpisodeStarted")[0].baseline == 18


def test_baseline_fallback_window_is_imputed() -> None:
    out = derive([count(-20, 12), dose(0)])
    ep = of_type(out, "EpisodeStarted")[0]
    assert ep.baseline == 12 and ep.baseline_imputed


def test_no_baseline_beyond_30_days() -> None:
    out = derive([count(-31, 12), dose(0)])
    ep = of_type(out, "EpisodeStarted")[0]
    assert ep.baseline is None and not ep.baseline_imputed


def test_response_two_counts_different_days_onset_at_first() -> None:
    c1, c2 = count(10, 55), count(12, 60)
    out = derive([dose(0), c1, c2])
    (r,) = of_type(out, "ResponseAchieved")
    assert r.onset == d(10) and r.time_to_response_days == 10
    assert r.occurred_at == c1.occurred_at
    assert c1.event_id in r.causation_ids and c2.event_id in r.causation_ids


def test_no_response_from_one_count_or_same_day() -> None:
    assert not of_type(derive([dose(0), count(10, 80)]), "ResponseAchieved")
    assert not of_type(derive([dose(0), count(10, 80, hour=8), count(10, 90, hour=15)]), "ResponseAchieved")


def test_failing_count_between_breaks_confirmation() -> None:
    out = derive([dose(0), count(10, 60), count(11, 40), count(12, 60)])
    assert not of_type(out, "ResponseAchieved")
    out = derive([dose(0), count(10, 60), count(11, 40), count(12, 60), count(13, 70)])
    assert of_type(out, "ResponseAchieved")[0].onset == d(12)


def test_last_count_of_day_is_the_days_value() -> None:
    out = derive([dose(0), count(10, 60, hour=8), count(10, 40, hour=16), count(12, 60)])
    assert not of_type(out, "ResponseAchieved")


def test_threshold_50_inclusive() -> None:
    assert of_type(derive([dose(0), count(10, 50), count(11, 50)]), "ResponseAchieved")
    assert not of_type(derive([dose(0), count(10, 49.9), count(11, 50)]), "ResponseAchieved")


def test_complete_response_at_100() -> None:
    out = derive([dose(0), count(10, 60), count(11, 70), count(20, 100), count(21, 120)])
    (cr,) = of_type(out, "CompleteResponseAchieved")
    assert cr.onset == d(20) and cr.time_to_response_days == 20
    assert not of_type(derive([dose(0), count(10, 99), count(11, 99)]), "CompleteResponseAchieved")


def test_relapse_first_low_alert_then_confirmation() -> None:
    events = [dose(0), count(10, 60), count(11, 70), count(25, 65), count(40, 40)]
    out = derive(events)
    assert alerts(out) == ["post-response-drop"]
    assert of_type(out, "AlertRaised")[0].message == "possible loss of response - confirm"
    assert not of_type(out, "ResponseLost")
    out = derive([*events, count(42, 30)])
    (lost,) = of_type(out, "ResponseLost")
    assert lost.onset == d(40) and lost.response_duration_days == 30
    assert alerts(out) == ["post-response-drop", "relapse-confirmed"]


def test_low_count_then_recovery_is_no_relapse() -> None:
    out = derive([dose(0), count(10, 60), count(11, 70), count(25, 65), count(40, 40), count(41, 60), count(42, 30)])
    assert not of_type(out, "ResponseLost")
    assert alerts(out) == ["post-response-drop", "post-response-drop"]  # one per failing run


def test_closed_episode_after_relapse() -> None:
    out = derive(
        [
            dose(0),
            count(10, 60),
            count(11, 70),
            count(25, 65),
            count(40, 40),
            count(42, 30),
            count(50, 80),
            count(52, 90),
        ]
    )
    assert len(of_type(out, "ResponseAchieved")) == 1


def test_ivig_rescue_window_28_days() -> None:
    base = [dose(0), dose(-40, "ivig", atc="J06BA02", mg=None)]  # rescue long before: no effect
    assert of_type(derive([*base, count(10, 60), count(11, 60)]), "ResponseAchieved")
    ivig = dose(5, "ivig", atc="J06BA02", mg=None)
    # counts on days 5..32 are inside the window; day 33 onwards are eligible again
    assert not of_type(derive([dose(0), ivig, count(10, 60), count(32, 60)]), "ResponseAchieved")
    out = derive([dose(0), ivig, count(32, 60), count(33, 60), count(34, 60)])
    assert of_type(out, "ResponseAchieved")[0].onset == d(33)


def test_rescue_by_atc_code_and_same_day_before_rescue() -> None:
    ivig = dose(10, "some-immunoglobulin", atc="J06BA01", mg=None, hour=14)
    out = derive([dose(0), count(9, 60), count(10, 60, hour=8), ivig])
    assert not of_type(out, "ResponseAchieved")  # a count on the day of the rescue is not eligible


def test_premedication_exemption_steroid_on_anti_cd38_day() -> None:
    premed = dose(7, "dexamethasone", mg=40, hour=8)
    out = derive([dose(0), premed, dose(7, hour=9), count(8, 60), count(9, 60)])
    assert of_type(out, "ResponseAchieved")
    pulse = dose(6, "dexamethasone", mg=40, hour=8)  # a pulse on another day is rescue
    out = derive([dose(0), pulse, dose(7, hour=9), count(8, 60), count(9, 60)])
    assert not of_type(out, "ResponseAchieved")


def test_steroid_dose_thresholds() -> None:
    low = dose(6, "dexamethasone", mg=20)
    assert of_type(derive([dose(0), low, count(8, 60), count(9, 60)]), "ResponseAchieved")
    mp = dose(6, "methylprednisolone", mg=500)
    assert not of_type(derive([dose(0), mp, count(8, 60), count(9, 60)]), "ResponseAchieved")
    pred = dose(6, "prednisolone", mg=80)
    assert of_type(derive([dose(0), pred, count(8, 60), count(9, 60)]), "ResponseAchieved")  # no weight
    assert not of_type(derive([weight(-1, 70), dose(0), pred, count(8, 60), count(9, 60)]), "ResponseAchieved")


def test_reexposure_after_relapse_new_episode() -> None:
    out = derive(
        [
            dose(0),
            count(10, 60),
            count(11, 70),
            count(25, 65),
            count(40, 40),
            count(42, 30),
            dose(45),
            count(50, 60),
            count(52, 60),
        ]
    )
    (rx,) = of_type(out, "ReExposureStarted")
    assert rx.reason == "after-relapse" and rx.previous_episode == 1 and rx.episode == 2
    eps = of_type(out, "EpisodeStarted")
    assert [e.episode for e in eps] == [1, 2] and eps[1].reexposure and eps[1].baseline == 30
    r2 = [r for r in of_type(out, "ResponseAchieved") if r.episode == 2]
    assert r2 and r2[0].time_to_response_days == 5


def test_reexposure_after_56_day_gap_not_55() -> None:
    out = derive([dose(0), dose(56)])
    (rx,) = of_type(out, "ReExposureStarted")
    assert rx.reason == "after-gap" and rx.days_since_previous == 56
    assert not of_type(derive([dose(0), dose(55)]), "ReExposureStarted")


def test_combination_within_14_days() -> None:
    out = derive([dose(0), dose(14, "romiplostim", mg=0.25)])
    assert of_type(out, "EpisodeStarted")[0].combination_with == ("romiplostim",)
    out = derive([dose(-14, "romiplostim"), dose(0)])
    assert of_type(out, "EpisodeStarted")[0].combination_with == ("romiplostim",)
    out = derive([dose(0), dose(15, "romiplostim")])
    assert of_type(out, "EpisodeStarted")[0].combination_with == ()
    # romiplostim given continuously before D1 is concomitant, not a combination start
    out = derive([dose(-30, "romiplostim"), dose(-7, "romiplostim"), dose(0)])
    assert of_type(out, "EpisodeStarted")[0].combination_with == ()
    # the response is still counted
    out = derive([dose(0), dose(3, "romiplostim"), count(10, 60), count(11, 60)])
    assert of_type(out, "ResponseAchieved")


def test_non_response_at_day_84_not_one_day_before() -> None:
    assert not of_type(derive([dose(0), count(10, 20), clock(83, 23)]), "NonResponseDeclared")
    out = derive([dose(0), count(10, 20), clock(84)])
    (nr,) = of_type(out, "NonResponseDeclared")
    assert nr.assessed_on == d(84) and nr.occurred_at.date() == d(84) and nr.occurred_at.hour == 0


def test_non_response_derived_by_any_later_event_with_deadline_time() -> None:
    out = derive([dose(0), count(100, 20)])
    (nr,) = of_type(out, "NonResponseDeclared")
    assert nr.assessed_on == d(84)


def test_response_before_day_84_prevents_non_response() -> None:
    out = derive([dose(0), count(70, 60), count(71, 60), clock(120)])
    assert not of_type(out, "NonResponseDeclared")


def test_sustained_remission_at_182_days() -> None:
    """Reached by an eligible count 182 days after onset (the response is known to last that long)."""
    events = [dose(0), count(10, 60), count(11, 70), count(100, 80), count(170, 90)]
    assert not of_type(derive([*events, count(191, 90)]), "SustainedRemissionReached")
    out = derive([*events, count(192, 75)])
    (sr,) = of_type(out, "SustainedRemissionReached")
    assert sr.reached_on == d(192) and sr.response_onset == d(10)


def test_sustained_remission_needs_a_count_not_only_time() -> None:
    """Time passing without counts shows nothing about the response: a clock tick reaches no remission."""
    events = [dose(0), count(10, 60), count(11, 70), count(100, 80), count(170, 90)]
    assert not of_type(derive([*events, clock(400)]), "SustainedRemissionReached")


def test_sustained_remission_not_from_a_failing_count() -> None:
    events = [dose(0), count(10, 60), count(11, 70), count(170, 90)]
    assert not of_type(derive([*events, count(195, 30)]), "SustainedRemissionReached")


def test_corrected_count_removes_response() -> None:
    c2 = count(12, 60, key="R2")
    corr = count(12, 30, key="R2", status=ResultStatus.CORRECTED, reported_day=14)
    assert of_type(derive([dose(0), count(10, 60), c2]), "ResponseAchieved")
    assert not of_type(derive([dose(0), count(10, 60), c2, corr]), "ResponseAchieved")


def test_older_version_never_replaces_newer() -> None:
    new = count(12, 60, key="R2", status=ResultStatus.CORRECTED, reported_day=14)
    old = count(12, 30, key="R2", reported_day=12)
    assert of_type(derive([dose(0), count(10, 60), old, new]), "ResponseAchieved")


def test_retracted_result_is_not_a_count() -> None:
    out = derive([dose(0), count(10, 60), count(12, 60, key="R2"), retract_result(13, "R2")])
    assert not of_type(out, "ResponseAchieved")


def test_retracted_administration_starts_no_episode() -> None:
    first = dose(0, key="A1")
    out = derive([first, retract_admin(1, "A1"), dose(5), count(10, 60), count(11, 60)])
    (ep,) = of_type(out, "EpisodeStarted")
    assert ep.d1 == d(5)
    assert of_type(out, "ResponseAchieved")[0].time_to_response_days == 5


def test_untracked_agent_starts_no_episode() -> None:
    assert types(derive([dose(0, "romiplostim"), count(10, 60), count(11, 60)])) == []


def test_low_count_alerts_in_tracked_patient() -> None:
    out = derive([count(-2, 5), dose(0), count(3, 15), count(4, 8), count(5, 10, censored="<")])
    assert alerts(out) == ["platelets-below-20", "platelets-below-10", "platelets-below-10"]
    sev = {a.alert: a.severity for a in of_type(out, "AlertRaised")}
    assert sev == {"platelets-below-20": "urgent", "platelets-below-10": "critical"}


def test_serious_infection_alert() -> None:
    out = derive(
        [
            dose(0),
            infection(3, serious=True),
            infection(4, grade=2),
            infection(5, severity="severe"),
            infection(6, grade=3),
            infection(7, serious=True, code="1234", category="infusion-reaction"),
        ]
    )
    assert alerts(out) == ["serious-infection", "serious-infection", "serious-infection"]


def test_missing_count_alert_while_responding() -> None:
    events = [dose(0), count(10, 60), count(11, 70)]
    assert "missing-count" not in alerts(derive([*events, clock(39, 23)]))
    out = derive([*events, clock(40)])
    (a,) = [x for x in of_type(out, "AlertRaised") if x.alert == "missing-count"]
    assert a.occurred_at.date() == d(40)


def test_early_stop_advisory() -> None:
    events = [dose(0), dose(7), count(10, 20)]
    assert "early-stop-advisory" not in alerts(derive([*events, clock(28, 23)]))
    out = derive([*events, clock(29)])
    assert "early-stop-advisory" in alerts(out)
    assert "responses may take up to 10 weeks" in of_type(out, "AlertRaised")[0].message
    # not after day 84
    assert "early-stop-advisory" not in alerts(derive([dose(0), dose(21), dose(42), dose(62), clock(100)]))
    assert "early-stop-advisory" in alerts(derive([dose(0), dose(21), dose(42), dose(61), clock(100)]))


def test_derived_event_envelope() -> None:
    from events import stable_event_id

    out = derive([dose(0), count(10, 60), count(11, 60)])
    for ev in out:
        assert ev.event_id == stable_event_id(ev.derivation_key)
        assert ev.stream == "MRN1" and ev.source.feed == "engine" and ev.source.sender == "rules:site"
        assert ev.source.message_id == ev.rule_id and ev.derivation_set == "canonical"
        assert len(ev.profile_version) == 12


# ----------------------------------------------------------------------------------------------------
# boundaries and guards found by the clause-coverage check (test_rules_clause_coverage.py)

RESPONDER = [dose(0), count(10, 60), count(11, 70)]
"""Response onset day 10, confirmed on day 11."""


def test_baseline_14_days_before_d1_is_used_15_days_is_imputed() -> None:
    """windows.baseline_days: [D1-14 d, D1] is the baseline window, day -15 falls back (imputed)."""
    ep = of_type(derive([count(-14, 12), dose(0)]), "EpisodeStarted")[0]
    assert ep.baseline == 12 and not ep.baseline_imputed
    ep = of_type(derive([count(-15, 12), dose(0)]), "EpisodeStarted")[0]
    assert ep.baseline == 12 and ep.baseline_imputed


def test_count_of_exactly_50_after_response_is_not_failing() -> None:
    """response.relapse_below: a failing count is < 50; exactly 50 keeps the response."""
    out = derive([*RESPONDER, count(20, 50), count(21, 50)])
    assert alerts(out) == [] and not of_type(out, "ResponseLost")
    out = derive([*RESPONDER, count(20, 49.9), count(21, 49.9)])
    assert alerts(out) == ["post-response-drop", "relapse-confirmed"]


def test_second_low_count_on_the_same_day_does_not_confirm_relapse() -> None:
    """site.relapse: two failing counts on one calendar day are one occasion, not a confirmed loss."""
    out = derive([*RESPONDER, count(20, 40, hour=8), count(20, 30, hour=16)])
    assert not of_type(out, "ResponseLost")
    assert alerts(out) == ["post-response-drop"]


def test_low_count_before_any_response_raises_no_loss_alert() -> None:
    """site.loss.first-low-count state: responder - a low count while assessing is no loss of response."""
    assert alerts(derive([dose(0), count(5, 30), count(6, 25)])) == []


def test_further_low_counts_after_relapse_raise_no_second_relapse_alert() -> None:
    """site.relapse state: responder - once relapsed, later low counts do not confirm the relapse again."""
    out = derive([*RESPONDER, count(20, 40), count(21, 30), count(22, 25), count(30, 35)])
    assert len(of_type(out, "ResponseLost")) == 1
    assert alerts(out) == ["post-response-drop", "relapse-confirmed"]


def test_complete_response_reached_from_responder() -> None:
    """site.complete-response state one_of [assessing, responder]: a responder can reach CR later."""
    out = derive([*RESPONDER, count(20, 100), count(21, 130)])
    (r,) = of_type(out, "ResponseAchieved")
    (cr,) = of_type(out, "CompleteResponseAchieved")
    assert r.onset == d(10) and cr.onset == d(20) and cr.time_to_response_days == 20


def test_no_complete_response_after_relapse_or_non_response() -> None:
    """site.complete-response state: after a relapse (or non-response) the episode's response is closed."""
    relapsed = [*RESPONDER, count(20, 40), count(21, 30)]
    out = derive([*relapsed, count(30, 120), count(31, 130)])
    assert of_type(out, "ResponseLost") and not of_type(out, "CompleteResponseAchieved")
    out = derive([dose(0), count(10, 20), count(90, 120), count(91, 130)])
    assert of_type(out, "NonResponseDeclared") and not of_type(out, "CompleteResponseAchieved")


def test_no_sustained_remission_after_relapse() -> None:
    """site.sustained-remission state: responder - good counts after a relapse are no remission of it."""
    relapsed = [*RESPONDER, count(20, 40), count(21, 30)]
    out = derive([*relapsed, count(200, 80), count(201, 90)])
    assert of_type(out, "ResponseLost") and not of_type(out, "SustainedRemissionReached")


def test_rescue_after_a_late_low_count_reaches_no_sustained_remission() -> None:
    """site.sustained-remission eligible: true - a count in the rescue window after a low count shows nothing.

    The low count 185 days after onset is failing; the IVIG rescue the next day breaks the failing run,
    and the count inside the rescue window is not eligible, so no remission can be read from it.
    """
    ivig = dose(196, "ivig", atc="J06BA02", mg=None, hour=11)
    out = derive([*RESPONDER, count(100, 80), count(195, 30), ivig, count(197, 60)])
    assert not of_type(out, "SustainedRemissionReached")


def test_untracked_agent_dose_during_episode_changes_nothing() -> None:
    """episode rules dose_of_tracked: an untracked ITP drug during an episode opens no episode."""
    out = derive([*RESPONDER, dose(70, "romiplostim", mg=0.25), dose(140, "eltrombopag", mg=50)])
    assert len(of_type(out, "EpisodeStarted")) == 1 and not of_type(out, "ReExposureStarted")


def test_serious_infection_before_first_dose_raises_no_alert() -> None:
    """alert.serious-infection tracked: only patients with a tracked episode are monitored."""
    assert alerts(derive([infection(-3, serious=True), dose(0)])) == []
    assert alerts(derive([dose(0), infection(3, serious=True)])) == ["serious-infection"]


def test_count_below_20_before_first_dose_raises_no_alert() -> None:
    """alert.platelets-below-20 tracked: a low count before D1 is not an alert (the patient is not tracked)."""
    assert alerts(derive([count(-3, 15), count(-2, 5), dose(0)])) == []


def test_low_count_alert_boundaries_and_censored_counts() -> None:
    """alert.platelets-below-20 / -10: 10 <= count < 20 urgent, < 10 critical; '<v' by what v proves."""
    out = derive([dose(0), count(1, 20), count(2, 19.9), count(3, 10), count(4, 9.9)])
    assert alerts(out) == ["platelets-below-20", "platelets-below-20", "platelets-below-10"]
    # '<15' is certainly below 20 but not known to be below 10; '<10' is below 10; '<21' proves nothing
    out = derive([dose(0), count(1, 15, censored="<"), count(2, 10, censored="<"), count(3, 21, censored="<")])
    assert alerts(out) == ["platelets-below-20", "platelets-below-10"]
    out = derive([dose(0), count(1, 20, censored="<"), count(2, 10.5, censored="<")])
    assert alerts(out) == ["platelets-below-20", "platelets-below-20"]
