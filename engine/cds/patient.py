"""From a CDS Hooks `context.patientId` (the EHR's FHIR Patient id) to the patient's MRN, and their data.

The mapping, in order:
1. the prefetched Patient (discovery asks for `Patient/{{context.patientId}}`): its identifier of type MR
   or of a configured MRN system, exactly as a FHIR feed's Patient is keyed (docs/feeds.md);
2. the Patient ids FHIR feeds have sent before (FhirPatientLinked events): one MRN for that id, or,
   when several source systems used the id for different patients, the one whose source system is the
   request's fhirServer; otherwise the id is ambiguous and no MRN is taken;
3. the EHR's FHIR server, when the request carries fhirServer and fhirAuthorization: GET Patient/{id}.
A null prefetch (the EHR has no such Patient) or a Patient without MRN means nothing to say: no cards.
When none of them could be tried (no prefetch key, no link, no FHIR access) the service answers 412, as
the specification asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from adapters.fhir import mrn_of_patient
from adapters.mapping import SiteMapping
from engine.api.patients import PatientIndex

PREFETCH_KEY = "patient"
FETCH_TIMEOUT = 3.0


class PreconditionFailed(Exception):
    """The patient cannot be identified: no prefetch, no link, no FHIR access (HTTP 412)."""


@dataclass(frozen=True, slots=True)
class Mapped:
    mrn: str | None
    how: str
    """prefetch | link | fhir-server | none: for the log (never the identifiers themselves)."""


def from_prefetch(prefetch: Mapping[str, Any] | None, mapping: SiteMapping) -> Mapped | None:
    """The MRN of the prefetched Patient; None when the key was not sent at all."""
    if prefetch is None or PREFETCH_KEY not in prefetch:
        return None
    resource = prefetch[PREFETCH_KEY]
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return Mapped(None, "prefetch")  # null (no such Patient) or an OperationOutcome
    return Mapped(mrn_of_patient(resource, mapping), "prefetch")


def from_links(patient_id: str, fhir_server: str | None, patients: PatientIndex) -> Mapped | None:
    streams = patients.streams_of_id(patient_id)
    distinct = set(streams.values())
    if len(distinct) == 1:
        return Mapped(distinct.pop(), "link")
    if fhir_server and (chosen := streams.get(fhir_server.rstrip("/"))):
        return Mapped(chosen, "link")
    return Mapped(None, "link") if distinct else None


async def from_fhir_server(request: Mapping[str, Any], mapping: SiteMapping) -> Mapped:
    """GET Patient/{id} from the EHR's FHIR server with the token it passed; raises PreconditionFailed."""
    patient_id = str(request["context"]["patientId"])
    fhir_server, authorization = request.get("fhirServer"), request.get("fhirAuthorization")
    if not isinstance(fhir_server, str) or not isinstance(authorization, dict):
        raise PreconditionFailed("the Patient could not be identified: send the 'patient' prefetch "
                                 "(Patient/{{context.patientId}}) or fhirServer with fhirAuthorization")
    token = authorization.get("access_token")
    if not isinstance(token, str) or not token:
        raise PreconditionFailed("fhirAuthorization without access_token")
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
            response = await client.get(
                f"{fhir_server.rstrip('/')}/Patient/{quote(patient_id, safe='')}",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
            )
    except httpx.HTTPError as exc:
        raise PreconditionFailed(f"the EHR's FHIR server could not be read ({type(exc).__name__})") from exc
    if response.status_code == 404:
        return Mapped(None, "fhir-server")
    if response.status_code != 200:
        raise PreconditionFailed(f"the EHR's FHIR server answered {response.status_code} for the Patient")
    try:
        resource = response.json()
    except ValueError as exc:
        raise PreconditionFailed("the EHR's FHIR server answered something other than JSON") from exc
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise PreconditionFailed("the EHR's FHIR server did not answer with a Patient")
    return Mapped(mrn_of_patient(resource, mapping), "fhir-server")


def map_known(request: Mapping[str, Any], patients: PatientIndex, mapping: SiteMapping) -> Mapped | None:
    """The MRN from prefetch or links (Mapped with mrn None: nothing to say); None: ask the FHIR server."""
    patient_id = str(request["context"]["patientId"])
    prefetch = request.get("prefetch") if isinstance(request.get("prefetch"), dict) else None
    fhir_server = request.get("fhirServer") if isinstance(request.get("fhirServer"), str) else None
    found = from_prefetch(prefetch, mapping)
    if found is not None and found.mrn is not None:
        return found
    linked = from_links(patient_id, fhir_server, patients)
    if linked is not None and linked.mrn is not None:
        return linked
    return found or linked
