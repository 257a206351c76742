"""The one discriminated union over every event type, and the parsing entry points."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from events.clinical import (
    AdministrationRetracted,
    AdverseEventReported,
    AlertAcknowledged,
    BleedingReported,
    BodyWeightRecorded,
    ClockAdvanced,
    DrugAdministered,
    FhirPatientLinked,
    PatientDemographics,
    PatientEnrolled,
    PatientMerged,
    PlateletCountRecorded,
    ResultRetracted,
)
from events.derived import (
    AlertRaised,
    CompleteResponseAchieved,
    CompleteResponseLost,
    DerivationRevised,
    EpisodeStarted,
    NonResponseDeclared,
    ReExposureStarted,
    ResponseAchieved,
    ResponseLost,
    SustainedRemissionReached,
)
from events.upcasting import upcast

AnyEvent = Annotated[
    PatientEnrolled
    | PatientDemographics
    | PatientMerged
    | FhirPatientLinked
    | PlateletCountRecorded
    | ResultRetracted
    | DrugAdministered
    | AdministrationRetracted
    | AdverseEventReported
    | BleedingReported
    | BodyWeightRecorded
    | ClockAdvanced
    | AlertAcknowledged
    | EpisodeStarted
    | ResponseAchieved
    | CompleteResponseAchieved
    | CompleteResponseLost
    | ResponseLost
    | ReExposureStarted
    | SustainedRemissionReached
    | NonResponseDeclared
    | AlertRaised
    | DerivationRevised,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)

EVENT_TYPES: dict[str, type[Any]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        PatientEnrolled, PatientDemographics, PatientMerged, FhirPatientLinked, PlateletCountRecorded, ResultRetracted,
        DrugAdministered, AdministrationRetracted, AdverseEventReported, BleedingReported,
        BodyWeightRecorded, ClockAdvanced, AlertAcknowledged, EpisodeStarted, ResponseAchieved,
        CompleteResponseAchieved, CompleteResponseLost, ResponseLost, ReExposureStarted,
        SustainedRemissionReached, NonResponseDeclared, AlertRaised, DerivationRevised,
    )
}


def event_from_dict(data: dict[str, Any]) -> AnyEvent:
    """Parse a stored payload of any schema version into the current model."""
    return EVENT_ADAPTER.validate_python(upcast(dict(data)))


def event_from_json(raw: str | bytes) -> AnyEvent:
    import json

    return event_from_dict(json.loads(raw))
