from __future__ import annotations

import json
from collections.abc import Mapping

from adapter_helpers import RECEIVED, events_of, obx, oru

from adapters.base import Accepted
from adapters.identity import PatientIdentifier, fhir_patient_key, hl7_patient_key
from adapters.mapping import SiteMapping
from adapters.reader import read_bytes


def test_hl7_prefers_mr_repetition(mapping: SiteMapping) -> None:
    ids = [PatientIdentifier("999", "OTH", "PI"), PatientIdentifier("4711", "UKX", "MR")]
    assert hl7_patient_key(ids, mapping) == "4711"
    assert hl7_patient_key([PatientIdentifier("999", "OTH", "PI")], mapping) == "999"
    assert hl7_patient_key([], mapping) is None


def test_fhir_needs_mr_or_configured_system(mapping: SiteMapping) -> None:
    assert fhir_patient_key([PatientIdentifier("1", "urn:ssn", "SS")], mapping) is None
    assert fhir_patient_key([PatientIdentifier("1", "urn:ssn", "SS"), PatientIdentifier("7", "", "MR")], mapping) == "7"
    site = mapping.model_copy(update={"mrn_systems": ("urn:site:mrn",)})
    assert fhir_patient_key([PatientIdentifier("8", "urn:site:mrn", "")], site) == "8"


def _fhir_obs_bundle(identifier: Mapping[str, object]) -> bytes:
    return json.dumps(
        {
            "resourceType": "Bundle",
            "id": "b1",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": "urn:uuid:p1",
                    "resource": {"resourceType": "Patient", "id": "p1", "identifier": [identifier]},
                },
                {
                    "fullUrl": "urn:uuid:o1",
                    "resource": {
                        "resourceType": "Observation",
                        "id": "o1",
                        "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
                        "subject": {"reference": "urn:uuid:p1"},
                        "effectiveDateTime": "2024-03-05T08:12:00+01:00",
                        "valueQuantity": {"value": 48, "unit": "Gpt/l"},
                    },
                },
            ],
        }
    ).encode()


MR_4711 = {
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
    "system": "urn:oid:1.2.276.0.76.4711",
    "value": "4711",
}


def _fhir_streams(data: bytes, mapping: SiteMapping) -> set[str]:
    streams = set()
    for msg in read_bytes(data, origin="t.json", received_at=RECEIVED, mapping=mapping):
        if isinstance(msg.outcome, Accepted):
            streams |= {e.stream for e in msg.outcome.events}
    return streams


def test_hl7_mr_and_fhir_mr_are_one_stream(mapping: SiteMapping) -> None:
    hl7_events = events_of(oru(obx(), pid="PID|1||4711^^^UKX^MR||X||19650412|F"), mapping)
    assert {e.stream for e in hl7_events} == {"4711"}
    assert _fhir_streams(_fhir_obs_bundle(MR_4711), mapping) == {"4711"}


def test_configured_authorities_keep_foreign_ids_apart(mapping: SiteMapping) -> None:
    site = mapping.model_copy(update={"mrn_authorities": ("UKX",), "mrn_systems": ("urn:oid:1.2.276.0.76.4711",)})
    own = events_of(oru(obx(), pid="PID|1||4711^^^UKX^MR"), site)
    foreign = events_of(oru(obx(), pid="PID|1||4711^^^KHB^MR"), site)
    assert {e.stream for e in own} == {"4711"}
    assert {e.stream for e in foreign} == {"KHB:4711"}
    assert _fhir_streams(_fhir_obs_bundle(MR_4711), site) == {"4711"}
    other = {**MR_4711, "system": "urn:other-hospital"}
    assert _fhir_streams(_fhir_obs_bundle(other), site) == {"urn:other-hospital:4711"}
