"""Events in words a hematologist reads at the ward, for the patient page (the CLI keeps engine.audit.describe,
which is complete but written for engineers). Anything not worded here falls back to describe()."""

from __future__ import annotations

from engine.audit import describe
from engine.web.formatting import count, days
from events import (
    AdverseEventReported,
    AlertAcknowledged,
    AlertRaised,
    BleedingReported,
    CompleteResponseAchieved,
    CompleteResponseLost,
    DerivationRevised,
    DrugAdministered,
    EpisodeStarted,
    Event,
    NonResponseDeclared,
    PatientDemographics,
    PatientEnrolled,
    PlateletCountRecorded,
    ReExposureStarted,
    ResponseAchieved,
    ResponseLost,
    SustainedRemissionReached,
)


def words(e: Event) -> str:
    if isinstance(e, PlateletCountRecorded):
        value = "no value" if e.value is None else count(e.value, e.censored)
        status = "" if e.status.value == "final" else f", {e.status.value}"
        return f"platelets {value} (reported as {e.original_value} {e.original_unit}{status})"
    if isinstance(e, DrugAdministered):
        dose = "" if e.dose is None else f" {e.dose:g} {e.dose_unit or ''}".rstrip()
        route = f" {e.route}" if e.route else ""
        status = "" if e.completion.value in ("complete", "CP") else f" ({e.completion.value})"
        return f"{e.agent}{dose}{route}{status}"
    if isinstance(e, PatientDemographics):
        born = f", born {e.birth_date.isoformat()}" if e.birth_date else ""
        return f"{e.sex}{born}"
    if isinstance(e, PatientEnrolled):
        parts = [f"diagnosed {e.diagnosis_date.isoformat()}" if e.diagnosis_date else None,
                 f"{e.itp_type} ITP" if e.itp_type else None,
                 f"{e.prior_lines} prior lines" if e.prior_lines is not None else None]
        return "enrolled: " + ", ".join(p for p in parts if p)
    if isinstance(e, EpisodeStarted):
        text = f"{e.agent} D1 {e.d1.isoformat()}"
        if e.baseline is not None:
            text += f", baseline {count(e.baseline)}{' (imputed)' if e.baseline_imputed else ''}"
        if e.reexposure:
            text += ", re-exposure"
        if e.combination_with:
            text += f", together with {', '.join(e.combination_with)}"
        return text
    if isinstance(e, ResponseAchieved | CompleteResponseAchieved):
        return f"onset {e.onset.isoformat()}, {days(e.time_to_response_days)} after D1"
    if isinstance(e, CompleteResponseLost):
        return f"onset {e.onset.isoformat()}; the complete response lasted {days(e.complete_response_duration_days)}"
    if isinstance(e, ResponseLost):
        return f"onset {e.onset.isoformat()}; the response lasted {days(e.response_duration_days)}"
    if isinstance(e, ReExposureStarted):
        why = "after relapse" if e.reason == "after-relapse" else "after a gap"
        return f"{why}, {days(e.days_since_previous)} after episode {e.previous_episode}"
    if isinstance(e, SustainedRemissionReached):
        return f"reached {e.reached_on.isoformat()} (response since {e.response_onset.isoformat()})"
    if isinstance(e, NonResponseDeclared):
        return f"assessed {e.assessed_on.isoformat()}"
    if isinstance(e, AlertRaised):
        return f"[{e.severity}] {e.message}"
    if isinstance(e, DerivationRevised):
        n = len(e.supersedes)
        return f"{n} earlier decision{'s' if n != 1 else ''} no longer hold{'s' if n == 1 else ''}: {e.reason}"
    if isinstance(e, AlertAcknowledged):
        return f"alert acknowledged by {e.by}" + (f": {e.note}" if e.note else "")
    if isinstance(e, AdverseEventReported):
        grade = f", grade {e.grade}" if e.grade else ""
        serious = ", serious" if e.serious else ""
        return f"adverse event {e.term_display or e.term_code or ''}{grade}{serious}".strip()
    if isinstance(e, BleedingReported):
        return f"bleeding, WHO grade {e.who_grade}" + (f" ({e.site})" if e.site else "")
    return describe(e)
