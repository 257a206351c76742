"""The CapabilityStatement of the FHIR facade (GET /fhir/metadata): what is accepted and how.

itpwatch is a receiving facade, not a FHIR server: it takes resources in (create, batch, transaction,
$validate) and turns them into events; it does not serve them back (no read, search or history). The
statement is built from the adapter's own list of accepted types so that it cannot drift from them.
"""

from __future__ import annotations

from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from adapters.fhir import ACCEPTED_TYPES, REQUIRED_ELEMENTS

VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

_WHAT: dict[str, str] = {
    "Observation": "Platelet counts (LOINC 777-3, 26515-7, 778-1 or a site code); other Observations are "
                   "answered 'not relevant'. status entered-in-error retracts, corrected/amended replace.",
    "MedicationAdministration": "Administrations of drugs in the site's synonym table; entered-in-error and "
                                "not-done versions remove the application.",
    "AdverseEvent": "Actual adverse events (infections, infusion reactions) with seriousness and severity.",
    "Condition": "An ITP diagnosis (ICD-10 D69.3, SNOMED 32273002/2897005/13172003) enrols the patient.",
    "Patient": "Birth date and sex only (names and addresses are never stored); links the Patient id to "
               "the MRN for later references and CDS Hooks.",
}


def _software_version() -> str:
    try:
        return version("itpwatch")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0"


def capability_statement(base_url: str, built: datetime) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rtype in ACCEPTED_TYPES:
        required = REQUIRED_ELEMENTS.get(rtype, ())
        note = f" Required: {', '.join(required)} (else 422 naming it)." if required else ""
        resources.append({
            "type": rtype,
            "documentation": _WHAT.get(rtype, "") + note,
            "interaction": [{"code": "create"}],
            "versioning": "versioned",
            "operation": [{"name": "validate", "definition": VALIDATE}],
        })
    resources.append({
        "type": "Bundle",
        "documentation": "POST /fhir/Bundle is read like POST /fhir: a transaction Bundle all-or-nothing, any "
                         "other Bundle type entry by entry (batch-response).",
        "interaction": [{"code": "create"}],
    })
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": built.date().isoformat(),
        "publisher": "itpwatch",
        "kind": "instance",
        "software": {"name": "itpwatch", "version": _software_version()},
        "implementation": {"description": "itpwatch FHIR R4 facade: resources in, events out", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": (
                "A receiving facade: resources are stored as events, never served back. A resource is "
                "identified by meta.source, type, id and meta.versionId (never by its Bundle); "
                "meta.lastUpdated orders versions. 201 Created with Location Type/id/_history/vid; the same "
                "version again is 200 with the same Location. Every error is an OperationOutcome."
            ),
            "security": {
                "cors": False,
                "description": "Every request except GET /fhir/metadata needs `Authorization: Bearer <token>` "
                               "(the token `itpwatch serve --token` was started with).",
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "operation": [{"name": "validate", "definition": VALIDATE}],
        }],
    }
