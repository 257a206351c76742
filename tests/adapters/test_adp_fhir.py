from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from adapter_helpers import RECEIVED

from adapters.base import Accepted, InboundMessage, Rejected, Skipped
from adapters.reader import read_bytes
from events import (
    AdministrationRetracted,
    AdverseEventReported,
    CompletionStatus,
    DrugAdministered,
    FhirPatientLinked,
    PatientDemographics,
    PatientEnrolled,
    PlateletCountRecorded,
    ResultRetracted,
    ResultStatus,
)

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "value": "4711",
        }
    ],
    "name": [{"family": "Musterfrau"}],
    "gender": "female",
    "birthDate": "1965-04-12",
}


def observation(**over: Any) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-05T08:12:00+01:00",
        "issued": "2024-03-05T09:39:55+01:00",
        "valueQuantity": {"value": 48, "unit": "Gpt/l"},
    }
    obs.update(over)
    return {k: v for k, v in obs.items() if v is not None}


def bundle(*resources: dict[str, Any], btype: str = "collection") -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{r['resourceType']}-{r.get('id')}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "id": "b1", "type": btype, "entry": entries}).encode()


def read(data: bytes) -> list[InboundMessage]:
    return read_bytes(data, origin="t.json", received_at=RECEIVED)


def only_event(data: bytes, index: int = -1) -> Any:
    outcome = read(data)[index].outcome
    assert isinstance(outcome, Accepted), outcome
    assert len(outcome.events) == 1
    return outcome.events[0]


def test_observation_in_bundle_resolves_patient() -> None:
    msgs = read(bundle(PATIENT, observation()))
    assert len(msgs) == 2
    event = only_event(bundle(PATIENT, observation()))
    assert isinstance(event, PlateletCountRecorded)
    assert event.stream == "4711" and event.value == 48.0 and event.status is ResultStatus.FINAL
    assert event.occurred_at == datetime(2024, 3, 5, 8, 12, tzinfo=timezone(timedelta(hours=1)))
    assert event.result_key == "Observation/o1"
    # keyed by the resource (source, type, id, version), never by the Bundle that carried it
    assert msgs[1].sender == "fhir" and msgs[1].message_id.startswith("Observation/o1/_history/")
    assert msgs[1].feed == "fhir-file"
    outcome = read(bundle(PATIENT))[0].outcome
    assert isinstance(outcome, Accepted)
    link, demo = outcome.events
    assert isinstance(demo, PatientDemographics) and demo.sex == "female" and str(demo.birth_date) == "1965-04-12"
    assert isinstance(link, FhirPatientLinked) and (link.stream, link.source_system, link.patient_id) == (
        "4711", "fhir", "p1")
    assert "Musterfrau" not in outcome.events[0].model_dump_json() + demo.model_dump_json()


def test_ucum_code_first_then_unit_text() -> None:
    event = only_event(bundle(PATIENT, observation(valueQuantity={"value": 150000, "unit": "Tsd/µl", "code": "/uL"})))
    assert event.value == 150.0
    event = only_event(bundle(PATIENT, observation(valueQuantity={"value": 150, "unit": "K/uL"})))
    assert event.value == 150.0


def test_unmapped_unit_rejected_with_path() -> None:
    outcome = read(bundle(PATIENT, observation(valueQuantity={"value": 1, "unit": "T/L"})))[1].outcome
    assert isinstance(outcome, Rejected) and outcome.field == "Observation.valueQuantity.unit"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("preliminary", ResultStatus.PRELIMINARY),
        ("amended", ResultStatus.AMENDED),
        ("corrected", ResultStatus.CORRECTED),
    ],
)
def test_observation_status(status: str, expected: ResultStatus) -> None:
    assert only_event(bundle(PATIENT, observation(status=status))).status is expected


def test_entered_in_error_retracts_and_bogus_status_rejected() -> None:
    assert isinstance(only_event(bundle(PATIENT, observation(status="entered-in-error"))), ResultRetracted)
    outcome = read(bundle(PATIENT, observation(status="bogus")))[1].outcome
    assert isinstance(outcome, Rejected) and outcome.field == "Observation.status"


def test_bad_entry_dead_letters_alone() -> None:
    msgs = read(bundle(PATIENT, observation(id="bad", valueQuantity="oops"), observation(id="ok")))
    assert [type(m.outcome) for m in msgs] == [Accepted, Rejected, Accepted]
    assert json.loads(msgs[1].raw)["resource"]["id"] == "bad"


def test_structurally_invalid_bundle_is_one_rejection() -> None:
    data = json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resourceType": "Encounter", "id": "x"}]}
    ).encode()
    msgs = read(data)
    assert len(msgs) == 1 and isinstance(msgs[0].outcome, Rejected)


def test_bom_and_single_resource() -> None:
    msgs = read(b"\xef\xbb\xbf" + json.dumps(observation(subject={"reference": "Patient/p9"})).encode())
    assert len(msgs) == 1 and msgs[0].sender == "fhir"
    outcome = msgs[0].outcome
    assert isinstance(outcome, Accepted) and outcome.events[0].stream == "Patient/p9"


def test_irrelevant_resources_skipped() -> None:
    enc = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    }
    glucose = observation(code={"coding": [{"system": "http://loinc.org", "code": "15074-8"}]})
    outcomes = [m.outcome for m in read(bundle(enc, glucose))]
    assert all(isinstance(o, Skipped) for o in outcomes)


def medication_administration(**over: Any) -> dict[str, Any]:
    ma: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": "ma1",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "L01FC01"}],
            "text": "Darzalex",
        },
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01T10:05:00+01:00",
        "dosage": {"route": {"coding": [{"code": "SC"}]}, "dose": {"value": 1800, "unit": "mg"}},
    }
    ma.update(over)
    return ma


def test_medication_administration() -> None:
    event = only_event(bundle(PATIENT, medication_administration()))
    assert isinstance(event, DrugAdministered)
    assert (event.agent, event.atc_code, event.dose, event.dose_unit, event.route, event.completion) == (
        "daratumumab",
        "L01FC01",
        1800.0,
        "mg",
        "SC",
        CompletionStatus.COMPLETE,
    )
    assert event.administration_key == "MedicationAdministration/ma1"
    not_done = only_event(bundle(PATIENT, medication_administration(status="not-done")))
    assert not_done.completion is CompletionStatus.NOT_ADMINISTERED
    assert isinstance(
        only_event(bundle(PATIENT, medication_administration(status="entered-in-error"))),
        AdministrationRetracted,
    )
    outcome = read(bundle(PATIENT, medication_administration(status="given")))[1].outcome
    assert isinstance(outcome, Rejected) and outcome.field == "MedicationAdministration.status"


def test_contained_medication_by_brand() -> None:
    ma = medication_administration(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#med"},
        contained=[{"resourceType": "Medication", "id": "med", "code": {"text": "Nplate 250 µg"}}],
    )
    ma = {k: v for k, v in ma.items() if v is not None}
    assert only_event(bundle(PATIENT, ma)).agent == "romiplostim"


def adverse_event(seriousness: str = "Serious", severity: str = "severe") -> dict[str, Any]:
    return {
        "resourceType": "AdverseEvent",
        "id": "ae1",
        "actuality": "actual",
        "subject": {"reference": "Patient/p1"},
        "date": "2024-03-10T12:00:00+01:00",
        "event": {"coding": [{"system": "http://snomed.info/sct", "code": "233604007", "display": "Pneumonia"}]},
        "seriousness": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                    "code": seriousness,
                }
            ]
        },
        "severity": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity", "code": severity}]
        },
    }


@pytest.mark.parametrize(
    ("code", "serious"),
    [("Serious", True), ("serious", True), ("SeriousResultsInHospitalization", True), ("Non-serious", False)],
)
def test_adverse_event_seriousness(code: str, serious: bool) -> None:
    event = only_event(bundle(PATIENT, adverse_event(seriousness=code)))
    assert isinstance(event, AdverseEventReported)
    assert event.serious is serious and event.severity == "severe" and event.term_code == "233604007"
    assert event.ae_key == "AdverseEvent/ae1" and event.stream == "4711"


def test_adverse_event_unknown_severity_rejected() -> None:
    outcome = read(bundle(PATIENT, adverse_event(severity="grade-3")))[1].outcome
    assert isinstance(outcome, Rejected) and outcome.field == "AdverseEvent.severity"


@pytest.mark.parametrize(
    ("system", "code"),
    [
        ("http://hl7.org/fhir/sid/icd-10", "D69.3"),
        ("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "D69.30"),
        ("http://snomed.info/sct", "32273002"),
        ("http://snomed.info/sct", "2897005"),
        ("http://snomed.info/sct", "13172003"),
    ],
)
def test_condition_itp_enrols(system: str, code: str) -> None:
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]},
        "onsetDateTime": "2019-05-02",
    }
    event = only_event(bundle(PATIENT, cond))
    assert isinstance(event, PatientEnrolled) and str(event.diagnosis_date) == "2019-05-02"
    assert event.itp_type is None and event.stream == "4711"


def test_other_condition_skipped() -> None:
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    }
    assert isinstance(read(bundle(PATIENT, cond))[1].outcome, Skipped)
