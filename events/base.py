"""The envelope every event shares.

Events are facts: frozen, validated on the way in, and serialised to one canonical JSON form so that the
hash chain over the log is reproducible on any machine. Clinical events come from feeds; derived events
are written by the rule engine and always say which rule, profile and inputs produced them.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CLOCK_STREAM = "$clock"
"""The stream that holds ClockAdvanced events; it is shared by every patient."""

CANONICAL_SET = "canonical"
"""The derivation set of the live processor; what-if runs write into sets of other names."""


class Source(BaseModel):
    """Where an event came from: the feed, the sending system and the message that carried it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feed: str
    """hl7-file, mllp, fhir-file, fhir-http, csv, cli, engine, ..."""
    sender: str | None = None
    """MSH-3^MSH-4 for HL7, the Bundle/resource origin for FHIR, the file name for CSV."""
    message_id: str | None = None
    """MSH-10 for HL7, the resource id for FHIR, the row number for CSV."""

    @property
    def message_key(self) -> str | None:
        """The idempotency key of the carrying message: a resent message has the same key."""
        if self.sender is None or self.message_id is None:
            return None
        return f"{self.sender}|{self.message_id}"


class Event(BaseModel):
    """Base class of every event in the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    SCHEMA_VERSION: ClassVar[int] = 1
    CLINICAL: ClassVar[bool] = True

    event_id: UUID
    stream: str
    """The patient's key (site MRN), or CLOCK_STREAM."""
    stream_version: int = 0
    """Assigned by the store at append time (1-based); 0 before the event is stored."""
    type: str
    schema_version: int = 1
    occurred_at: AwareDatetime
    """Valid time: when it happened in the world (specimen collection, administration, onset)."""
    recorded_at: AwareDatetime
    """Transaction time: when itpwatch learned it."""
    source: Source
    causation_ids: tuple[UUID, ...] = ()

    def canonical_json(self) -> str:
        """The stable serialisation used for the hash chain and for storage."""
        return canonical_dumps(self.model_dump(mode="json"))


class DerivedEvent(Event):
    """An event the rules derived from clinical events; never written by a feed."""

    CLINICAL: ClassVar[bool] = False

    rule_id: str
    profile: str
    profile_version: str
    derivation_set: str = CANONICAL_SET
    episode: int | None = None
    """1-based index of the treatment episode of the patient for the agent, when the event has one."""
    agent: str | None = None
    derivation_key: str = Field(default="", description="Deterministic identity of the derived fact.")


def canonical_dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

