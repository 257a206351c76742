"""Clinical facts as the hospital's feeds report them, normalised but never interpreted."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from events.base import Event


class ResultStatus(StrEnum):
    """HL7 table 0085 / FHIR Observation.status, reduced to what the rules distinguish."""

    PRELIMINARY = "preliminary"  # P: stored, never a count
    FINAL = "final"  # F
    CORRECTED = "corrected"  # C: replaces the earlier version of the same result
    AMENDED = "amended"  # A: as C
    CANCELLED = "cancelled"  # X: no value
    ENTERED_IN_ERROR = "entered-in-error"  # D / W: retracts
    OTHER = "other"  # I, R, S, U, N, O, V, B: stored only


COUNTING_STATUSES = frozenset({ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.AMENDED})


class CompletionStatus(StrEnum):
    """HL7 table 0322 / FHIR MedicationAdministration.status."""

    COMPLETE = "complete"  # CP / completed
    PARTIAL = "partial"  # PA
    NOT_ADMINISTERED = "not-administered"  # NA / not-done
    REFUSED = "refused"  # RE
    OTHER = "other"  # in-progress, on-hold, stopped, unknown


GIVEN_STATUSES = frozenset({CompletionStatus.COMPLETE, CompletionStatus.PARTIAL})


class PatientEnrolled(Event):
    type: Literal["PatientEnrolled"] = "PatientEnrolled"
    diagnosis_date: date | None = None
    itp_type: Literal["primary", "secondary"] | None = None
    prior_lines: int | None = Field(default=None, ge=0)


class PatientDemographics(Event):
    """Birth date and sex only: names and addresses never enter the store."""

    type: Literal["PatientDemographics"] = "PatientDemographics"
    birth_date: date | None = None
    sex: Literal["female", "male", "other", "unknown"] = "unknown"


class PatientMerged(Event):
    """ADT^A40: the events of merged_stream belong to this event's stream from now on (history untouched)."""

    type: Literal["PatientMerged"] = "PatientMerged"
    merged_stream: str


class FhirPatientLinked(Event):
    """A FHIR Patient id of one source system names this stream's patient (ids only, never names).

    How a later FHIR reference `Patient/{id}` and a CDS Hooks `context.patientId` find the MRN. Not a
    clinical fact: it never reaches the rules and never moves a patient's clock.
    """

    CLINICAL: ClassVar[bool] = False

    type: Literal["FhirPatientLinked"] = "FhirPatientLinked"
    source_system: str
    """meta.source of the Patient without its fragment, else "fhir"."""
    patient_id: str
    """The Patient's logical id in that system."""


class PlateletCountRecorded(Event):
    """One platelet result version; a corrected or amended version replaces earlier ones of the same key."""

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = 2

    type: Literal["PlateletCountRecorded"] = "PlateletCountRecorded"
    value: float | None
    """Count in 10^9/L after unit normalisation; None when the result carries no value."""
    original_value: str
    original_unit: str
    code: str
    code_system: str
    status: ResultStatus
    result_key: str
    """Natural key matching versions of one result: filler order number + code + sub-id."""
    reported_at: AwareDatetime | None = None
    """Version time of the result (OBR-22, else MSH-7; FHIR issued): orders versions, never arrival."""
    censored: Literal["<", ">"] | None = None
    """Set for values like "<10": the true count is below (or above) value."""
    specimen: str | None = None


class ResultRetracted(Event):
    """OBX-11 D/W or FHIR entered-in-error: the result with this key is not a count any more."""

    type: Literal["ResultRetracted"] = "ResultRetracted"
    result_key: str
    reason: str = "entered-in-error"
    reported_at: AwareDatetime | None = None
    """Version time of the retraction (FHIR meta.lastUpdated): it competes with the result's versions."""


class DrugAdministered(Event):
    type: Literal["DrugAdministered"] = "DrugAdministered"
    agent: str
    """Canonical agent name from the site's synonym table (daratumumab, romiplostim, ivig, ...)."""
    atc_code: str | None = None
    original_code: str
    original_text: str | None = None
    dose: float | None = None
    dose_unit: str | None = None
    route: str | None = None
    completion: CompletionStatus = CompletionStatus.COMPLETE
    administration_key: str
    """Natural key matching later actions on the same administration (RXA-21 D, FHIR entered-in-error)."""
    reported_at: AwareDatetime | None = None
    """Version time (FHIR meta.lastUpdated): the latest version of an administration_key wins."""


class AdministrationRetracted(Event):
    type: Literal["AdministrationRetracted"] = "AdministrationRetracted"
    administration_key: str
    reason: str = "entered-in-error"
    reported_at: AwareDatetime | None = None
    """Version time of the retraction (FHIR meta.lastUpdated): it competes with the administration's versions."""


class AdverseEventReported(Event):
    type: Literal["AdverseEventReported"] = "AdverseEventReported"
    term_code: str | None = None
    term_system: str | None = None
    term_display: str | None = None
    category: str | None = None
    """As the source states it (e.g. 'infection', 'infusion-reaction'); the profile classifies the code."""
    grade: int | None = Field(default=None, ge=1, le=5)
    """CTCAE grade when known."""
    severity: Literal["mild", "moderate", "severe"] | None = None
    serious: bool | None = None
    ae_key: str


class BleedingReported(Event):
    type: Literal["BleedingReported"] = "BleedingReported"
    who_grade: int = Field(ge=0, le=4)
    site: str | None = None


class BodyWeightRecorded(Event):
    """Needed for weight-based doses and the prednisolone >= 1 mg/kg rescue threshold."""

    type: Literal["BodyWeightRecorded"] = "BodyWeightRecorded"
    kg: float = Field(gt=0, lt=500)


class ClockAdvanced(Event):
    """Event time moves on without a clinical event (itpwatch tick). Lives in CLOCK_STREAM."""

    type: Literal["ClockAdvanced"] = "ClockAdvanced"


class AlertAcknowledged(Event):
    """A person saw an alert. A user action, not a clinical fact nor a derivation."""

    CLINICAL: ClassVar[bool] = False

    type: Literal["AlertAcknowledged"] = "AlertAcknowledged"
    alert_event_id: str
    by: str
    note: str | None = None
