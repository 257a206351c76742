"""The vocabulary of itpwatch: every fact and decision as a frozen, versioned event."""

from events.base import CANONICAL_SET, CLOCK_STREAM, DerivedEvent, Event, Source, canonical_dumps
from events.clinical import (
    COUNTING_STATUSES,
    GIVEN_STATUSES,
    AdministrationRetracted,
    AdverseEventReported,
    AlertAcknowledged,
    BleedingReported,
    BodyWeightRecorded,
    ClockAdvanced,
    CompletionStatus,
    DrugAdministered,
    FhirPatientLinked,
    PatientDemographics,
    PatientEnrolled,
    PatientMerged,
    PlateletCountRecorded,
    ResultRetracted,
    ResultStatus,
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
from events.ids import new_event_id, stable_event_id
from events.union import EVENT_ADAPTER, EVENT_TYPES, AnyEvent, event_from_dict, event_from_json

__all__ = [
    "CANONICAL_SET", "CLOCK_STREAM", "COUNTING_STATUSES", "EVENT_ADAPTER", "EVENT_TYPES", "GIVEN_STATUSES",
    "AdministrationRetracted", "AdverseEventReported", "AlertAcknowledged", "AlertRaised", "AnyEvent",
    "BleedingReported", "BodyWeightRecorded", "ClockAdvanced", "CompleteResponseAchieved", "CompleteResponseLost",
    "CompletionStatus", "DerivationRevised", "DerivedEvent", "DrugAdministered", "EpisodeStarted", "Event",
    "FhirPatientLinked", "NonResponseDeclared",
    "PatientDemographics", "PatientEnrolled", "PatientMerged", "PlateletCountRecorded", "ReExposureStarted",
    "ResponseAchieved", "ResponseLost", "ResultRetracted", "ResultStatus", "Source",
    "SustainedRemissionReached", "canonical_dumps", "event_from_dict", "event_from_json", "new_event_id",
    "stable_event_id",
]
