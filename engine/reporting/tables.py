"""The report's tables and header as plain cells, so the HTML page and the Word document say the same.

Cells carry their kind (text, number, date, label) so a renderer can align numbers and keep dates on one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from engine.reporting.model import MONTH_DAYS, WEEK_DAYS, Report, ResponseStatus
from engine.reporting.text import num

STATUS_TEXT: dict[ResponseStatus, str] = {
    "ongoing": "ongoing",
    "censored": "censored at last follow-up",
    "relapsed": "relapsed",
}


@dataclass(frozen=True)
class Cell:
    text: str
    kind: Literal["text", "number", "date", "label"] = "text"
    """number: right-aligned; date and label: kept on one line."""


Table = tuple[list[str], list[list[Cell]]]

_NONE = Cell("–")


def _number(value: float | int | None, digits: int = 1) -> Cell:
    return _NONE if value is None else Cell(num(value, digits), "number")


def _date(value: date | None) -> Cell:
    return _NONE if value is None else Cell(value.isoformat(), "date")


def _yes(value: bool) -> Cell:
    return Cell("yes" if value else "no")


def _text(value: str | None) -> Cell:
    return _NONE if not value else Cell(value)


def header_facts(report: Report) -> list[tuple[str, str]]:
    """What a reader must know before the first figure: agent, profile, data cut, follow-up, labels."""
    if report.data_cut is None:
        cut = "none (empty log)"
    else:
        why = "requested (--as-of)" if report.data_cut_source == "as-of" else "latest valid time in the log"
        cut = f"{report.data_cut.isoformat(sep=' ', timespec='minutes')} — {why}"
    n = len(report.patients)
    if report.pseudonymized:
        labels = f"{n}, pseudonymised as P1–P{n} by first dose (no MRN, no birth date); dates are not shifted"
    else:
        labels = f"{n}, labelled by MRN (hospital identifier: do not share outside the hospital)"
    facts = [
        ("Agent", report.agent),
        ("Rule profile", f"{report.profile}, version {report.profile_version}"),
        ("Data cut", cut),
        ("Patients", labels),
    ]
    if report.follow_up_window_days is not None:
        facts.append((
            "Follow-up",
            f"a response without relapse is ongoing when an eligible count lies within "
            f"{report.follow_up_window_days} days before the data cut, otherwise censored at the last "
            f"follow-up (its last eligible count)",
        ))
    return facts


def patient_table(report: Report) -> Table:
    headers = ["Patient", "Sex", "Age at D1 (y)", "ITP type", "Disease duration (y)", "Prior lines",
               "Applications", "Cumulative dose (mg)", "AEs", "Serious infections", "Episodes", "Last follow-up"]
    rows = [
        [
            Cell(r.patient),
            Cell(r.sex),
            _number(r.age_at_first_dose),
            _text(r.itp_type),
            _number(r.disease_duration_years),
            _number(r.prior_lines),
            _number(r.applications),
            _number(r.cumulative_dose_mg),
            _number(r.adverse_events),
            _number(r.serious_infections),
            _number(len(r.episodes)),
            _date(r.last_follow_up),
        ]
        for r in report.patients
    ]
    return headers, rows


def _with_unit(days: int | None, per: float) -> Cell:
    """'974 (32)': days with weeks or months in brackets, one column instead of two."""
    return _NONE if days is None else Cell(f"{days} ({num(days / per)})", "number")


def episode_table(report: Report) -> Table:
    """One row per episode; the CR-loss column only when some episode has one (IWG 2009)."""
    cr_lost = any(e.complete_response_lost_onset for r in report.patients for e in r.episodes)
    headers = ["Patient", "Ep.", "D1", "Baseline (× 10⁹/L)", "Re-exposure", "Combination", "Best response",
               "Response onset", "TTR, days (weeks)", "Relapse onset", "Duration, days (months)",
               "Status at data cut", "Sustained remission"]
    if cr_lost:
        headers.append("CR lost")
    rows: list[list[Cell]] = []
    for r in report.patients:
        for e in r.episodes:
            row = [
                Cell(r.patient),
                _number(e.index),
                _date(e.start),
                _number(e.baseline),
                _yes(e.reexposure),
                _text(", ".join(e.combination_with)),
                Cell(e.best_response),
                _date(e.response_onset),
                _with_unit(e.time_to_response_days, WEEK_DAYS),
                _date(e.relapse_onset),
                _with_unit(e.response_duration_days, MONTH_DAYS),
                Cell(STATUS_TEXT[e.response_status], "label") if e.response_status else _NONE,
                _yes(e.sustained_remission),
            ]
            if cr_lost:
                row.append(_date(e.complete_response_lost_onset))
            rows.append(row)
    return headers, rows
