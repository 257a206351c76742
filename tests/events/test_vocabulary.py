"""The vocabulary: every event type round-trips exactly through JSON; old payloads are upcast on read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from events import (
    CLOCK_STREAM,
    EVENT_TYPES,
    Source,
    event_from_dict,
    event_from_json,
    new_event_id,
)

CEST = timezone(timedelta(hours=2))
ENVELOPE: dict[str, Any] = {
    "stream": "4711",
    "occurred_at": datetime(2024, 6, 3, 8, 15, tzinfo=CEST),
    "recorded_at": datetime(2024, 6, 3, 9, 0, 0, 123456, tzinfo=UTC),
    "source": Source(feed="mllp", sender="LAB_LIS^UKX", message_id="LAB1"),
}
DERIVED = {"rule_id": "site.response", "profile": "site", "profile_version": "abc123def456", "episode": 1,
           "agent": "daratumumab", "derivation_key": "canonical|4711|site.response|1"}
PAYLOADS: dict[str, dict[str, Any]] = {
    "PatientEnrolled": {"diagnosis_date": date(2018, 1, 2), "itp_type": "secondary", "prior_lines": 4},
    "PatientDemographics": {"birth_date": date(1965, 4, 12), "sex": "female"},
    "PatientMerged": {"merged_stream": "4712"},
    "FhirPatientLinked": {"source_system": "https://ehr.example.org/fhir", "patient_id": "pat-1"},
    "PlateletCountRecorded": {"value": 48.0, "original_value": "48", "original_unit": "Gpt/l", "code": "777-3",
                              "code_system": "LN", "status": "final", "result_key": "F-1|777-3|1",
                              "reported_at": datetime(2024, 6, 3, 9, 30, tzinfo=CEST), "censored": None},
    "ResultRetracted": {"result_key": "F-1|777-3|1", "reported_at": datetime(2024, 6, 4, 9, 0, tzinfo=CEST)},
    "DrugAdministered": {"agent": "daratumumab", "atc_code": "L01FC01", "original_code": "L01FC01", "dose": 1800.0,
                         "dose_unit": "mg", "route": "SC", "completion": "complete", "administration_key": "A|0|1",
                         "reported_at": datetime(2024, 6, 3, 10, 0, tzinfo=CEST)},
    "AdministrationRetracted": {"administration_key": "A|0|1", "reported_at": datetime(2024, 6, 4, 8, 0, tzinfo=CEST)},
    "AdverseEventReported": {"term_code": "233604007", "term_system": "http://snomed.info/sct", "grade": 3,
                             "severity": "severe", "serious": True, "ae_key": "AE-1"},
    "BleedingReported": {"who_grade": 2},
    "BodyWeightRecorded": {"kg": 71.5},
    "ClockAdvanced": {},
    "AlertAcknowledged": {"alert_event_id": "x", "by": "Dr. A", "note": "seen"},
    "EpisodeStarted": {**DERIVED, "d1": date(2024, 6, 3), "baseline": 12.0, "combination_with": ("romiplostim",)},
    "ResponseAchieved": {**DERIVED, "onset": date(2024, 6, 10), "time_to_response_days": 7},
    "CompleteResponseAchieved": {**DERIVED, "onset": date(2024, 6, 17), "time_to_response_days": 14},
    "CompleteResponseLost": {**DERIVED, "onset": date(2024, 8, 5), "complete_response_duration_days": 49},
    "ResponseLost": {**DERIVED, "onset": date(2024, 9, 1), "response_duration_days": 83},
    "ReExposureStarted": {**DERIVED, "previous_episode": 1, "reason": "after-relapse", "days_since_previous": 300},
    "SustainedRemissionReached": {**DERIVED, "reached_on": date(2024, 12, 9), "response_onset": date(2024, 6, 10)},
    "NonResponseDeclared": {**DERIVED, "assessed_on": date(2024, 8, 26)},
    "AlertRaised": {**DERIVED, "alert": "post-response-drop", "severity": "warning", "message": "possible loss"},
    "DerivationRevised": {**DERIVED, "supersedes": ("a", "b"), "reason": "late count"},
}


def test_every_event_type_has_a_sample() -> None:
    assert set(PAYLOADS) == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_json_round_trip_is_exact(name: str) -> None:
    cls = EVENT_TYPES[name]
    stream = CLOCK_STREAM if name == "ClockAdvanced" else "4711"
    event = cls(event_id=new_event_id(), **{**ENVELOPE, "stream": stream}, **PAYLOADS[name])
    text = event.canonical_json()
    back = event_from_json(text)
    assert back == event
    assert type(back) is cls
    assert back.canonical_json() == text
    assert back.occurred_at.utcoffset() == timedelta(hours=2), "the sender's UTC offset is kept"


def test_events_are_frozen_and_strict() -> None:
    event = EVENT_TYPES["BleedingReported"](event_id=new_event_id(), **ENVELOPE, who_grade=1)
    with pytest.raises(ValidationError):
        event.who_grade = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        EVENT_TYPES["BleedingReported"](event_id=new_event_id(), **ENVELOPE, who_grade=1, name="Erika")
    with pytest.raises(ValidationError):
        EVENT_TYPES["PatientEnrolled"](event_id=new_event_id(), **{**ENVELOPE, "occurred_at": datetime(2024, 1, 1)})


def test_a_v1_platelet_payload_reads_as_v2() -> None:
    v1 = {
        "type": "PlateletCountRecorded", "schema_version": 1, "event_id": str(new_event_id()), "stream": "4711",
        "stream_version": 3, "occurred_at": "2021-05-17T08:10:00+02:00", "recorded_at": "2021-05-17T10:00:00Z",
        "source": {"feed": "hl7-file", "sender": "LAB", "message_id": "M1"}, "causation_ids": [],
        "value": 54.0, "original_value": "54", "unit": "Gpt/l", "code": "777-3", "code_system": "LN",
        "status": "corrected", "result_key": "F|777-3|1",
    }
    event = event_from_dict(json.loads(json.dumps(v1)))
    assert event.schema_version == 2
    assert event.original_unit == "Gpt/l"  # type: ignore[union-attr]
    assert event.censored is None  # type: ignore[union-attr]
    assert event.stream_version == 3
