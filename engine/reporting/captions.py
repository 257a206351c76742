"""Figure captions and the criteria sentence: what a journal wants under a figure, written from the data.

A caption says what is shown, for how many patients, at which data cut and under which rule profile and
version (the version is a content hash: it belongs here and in the file metadata, never in a title). The
criteria are written from the profile's numbers, so a site that edits its profile gets captions that
state its own rule. Pure text, no matplotlib: the HTML page and the Word document use the same captions.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.reporting.model import Episode, PatientRow, Report
from engine.reporting.text import long_date, num, spell
from rules import Profile

UNIT = "× 10⁹/L"


@dataclass(frozen=True)
class Caption:
    """One numbered figure: file stem, short title (drawn on the plot) and the full caption text."""

    number: int
    stem: str
    title: str
    text: str

    @property
    def label(self) -> str:
        return f"Figure {self.number}"

    def full(self) -> str:
        return f"{self.label}. {self.text}"


def _apart(days: int) -> str:
    return "on different days" if days <= 1 else f"at least {days} days apart"


def criteria(profile: Profile) -> str:
    """The response, complete response and relapse definitions of the profile in one or two sentences."""
    r = profile.response
    doubling = " and ≥ 2 × baseline" if r.doubling_of_baseline else ""
    between = " with none failing between" if profile.confirmation.none_failing_between else ""
    bleeding = (
        f", without bleeding of WHO grade ≥ {profile.bleeding.min_who_grade}"
        if profile.bleeding.voids_response
        else ""
    )
    failing = (
        "failing the response criterion"
        if r.doubling_of_baseline or profile.bleeding.voids_response
        else f"< {num(r.relapse_below)} {UNIT}"
    )
    return (
        f"Response: two eligible platelet counts ≥ {num(r.response)} {UNIT}{doubling} "
        f"{_apart(profile.confirmation.min_days_apart)}{between}{bleeding} (onset = the first); "
        f"complete response: likewise ≥ {num(r.complete)} {UNIT}; relapse: after a response, two eligible "
        f"counts {failing} {_apart(profile.loss_confirmation.min_days_apart)}. Eligible counts are final, "
        f"corrected or amended results outside rescue windows ({profile.windows.rescue_days} days from a "
        f"rescue therapy)."
    )


def provenance(report: Report) -> str:
    """Data cut, profile and version: the sentence that makes a figure reproducible."""
    cut = f"Data cut {long_date(report.data_cut.date())}" if report.data_cut is not None else "No data cut"
    return f"{cut}; rule profile {report.profile}, version {report.profile_version}."


def _follow_up_rule(report: Report) -> str:
    window = report.follow_up_window_days
    return f"no eligible count within {window} days before the data cut" if window else "no recent count"


def swimmer_caption(report: Report, profile: Profile, number: int = 1) -> Caption:
    n = len(report.patients)
    text = (
        f"Course of the {n} patient{'s' if n != 1 else ''} treated with {report.agent}, one lane per patient "
        f"from the first dose (D1); months since D1 (days / 30.4375). Bars show the state derived by the "
        f"rules; markers show response onset, relapse onset, non-response (declared on day "
        f"{profile.windows.non_response_day} without a confirmed response), re-exposure (a new episode, with "
        f"any combination agent named) and doses. An arrow marks a response ongoing at the data cut, a "
        f"vertical bar a response censored at the last follow-up ({_follow_up_rule(report)}). "
        f"{criteria(profile)} {provenance(report)}"
    )
    return Caption(number, "swimmer", f"Course of treatment per patient — {report.agent}", text)


def km_caption(report: Report, number: int = 2) -> Caption:
    firsts = [first_response(row) for row in report.patients]
    responses = [e for e in firsts if e is not None and e.response_duration_days is not None]
    relapses = sum(e.response_status == "relapsed" for e in responses)
    ongoing = sum(e.response_status == "ongoing" for e in responses)
    censored = sum(e.response_status == "censored" for e in responses)
    text = (
        f"Kaplan–Meier estimate of the duration of the first response to {report.agent} "
        f"(n = {len(responses)} responders of {len(report.patients)} patients), with 95 % confidence band "
        f"(exponential Greenwood) and numbers at risk. Start: response onset; event: relapse "
        f"({relapses}); responses without relapse are censored at their last eligible count: {ongoing} "
        f"ongoing at the data cut, {censored} censored at the last follow-up ({_follow_up_rule(report)}). "
        f"Months = days / 30.4375. {provenance(report)}"
    )
    return Caption(number, "km_response_duration", f"Duration of response — {report.agent}", text)


def platelet_caption(report: Report, profile: Profile, row: PatientRow, stem: str, number: int) -> Caption:
    episodes = len(row.episodes)
    text = (
        f"Platelet counts of patient {row.patient} under {report.agent} ({spell(episodes)} treatment "
        f"episode{'s' if episodes != 1 else ''}), log scale, {UNIT}. Filled dots: eligible counts; hollow "
        f"dots: counts inside a rescue window (not eligible). Horizontal lines: the profile's thresholds and "
        f"the episode baseline; vertical lines: D1, response onset, relapse onset, non-response; ticks: "
        f"doses. {criteria(profile)} {provenance(report)}"
    )
    return Caption(number, stem, f"Platelet counts — patient {row.patient}", text)


def first_response(row: PatientRow) -> Episode | None:
    """The first episode with a response (the one the Kaplan–Meier curve follows)."""
    return next((e for e in row.episodes if e.response_onset is not None), None)
