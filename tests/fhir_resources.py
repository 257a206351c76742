"""FHIR R4 resources as a hospital's FHIR feed sends them, for tests of versions, the facade and CDS Hooks."""

from __future__ import annotations

import json
from typing import Any

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
DARATUMUMAB = {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01FC01", "display": "daratumumab"}]}


def meta(version: str | None, updated: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if version is not None:
        out["versionId"] = version
    if updated is not None:
        out["lastUpdated"] = updated
    return out


def patient(rid: str, mrn: str, **over: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": rid, "identifier": [{"type": MR, "value": mrn}],
            "name": [{"family": "Testfrau"}], "gender": "female", "birthDate": "1961-02-03", **over}


def observation(rid: str, mrn: str, when: str, value: float | None, *, status: str = "final",
                version: str | None = "1", updated: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": rid, "meta": meta(version, updated or f"{when}:00+01:00"),
        "status": status, "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"identifier": {"type": MR, "value": mrn}},
        "effectiveDateTime": f"{when}:00+01:00",
    }
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": "10*9/L", "system": "http://unitsofmeasure.org",
                                     "code": "10*9/L"}
    return resource


def administration(rid: str, mrn: str, when: str, *, status: str = "completed", version: str = "1",
                   updated: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration", "id": rid, "meta": meta(version, updated or f"{when}:00+01:00"),
        "status": status, "medicationCodeableConcept": DARATUMUMAB,
        "subject": {"identifier": {"type": MR, "value": mrn}}, "effectiveDateTime": f"{when}:00+01:00",
        "dosage": {"route": {"text": "SC"}, "dose": {"value": 1800, "unit": "mg"}},
    }


def bundle(*resources: dict[str, Any], kind: str = "collection", bundle_id: str | None = None) -> dict[str, Any]:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r}
        if kind in ("transaction", "batch"):
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        entries.append(entry)
    out: dict[str, Any] = {"resourceType": "Bundle", "type": kind, "entry": entries}
    if bundle_id:
        out["id"] = bundle_id
    return out


def dumps(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource).encode("utf-8")


def relapse_course(mrn: str, prefix: str = "") -> list[dict[str, Any]]:
    """Daratumumab from 2024-01-08, response from 2024-01-22, relapse confirmed on 2024-03-11 (counts 23, 18)."""
    p = prefix
    return [
        administration(f"{p}ma-1", mrn, "2024-01-08T10:00"),
        administration(f"{p}ma-2", mrn, "2024-01-15T10:00"),
        observation(f"{p}o-0", mrn, "2024-01-08T07:00", 12),
        observation(f"{p}o-1", mrn, "2024-01-22T08:00", 60),
        observation(f"{p}o-2", mrn, "2024-01-29T08:00", 75),
        observation(f"{p}o-3", mrn, "2024-03-11T08:00", 23),
        observation(f"{p}o-4", mrn, "2024-03-18T08:00", 18),
    ]
