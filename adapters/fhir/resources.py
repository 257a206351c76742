"""One validated FHIR R4 resource -> the events it states.

Resources are validated with `fhir.resources.R4B` (R4-compatible; the package root is R5 and rejects R4
content). The library does not enforce code bindings, so every status and severity code is checked
here against the R4 value set: an unknown code rejects the resource with its FHIR path. Elements R4
requires (and the subject itself, which itpwatch needs) are checked before relevance, so an Observation
without `code` is rejected naming `Observation.code`, never skipped as "not a platelet count".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class

from adapters.base import Accepted, Outcome, Skipped
from adapters.fhir.context import BundleIndex, FhirReject, as_date, aware, patient_key_of, subject_key
from adapters.fhir.versions import ResourceVersion
from adapters.mapping import SiteMapping
from events import (
    AdministrationRetracted,
    AdverseEventReported,
    CompletionStatus,
    DrugAdministered,
    Event,
    FhirPatientLinked,
    PatientDemographics,
    PatientEnrolled,
    PlateletCountRecorded,
    ResultRetracted,
    ResultStatus,
    Source,
    stable_event_id,
)

MAX_PLATELETS = 2000.0
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC_SYSTEMS = ("http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73")
SNOMED = "http://snomed.info/sct"
ITP_SNOMED = frozenset({"32273002", "2897005", "13172003"})
ITP_ICD10_PREFIX = "D69.3"

_OBS_STATUS: dict[str, ResultStatus | None] = {
    "registered": ResultStatus.OTHER,
    "preliminary": ResultStatus.PRELIMINARY,
    "final": ResultStatus.FINAL,
    "amended": ResultStatus.AMENDED,
    "corrected": ResultStatus.CORRECTED,
    "cancelled": ResultStatus.CANCELLED,
    "entered-in-error": None,
    "unknown": ResultStatus.OTHER,
}
_VALUE_REQUIRED = frozenset({ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.AMENDED})
_MA_STATUS: dict[str, CompletionStatus | None] = {
    "completed": CompletionStatus.COMPLETE,
    "not-done": CompletionStatus.NOT_ADMINISTERED,
    "entered-in-error": None,
    "in-progress": CompletionStatus.OTHER,
    "on-hold": CompletionStatus.OTHER,
    "stopped": CompletionStatus.OTHER,
    "unknown": CompletionStatus.OTHER,
}
_SEVERITY: dict[str, Literal["mild", "moderate", "severe"]] = {
    "mild": "mild",
    "moderate": "moderate",
    "severe": "severe",
}
_GENDER: dict[str, Literal["female", "male", "other", "unknown"]] = {
    "female": "female",
    "male": "male",
    "other": "other",
    "unknown": "unknown",
}


@dataclass(frozen=True, slots=True)
class ResourceCtx:
    """What converting one resource needs: where it sits and how to name its events."""

    resource: dict[str, Any]
    full_url: str | None
    index: BundleIndex
    version: ResourceVersion
    source: Source
    mapping: SiteMapping
    tz: tzinfo
    received_at: datetime

    def event_id(self, kind: str) -> Any:
        return stable_event_id(self.source.sender or "fhir", self.source.message_id or "", kind)

    def base(self, stream: str, occurred_at: datetime, kind: str) -> dict[str, Any]:
        return {
            "event_id": self.event_id(kind),
            "stream": stream,
            "occurred_at": occurred_at,
            "recorded_at": self.received_at,
            "source": self.source,
        }


RELEVANT = ("Observation", "MedicationAdministration", "AdverseEvent", "Condition", "Patient")

REQUIRED: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    # FHIR R4 1..1 elements as (name, the JSON keys that satisfy it). subject is 0..1 in R4 for some of
    # these, but a fact without a patient cannot be stored.
    "Observation": (("status", ("status",)), ("code", ("code",))),
    "MedicationAdministration": (
        ("status", ("status",)),
        ("medication[x]", ("medicationCodeableConcept", "medicationReference")),
        ("subject", ("subject",)),
        ("effective[x]", ("effectiveDateTime", "effectivePeriod")),
    ),
    "AdverseEvent": (("actuality", ("actuality",)), ("subject", ("subject",))),
    "Condition": (("subject", ("subject",)),),
}


def convert(ctx: ResourceCtx) -> Outcome:
    """The Outcome of one resource: Accepted events, Skipped when not relevant; raises FhirReject."""
    rtype = str(ctx.resource.get("resourceType"))
    if rtype not in RELEVANT:
        return Skipped(f"{rtype}: resource type not relevant")
    _check_required(rtype, ctx.resource)
    if rtype == "Observation" and _platelet_coding(ctx.resource.get("code"), ctx.mapping) is None:
        return Skipped("Observation: not a platelet count")
    if rtype == "Condition" and not _is_itp(ctx.resource.get("code")):
        return Skipped("Condition: not an ITP diagnosis")
    model = _validate(rtype, ctx.resource)
    if rtype == "Observation":
        return _observation(model, ctx)
    if rtype == "MedicationAdministration":
        return _medication_administration(model, ctx)
    if rtype == "AdverseEvent":
        return _adverse_event(model, ctx)
    if rtype == "Condition":
        return _condition(model, ctx)
    return _patient(model, ctx)


def _check_required(rtype: str, resource: dict[str, Any]) -> None:
    """A missing required element is a rejection naming it (HL7 0357 code 101), before anything else."""
    for name, keys in REQUIRED.get(rtype, ()):
        if all(resource.get(key) in (None, "", [], {}) for key in keys):
            raise FhirReject(f"required element {rtype}.{name} is missing", f"{rtype}.{name}", "101")
    if rtype == "Observation" and resource.get("code") is not None and not isinstance(resource["code"], dict):
        raise FhirReject("Observation.code is not a CodeableConcept", "Observation.code", "102")
    if rtype == "Observation" and isinstance(resource.get("code"), dict) and not (
            resource["code"].get("coding") or resource["code"].get("text")):
        raise FhirReject("Observation.code has neither coding nor text", "Observation.code", "101")


def _validate(rtype: str, resource: dict[str, Any]) -> Any:
    try:
        return get_fhir_model_class(rtype).model_validate(resource)
    except Exception as exc:  # pydantic ValidationError, or an unknown type
        first = str(exc).splitlines()[:3]
        raise FhirReject(f"invalid FHIR R4 {rtype}: {' | '.join(first)}", rtype, "102") from exc


def _codings(cc: Any) -> list[dict[str, Any]]:
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or [] if isinstance(c, dict)]


def _platelet_coding(code: Any, mapping: SiteMapping) -> tuple[str, str] | None:
    for coding in _codings(code):
        c, system = str(coding.get("code") or ""), str(coding.get("system") or "")
        if mapping.platelet_code(c, system):
            return c, system or LOINC
    return None


def _is_itp(code: Any) -> bool:
    for coding in _codings(code):
        c, system = str(coding.get("code") or "").strip(), str(coding.get("system") or "").lower()
        if "icd-10" in system or "icd10" in system:
            if c.upper().startswith(ITP_ICD10_PREFIX):
                return True
        elif system == SNOMED and c in ITP_SNOMED:
            return True
    return False


def _key(ctx: ResourceCtx, fallback_kind: str) -> str:
    """What every version of the resource shares: source, type and id; else its business identifier."""
    rid = ctx.resource.get("id")
    if isinstance(rid, str) and rid:
        return ctx.version.logical_key
    for ident in ctx.resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("value"):
            return f"{ident.get('system') or ''}|{ident['value']}"
    if isinstance(ctx.resource.get("identifier"), dict) and ctx.resource["identifier"].get("value"):
        ident = ctx.resource["identifier"]
        return f"{ident.get('system') or ''}|{ident['value']}"
    return f"{fallback_kind}/{ctx.source.message_id}"


# ----------------------------------------------------------------------------------------- Observation
def _observation(obs: Any, ctx: ResourceCtx) -> Outcome:
    coded = _platelet_coding(ctx.resource.get("code"), ctx.mapping)
    assert coded is not None
    code, system = coded
    status_text = str(obs.status)
    if status_text not in _OBS_STATUS:
        raise FhirReject(f"unknown Observation.status {status_text!r}", "Observation.status", "103")
    status = _OBS_STATUS[status_text]
    stream = subject_key(ctx.resource.get("subject"), ctx.index, ctx.mapping, "Observation.subject",
                         ctx.version.source)
    inherited = ctx.index.inherited
    period = obs.effectivePeriod
    occurred = (
        aware(obs.effectiveDateTime, ctx.tz)
        or aware(obs.effectiveInstant, ctx.tz)
        or aware(period.start if period is not None else None, ctx.tz)
        or aware(inherited(ctx.resource, ctx.full_url, "effectiveDateTime"), ctx.tz)
        or aware((inherited(ctx.resource, ctx.full_url, "effectivePeriod") or {}).get("start"), ctx.tz)
    )
    if occurred is None:
        raise FhirReject(
            "no effective time (effective[x], or its DiagnosticReport)", "Observation.effective", "101"
        )
    reported = (
        ctx.version.version_time
        or aware(obs.issued, ctx.tz)
        or aware(inherited(ctx.resource, ctx.full_url, "issued"), ctx.tz)
    )
    result_key = _key(ctx, "Observation")
    if status is None:
        event: Event = ResultRetracted(
            **ctx.base(stream, occurred, "result-retracted"), result_key=result_key, reported_at=reported
        )
        return Accepted(events=(event,))

    qty = obs.valueQuantity
    value: float | None = None
    censored: Literal["<", ">"] | None = None
    original_value, original_unit = "", ""
    if qty is None or qty.value is None:
        if status in _VALUE_REQUIRED:
            raise FhirReject("platelet count without valueQuantity", "Observation.valueQuantity", "101")
    else:
        original_value = str(qty.value)
        unit_code, unit_text = (qty.code or "").strip(), (qty.unit or "").strip()
        original_unit = unit_code or unit_text
        factor = ctx.mapping.unit_factor(unit_code) if unit_code else None
        if factor is None and unit_text:
            factor = ctx.mapping.unit_factor(unit_text)
        if factor is None:
            path = "Observation.valueQuantity.code" if unit_code else "Observation.valueQuantity.unit"
            raise FhirReject(
                f"unit {original_unit!r} not in unit map", path, "103" if original_unit else "101"
            )
        value = round(float(qty.value) * factor, 6)
        if not 0.0 <= value <= MAX_PLATELETS:
            raise FhirReject(
                f"implausible platelet count {value} x10^9/L", "Observation.valueQuantity.value", "102"
            )
        comparator = qty.comparator or ""
        censored = "<" if comparator.startswith("<") else ">" if comparator.startswith(">") else None
    event = PlateletCountRecorded(
        **ctx.base(stream, occurred, "platelets"),
        value=value,
        original_value=original_value,
        original_unit=original_unit,
        code=code,
        code_system=system,
        status=status,
        result_key=result_key,
        reported_at=reported,
        censored=censored,
    )
    return Accepted(events=(event,))


# ------------------------------------------------------------------------------ MedicationAdministration
def _medication_concept(ma: Any, ctx: ResourceCtx) -> dict[str, Any] | None:
    if isinstance(ctx.resource.get("medicationCodeableConcept"), dict):
        concept: dict[str, Any] = ctx.resource["medicationCodeableConcept"]
        return concept
    ref = (ctx.resource.get("medicationReference") or {}).get("reference")
    if not isinstance(ref, str):
        return None
    if ref.startswith("#"):
        for contained in ctx.resource.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                code = contained.get("code")
                return code if isinstance(code, dict) else None
        return None
    med = ctx.index.resolve(ref)
    code = med.get("code") if med else None
    return code if isinstance(code, dict) else None


def _medication_administration(ma: Any, ctx: ResourceCtx) -> Outcome:
    status_text = str(ma.status)
    if status_text not in _MA_STATUS:
        raise FhirReject(
            f"unknown MedicationAdministration.status {status_text!r}",
            "MedicationAdministration.status",
            "103",
        )
    concept = _medication_concept(ma, ctx) or {}
    codings = _codings(concept)
    atc_codes = [str(c.get("code") or "") for c in codings if c.get("system") in ATC_SYSTEMS]
    other_codes = [str(c.get("code") or "") for c in codings if c.get("system") not in ATC_SYSTEMS]
    texts = [str(concept.get("text") or "")] + [str(c.get("display") or "") for c in codings]
    match = ctx.mapping.drug(atc_codes, texts + other_codes)
    if match is None:
        return Skipped("MedicationAdministration: drug not in the synonym table")
    stream = subject_key(
        ctx.resource.get("subject"), ctx.index, ctx.mapping, "MedicationAdministration.subject",
        ctx.version.source,
    )
    period = ma.effectivePeriod
    occurred = aware(ma.effectiveDateTime, ctx.tz) or aware(
        period.start if period is not None else None, ctx.tz
    )
    if occurred is None:
        raise FhirReject("no effective time", "MedicationAdministration.effective[x]", "101")
    admin_key = _key(ctx, "MedicationAdministration")
    completion = _MA_STATUS[status_text]
    if completion is None:
        event: Event = AdministrationRetracted(
            **ctx.base(stream, occurred, "administration-retracted"),
            administration_key=admin_key,
            reported_at=ctx.version.version_time,
        )
        return Accepted(events=(event,))
    dosage = ma.dosage
    dose = (
        float(dosage.dose.value)
        if dosage is not None and dosage.dose is not None and dosage.dose.value
        else None
    )
    dose_unit = None
    if dosage is not None and dosage.dose is not None:
        dose_unit = dosage.dose.code or dosage.dose.unit
    route = None
    if dosage is not None and dosage.route is not None:
        route_codings = dosage.route.coding or []
        route = (route_codings[0].code if route_codings else None) or dosage.route.text
    first = codings[0] if codings else {}
    event = DrugAdministered(
        **ctx.base(stream, occurred, "administration"),
        agent=match.agent,
        atc_code=match.atc_code,
        original_code=str((atc_codes or [first.get("code") or ""])[0]),
        original_text=str(concept.get("text") or first.get("display") or "") or None,
        dose=dose,
        dose_unit=dose_unit,
        route=route,
        completion=completion,
        administration_key=admin_key,
        reported_at=ctx.version.version_time,
    )
    return Accepted(events=(event,))


# ---------------------------------------------------------------------------------------- AdverseEvent
def _adverse_event(ae: Any, ctx: ResourceCtx) -> Outcome:
    actuality = str(ae.actuality)
    if actuality not in ("actual", "potential"):
        raise FhirReject(f"unknown AdverseEvent.actuality {actuality!r}", "AdverseEvent.actuality", "103")
    if actuality == "potential":
        return Skipped("AdverseEvent: potential (a near miss), not an event")
    stream = subject_key(ctx.resource.get("subject"), ctx.index, ctx.mapping, "AdverseEvent.subject",
                         ctx.version.source)
    occurred = aware(ae.date, ctx.tz) or aware(ae.detected, ctx.tz) or aware(ae.recordedDate, ctx.tz)
    if occurred is None:
        raise FhirReject("no date, detected or recordedDate", "AdverseEvent.date", "101")
    severity = None
    sev_codings = _codings(ctx.resource.get("severity"))
    if sev_codings:
        sev_code = str(sev_codings[0].get("code") or "")
        if sev_code.lower() not in _SEVERITY:
            raise FhirReject(f"unknown AdverseEvent.severity {sev_code!r}", "AdverseEvent.severity", "103")
        severity = _SEVERITY[sev_code.lower()]
    serious: bool | None = None
    ser_codings = _codings(ctx.resource.get("seriousness"))
    if ser_codings:
        # Codes are case-sensitive ("Serious", "Non-serious"); senders (and fhir.resources) let "serious"
        # through, so both casings are accepted.
        ser_code = str(ser_codings[0].get("code") or "").lower()
        if ser_code in ("non-serious", "nonserious"):
            serious = False
        elif ser_code.startswith("serious"):
            serious = True
        else:
            raise FhirReject(
                f"unknown AdverseEvent.seriousness {ser_code!r}", "AdverseEvent.seriousness", "103"
            )
    event_codings = _codings(ctx.resource.get("event"))
    term = event_codings[0] if event_codings else {}
    category_codings = [c for cat in ctx.resource.get("category") or [] for c in _codings(cat)]
    event = AdverseEventReported(
        **ctx.base(stream, occurred, "adverse-event"),
        term_code=term.get("code"),
        term_system=term.get("system"),
        term_display=term.get("display") or (ctx.resource.get("event") or {}).get("text"),
        category=category_codings[0].get("code") if category_codings else None,
        severity=severity,
        serious=serious,
        ae_key=_key(ctx, "AdverseEvent"),
    )
    return Accepted(events=(event,))


# ------------------------------------------------------------------------------------ Condition, Patient
def _condition(cond: Any, ctx: ResourceCtx) -> Outcome:
    for coding in _codings(ctx.resource.get("verificationStatus")):
        if coding.get("code") in ("entered-in-error", "refuted"):
            return Skipped(f"Condition: verificationStatus {coding.get('code')}")
    stream = subject_key(ctx.resource.get("subject"), ctx.index, ctx.mapping, "Condition.subject",
                         ctx.version.source)
    onset_raw = cond.onsetDateTime or (cond.onsetPeriod.start if cond.onsetPeriod is not None else None)
    diagnosis = as_date(onset_raw, ctx.tz)
    occurred = aware(onset_raw, ctx.tz) or aware(cond.recordedDate, ctx.tz) or ctx.received_at
    event = PatientEnrolled(**ctx.base(stream, occurred, "enrolled"), diagnosis_date=diagnosis, itp_type=None)
    return Accepted(events=(event,))


def _patient(patient: Any, ctx: ResourceCtx) -> Outcome:
    stream = patient_key_of(ctx.resource, ctx.mapping)
    if stream is None:
        return Skipped("Patient without MRN identifier or id: demographics cannot be keyed")
    birth = as_date(patient.birthDate, ctx.tz)
    gender = str(patient.gender or "unknown")
    if gender not in _GENDER:
        raise FhirReject(f"unknown Patient.gender {gender!r}", "Patient.gender", "103")
    occurred = ctx.version.version_time or ctx.received_at
    events: list[Event] = []
    rid = ctx.resource.get("id")
    if isinstance(rid, str) and rid and not stream.startswith("Patient/"):
        # Ids only: the link is keyed by its content, so every version of the Patient states it once.
        link_id = stable_event_id("fhir-patient-link", ctx.version.source, rid, stream)
        events.append(FhirPatientLinked(
            **{**ctx.base(stream, occurred, "link"), "event_id": link_id},
            source_system=ctx.version.source, patient_id=rid,
        ))
    if birth is not None or gender != "unknown":
        events.append(PatientDemographics(
            **ctx.base(stream, occurred, "demographics"), birth_date=birth, sex=_GENDER[gender]
        ))
    if not events:
        return Skipped("Patient without MRN, birth date or gender")
    return Accepted(events=tuple(events))
