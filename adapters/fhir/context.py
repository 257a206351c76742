"""What a FHIR resource needs from around it: the Bundle's patients, medications and reports.

Resources in a Bundle point at each other (Observation.subject -> Patient, MedicationAdministration ->
Medication, DiagnosticReport.result -> Observation). Those references are resolved within the same
Bundle, by fullUrl or by `Type/id`, and for patients through a lookup the engine may pass (Patients it
stored earlier); the adapter never fetches from a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from adapters.identity import V2_0203, PatientIdentifier, fhir_patient_key, stream_key
from adapters.mapping import SiteMapping

PatientLookup = Callable[[str, str], str | None]
"""(source system, Patient logical id) -> the patient's stream, for Patients stored earlier."""


class FhirReject(Exception):
    """Internal control flow: this resource cannot be accepted (reason, FHIR path, HL7 0357 code)."""

    def __init__(self, reason: str, path: str | None = None, error_code: str = "207") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.error_code = error_code


@dataclass
class BundleIndex:
    """Resources of one Bundle by every name a reference may use."""

    bundle_id: str | None = None
    known_patients: PatientLookup | None = None
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports_by_result: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, full_url: str | None, resource: dict[str, Any]) -> None:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        names: list[str] = []
        if full_url:
            names.append(full_url)
        if isinstance(rtype, str) and isinstance(rid, str):
            names.append(f"{rtype}/{rid}")
        for name in names:
            self.by_ref.setdefault(name, resource)
        children = resource.get("result") if rtype == "DiagnosticReport" else resource.get("hasMember")
        if rtype in ("DiagnosticReport", "Observation"):
            for result in children or []:
                ref = result.get("reference") if isinstance(result, dict) else None
                if isinstance(ref, str):
                    self.reports_by_result.setdefault(_relative(ref), resource)

    def resolve(self, reference: str | None) -> dict[str, Any] | None:
        if not reference:
            return None
        return self.by_ref.get(reference) or self.by_ref.get(_relative(reference))

    def parent_of(self, resource_type: str, rid: str | None, full_url: str | None) -> dict[str, Any] | None:
        """The DiagnosticReport (result) or panel Observation (hasMember) that lists this resource."""
        for name in (f"{resource_type}/{rid}" if rid else None, full_url):
            if name and _relative(name) in self.reports_by_result:
                return self.reports_by_result[_relative(name)]
        return None

    def inherited(self, resource: dict[str, Any], full_url: str | None, key: str) -> Any:
        """`key` (effectiveDateTime, issued, ...) from the nearest report or panel above the resource.

        Spec examples (Bundle-101, Bundle-ghp) put the collection time on the report or panel only.
        """
        current, url = resource, full_url
        for _ in range(4):  # report -> panel -> member; bounded against reference cycles
            parent = self.parent_of(str(current.get("resourceType")), current.get("id"), url)
            if parent is None:
                return None
            if parent.get(key) is not None:
                return parent.get(key)
            current, url = parent, None
        return None


def _relative(reference: str) -> str:
    """'https://x/base/Patient/1' -> 'Patient/1'; 'urn:uuid:..' and 'Patient/1' unchanged."""
    if reference.startswith(("http://", "https://")):
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2:
            if len(parts) >= 4 and parts[-2] == "_history":
                parts = parts[:-2]
            return "/".join(parts[-2:])
    return reference


def identifiers_of(patient: dict[str, Any]) -> list[PatientIdentifier]:
    """Patient.identifier as source-neutral identifiers (type from v2-0203 codings)."""
    out: list[PatientIdentifier] = []
    for ident in patient.get("identifier") or []:
        if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
            continue
        out.append(_identifier(ident))
    return out


def _identifier(ident: dict[str, Any]) -> PatientIdentifier:
    id_type = ""
    for coding in (ident.get("type") or {}).get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") in (V2_0203, "http://hl7.org/fhir/v2/0203"):
            id_type = str(coding.get("code") or "")
    authority = ident.get("system") or ((ident.get("assigner") or {}).get("display")) or ""
    return PatientIdentifier(value=str(ident.get("value")), authority=str(authority), id_type=id_type)


def patient_key_of(patient: dict[str, Any], mapping: SiteMapping) -> str | None:
    """The stream of a Patient resource: its MRN, else `Patient/{id}` (a server id, kept apart from MRNs)."""
    key = fhir_patient_key(identifiers_of(patient), mapping)
    if key is None and isinstance(patient.get("id"), str):
        key = f"Patient/{patient['id']}"
    return key


def subject_key(subject: dict[str, Any] | None, index: BundleIndex, mapping: SiteMapping, path: str,
                source: str = "fhir") -> str:
    """The stream of a resource's subject/patient reference.

    Resolution order: the referenced Patient inside the Bundle (its MRN); a logical reference
    (`subject.identifier`); a Patient of the same source system stored earlier (index.known_patients);
    else the literal `Patient/{id}` (a server id: kept apart from MRNs, so that nothing is merged by
    accident).
    """
    if not subject:
        raise FhirReject("no patient reference", path, "101")
    ref = subject.get("reference")
    target = index.resolve(ref if isinstance(ref, str) else None)
    if target is not None and target.get("resourceType") == "Patient":
        key = patient_key_of(target, mapping)
        if key:
            return key
    ident = subject.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        return stream_key(_identifier(ident), mapping)
    if isinstance(ref, str):
        rel = _relative(ref)
        if rel.startswith("Patient/"):
            known = index.known_patients(source, rel[len("Patient/"):]) if index.known_patients else None
            return known or rel
    raise FhirReject(f"patient reference {ref!r} cannot be resolved", path, "204")


def aware(value: Any, tz: tzinfo) -> datetime | None:
    """A FHIR date/dateTime/instant (as fhir.resources returns it) as an aware datetime.

    Naive times and dates are in the site time zone; partial dates ('2024', '2024-03') start the period.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=tz)
    text = str(value).strip()
    if not text:
        return None
    if len(text) == 4 and text.isdigit():
        return datetime(int(text), 1, 1, tzinfo=tz)
    if len(text) == 7 and text[4] == "-":
        return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=tz)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def as_date(value: Any, tz: tzinfo) -> date | None:
    """The calendar date as the source wrote it (a diagnosis date is not shifted across time zones)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    ts = aware(value, tz)
    return ts.date() if ts is not None else None
