"""Which stream a patient's events go to: one key per patient across HL7 and FHIR.

The stream key is the site MRN. HL7 sends it in PID-3 (a list of CX identifiers), FHIR in
Patient.identifier. By default (mrn_authorities unset) every authority counts as the site's own, so
`4711^^^UKX^MR` and `{type: MR, value: 4711}` are the same patient. A site with several numbering
authorities configures `mrn_authorities`; identifiers of other authorities are then prefixed
`{authority}:` so that two patients with the same number at different hospitals never merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.mapping import SiteMapping

MR_TYPE = "MR"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


@dataclass(frozen=True, slots=True)
class PatientIdentifier:
    """A source-neutral identifier: HL7 CX (value, CX-4 authority, CX-5 type) or FHIR Identifier."""

    value: str
    authority: str = ""
    """HL7 CX-4 namespace (or universal id); FHIR Identifier.system (or assigner display)."""
    id_type: str = ""
    """HL7 CX-5 or FHIR Identifier.type code from v2-0203 (MR, PI, ...)."""


def stream_key(identifier: PatientIdentifier, mapping: SiteMapping) -> str:
    """The stream key of one identifier under the site's identity policy."""
    value = identifier.value.strip()
    authority = identifier.authority.strip()
    if mapping.mrn_authorities is None or not authority:
        # An identifier without authority cannot be told apart from the site's: it is taken as the site's.
        return value
    if authority in mapping.mrn_authorities or authority in mapping.mrn_systems:
        return value
    return f"{authority}:{value}"


def hl7_patient_key(identifiers: list[PatientIdentifier], mapping: SiteMapping) -> str | None:
    """PID-3: the repetition of type MR, else the first one with a value; None when there is none."""
    usable = [i for i in identifiers if i.value.strip()]
    if not usable:
        return None
    chosen = next((i for i in usable if i.id_type.strip().upper() == MR_TYPE), usable[0])
    return stream_key(chosen, mapping)


def fhir_patient_key(identifiers: list[PatientIdentifier], mapping: SiteMapping) -> str | None:
    """Patient.identifier: one of a configured MRN system, else of type MR; None when neither exists.

    FHIR identifiers without MR type are often server- or payer-specific (SSN, driver's licence), so,
    unlike HL7 PID-3, there is no "first one" fallback.
    """
    usable = [i for i in identifiers if i.value.strip()]
    for ident in usable:
        if ident.authority in mapping.mrn_systems:
            return stream_key(ident, mapping)
    for ident in usable:
        if ident.id_type.strip().upper() == MR_TYPE:
            return stream_key(ident, mapping)
    return None
