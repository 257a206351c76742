"""The report JSON: a documented, stable schema (docs/report.md) that downstream tools may rely on.

Models are frozen and forbid extra fields so that a schema change is a deliberate code change, never an
accident of a dict built somewhere else. Dates serialise as ISO dates, durations are integer days;
derived figures in weeks or months are given alongside with their conversion stated in the docs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

BestResponse = Literal["CR", "R", "NR", "pending"]
ResponseStatus = Literal["ongoing", "censored", "relapsed"]
"""At the data cut: still observed in response, censored at the last follow-up, or lost (relapse)."""

WEEK_DAYS = 7.0
MONTH_DAYS = 30.4375
"""domain.md A8: months = days / 30.4375 (the mean Gregorian month)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Episode(_Frozen):
    """One treatment episode of the agent, as the rules derived it."""

    index: int
    start: date
    baseline: float | None
    combination_with: list[str]
    reexposure: bool
    best_response: BestResponse
    response_onset: date | None
    time_to_response_days: int | None
    relapse_onset: date | None
    response_duration_days: int | None
    ongoing: bool
    sustained_remission: bool
    complete_response_lost_onset: date | None = None
    """Added after the first schema: IWG 2009 loss of CR while R may continue (docs/report.md)."""
    response_status: ResponseStatus | None = None
    """Added with the data cut: ongoing / censored at last follow-up / relapsed; None without a response."""


class PatientRow(_Frozen):
    """One cohort patient; `patient` is the pseudonymous stream key, never a name."""

    patient: str
    sex: Literal["female", "male", "other", "unknown"]
    age_at_first_dose: int | None
    itp_type: Literal["primary", "secondary"] | None
    disease_duration_years: float | None
    prior_lines: int | None
    applications: int
    cumulative_dose_mg: float | None
    adverse_events: int
    serious_infections: int
    episodes: list[Episode]
    last_follow_up: date | None = None
    """Added with the data cut: the patient's last eligible count up to the cut (the censoring date)."""


class Range(_Frozen):
    """Median and range of a cohort figure over the patients where it is known (n of them)."""

    n: int
    median: int | float | None
    min: int | float | None
    max: int | float | None


class ResponseRate(_Frozen):
    """Responders / patients with an exact (Clopper–Pearson) confidence interval, in percent."""

    responders: int
    patients: int
    percent: float | None
    ci_low_percent: float | None
    ci_high_percent: float | None
    confidence: float
    method: Literal["clopper-pearson"] = "clopper-pearson"


class Relapse(_Frozen):
    patient: str
    episode: int
    onset: date
    days_after_response: int
    months_after_response: float


class ReExposure(_Frozen):
    patient: str
    episode: int
    start: date
    combination_with: list[str]
    days_after_relapse: int | None
    months_after_relapse: float | None
    outcome: BestResponse


class OngoingRemission(_Frozen):
    patient: str
    episode: int
    response_onset: date
    days: int
    months: float
    sustained_remission: bool
    status: Literal["ongoing", "censored"] = "ongoing"
    """Added with the data cut: a response not lost is either still observed or censored."""


class Summary(_Frozen):
    """What a results section states about the cohort (seed abstract order)."""

    patients: int
    female: int
    male: int
    age_years: Range
    secondary_itp: int
    disease_duration_years: Range
    applications: Range
    responders: int
    complete_responders: int
    non_responders: int
    pending: int
    response_rate: ResponseRate
    time_to_response_days: Range
    time_to_response_weeks: Range
    relapses: list[Relapse]
    reexposures: list[ReExposure]
    ongoing_remissions: list[OngoingRemission]
    serious_infections: int
    patients_with_serious_infection: int


class Report(_Frozen):
    agent: str
    profile: str
    profile_version: str
    as_of: datetime | None
    summary: Summary
    patients: list[PatientRow]
    data_cut: datetime | None = None
    """Added: the cut applied, `as_of` or else the latest valid time of the log (None for an empty log)."""
    data_cut_source: Literal["as-of", "latest-valid-time"] | None = None
    follow_up_window_days: int | None = None
    """Added: the profile's window (follow_up.ongoing_window_days) that separates ongoing from censored."""
    pseudonymized: bool = False
    """Added: patients are P1..Pn (by first dose) instead of their MRN."""
