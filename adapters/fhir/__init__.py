"""FHIR R4 JSON input, validated with fhir.resources.R4B (never the R5 package root).

The names below are the interface the engine may use (docs/architecture.md): what the facade accepts
(for its CapabilityStatement) and how a Patient resource names its MRN (for CDS Hooks prefetch).
"""

from __future__ import annotations

from typing import Any

from adapters.fhir.context import PatientLookup, identifiers_of
from adapters.fhir.resources import RELEVANT, REQUIRED
from adapters.identity import fhir_patient_key
from adapters.mapping import SiteMapping

ACCEPTED_TYPES: tuple[str, ...] = RELEVANT
"""Resource types that can state something about a patient; others are answered 'not relevant'."""

REQUIRED_ELEMENTS: dict[str, tuple[str, ...]] = {
    rtype: tuple(name for name, _ in spec) for rtype, spec in REQUIRED.items()
}
"""Per type, the elements whose absence rejects a resource (422 with the element as expression)."""


def mrn_of_patient(patient: dict[str, Any], mapping: SiteMapping) -> str | None:
    """The MRN a Patient resource names (an identifier of type MR or of a configured MRN system), else None."""
    return fhir_patient_key(identifiers_of(patient), mapping)




def location_of(message_id: str | None) -> str | None:
    """`Type/id/_history/vid` of a resource message (adapters/fhir/versions.py), None for other messages."""
    if not message_id or "/_history/" not in message_id:
        return None
    return message_id.split("|", 1)[0]


__all__ = ["ACCEPTED_TYPES", "REQUIRED_ELEMENTS", "PatientLookup", "location_of", "mrn_of_patient"]
