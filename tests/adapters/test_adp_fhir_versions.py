"""FHIR resource identity and versions: keyed by source, type, id and version, never by the Bundle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from adapter_helpers import RECEIVED

from adapters.base import Accepted, InboundMessage, Rejected, Skipped
from adapters.reader import read_bytes
from events import AdministrationRetracted, DrugAdministered, PlateletCountRecorded, ResultRetracted

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def obs(version: str | None, updated: str | None, *, status: str = "final", value: float = 7,
        source: str | None = None, **over: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if version:
        meta["versionId"] = version
    if updated:
        meta["lastUpdated"] = updated
    if source:
        meta["source"] = source
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": "plt-9", "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"identifier": {"type": MR, "value": "4711"}},
        "effectiveDateTime": "2024-03-05T08:12:00+01:00", "issued": "2024-03-05T09:39:55+01:00",
        "valueQuantity": {"value": value, "unit": "10*9/L"},
    }
    if meta:
        resource["meta"] = meta
    resource.update(over)
    return {k: v for k, v in resource.items() if v is not None}


def in_bundle(resource: dict[str, Any], bundle_id: str) -> bytes:
    return json.dumps({"resourceType": "Bundle", "id": bundle_id, "type": "collection",
                       "entry": [{"fullUrl": f"urn:uuid:{bundle_id}", "resource": resource}]}).encode()


def one(data: bytes) -> InboundMessage:
    (message,) = read_bytes(data, origin="t.json", received_at=RECEIVED)
    return message


def test_identity_ignores_the_bundle_and_json_formatting() -> None:
    v1 = obs("1", "2024-03-05T09:40:00Z")
    a, b = one(in_bundle(v1, "bundle-A")), one(in_bundle(v1, "bundle-B"))
    c = one(json.dumps(v1, indent=2, sort_keys=True).encode())
    assert a.message_key == b.message_key == c.message_key
    assert a.message_key is not None and a.message_key.startswith("fhir|Observation/plt-9/_history/1|")
    assert isinstance(a.outcome, Accepted) and isinstance(c.outcome, Accepted)
    assert a.outcome.events[0].event_id == c.outcome.events[0].event_id  # the same fact: stored once


def test_a_new_version_is_a_new_message_of_the_same_result() -> None:
    v1 = one(json.dumps(obs("1", "2024-03-05T09:40:00Z", value=7)).encode())
    v2 = one(json.dumps(obs("2", "2024-03-06T10:00:00Z", status="corrected", value=150)).encode())
    assert v1.message_key != v2.message_key
    e1, e2 = (m.outcome.events[0] for m in (v1, v2) if isinstance(m.outcome, Accepted))
    assert isinstance(e1, PlateletCountRecorded) and isinstance(e2, PlateletCountRecorded)
    assert e1.result_key == e2.result_key == "Observation/plt-9"
    assert e1.reported_at == datetime(2024, 3, 5, 9, 40, tzinfo=UTC)
    assert e2.reported_at == datetime(2024, 3, 6, 10, 0, tzinfo=UTC)


def test_changed_content_under_one_version_id_is_not_lost() -> None:
    same_version = [one(json.dumps(obs("1", "2024-03-05T09:40:00Z", value=v)).encode()) for v in (7, 150)]
    assert same_version[0].message_key != same_version[1].message_key


def test_without_version_id_the_content_names_the_version() -> None:
    first, again = (one(json.dumps(obs(None, None)).encode()) for _ in range(2))
    other = one(json.dumps(obs(None, None, value=8)).encode())
    assert first.message_key == again.message_key != other.message_key
    event = first.outcome.events[0] if isinstance(first.outcome, Accepted) else None
    assert isinstance(event, PlateletCountRecorded)
    assert event.reported_at == datetime.fromisoformat("2024-03-05T09:39:55+01:00")  # issued stands in


def test_entered_in_error_carries_its_version_time() -> None:
    message = one(json.dumps(obs("3", "2024-03-07T11:00:00Z", status="entered-in-error")).encode())
    assert isinstance(message.outcome, Accepted)
    (event,) = message.outcome.events
    assert isinstance(event, ResultRetracted) and event.result_key == "Observation/plt-9"
    assert event.reported_at == datetime(2024, 3, 7, 11, 0, tzinfo=UTC)


def test_source_system_keys_the_resource_without_its_request_fragment() -> None:
    a = one(json.dumps(obs("1", None, source="https://lis.example.org/fhir#req-1")).encode())
    b = one(json.dumps(obs("1", None, source="https://lis.example.org/fhir#req-2")).encode())
    assert a.sender == b.sender == "https://lis.example.org/fhir"
    assert isinstance(a.outcome, Accepted)
    event = a.outcome.events[0]
    assert isinstance(event, PlateletCountRecorded)
    assert event.result_key == "https://lis.example.org/fhir|Observation/plt-9"


@pytest.mark.parametrize("status", ["entered-in-error", "not-done", "completed"])
def test_medication_administration_versions(status: str) -> None:
    resource = {
        "resourceType": "MedicationAdministration", "id": "ma-1", "status": status,
        "meta": {"versionId": "2", "lastUpdated": "2024-03-08T07:00:00Z"},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01FC01"}]},
        "subject": {"identifier": {"type": MR, "value": "4711"}},
        "effectiveDateTime": "2024-03-01T10:00:00+01:00",
    }
    message = one(json.dumps(resource).encode())
    assert isinstance(message.outcome, Accepted)
    (event,) = message.outcome.events
    assert isinstance(event, AdministrationRetracted | DrugAdministered)
    assert event.administration_key == "MedicationAdministration/ma-1"
    assert event.reported_at == datetime(2024, 3, 8, 7, 0, tzinfo=UTC)
    assert isinstance(event, AdministrationRetracted) == (status == "entered-in-error")


@pytest.mark.parametrize(("drop", "path"), [("code", "Observation.code"), ("status", "Observation.status")])
def test_missing_required_element_is_rejected_naming_it(drop: str, path: str) -> None:
    message = one(json.dumps(obs("1", None, **{drop: None})).encode())
    assert isinstance(message.outcome, Rejected), message.outcome
    assert message.outcome.field == path and message.outcome.error_code == "101"


def test_missing_subject_of_a_platelet_count_is_rejected() -> None:
    message = one(json.dumps(obs("1", None, subject=None)).encode())
    assert isinstance(message.outcome, Rejected) and message.outcome.field == "Observation.subject"


def test_other_observation_with_its_required_elements_is_still_skipped() -> None:
    haemoglobin = {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}
    message = one(json.dumps(obs("1", None, code=haemoglobin)).encode())
    assert isinstance(message.outcome, Skipped)
