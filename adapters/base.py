"""The small interface between feeds and the engine.

An adapter turns one inbound message (raw bytes) into exactly one Outcome. The engine never looks inside
HL7 or FHIR: it stores Accepted events, dead-letters Rejected messages with their raw bytes, and counts
Skipped ones. Adapters never read the wall clock: the engine passes `received_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from events import Event

AckCode = Literal["AA", "AE", "AR"]


@dataclass(frozen=True, slots=True)
class Accepted:
    events: tuple[Event, ...]
    skipped_parts: int = 0
    """Parts of the message that were not relevant (other analytes, ...), for the summary."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Well-formed but not relevant (ADT, orders, dispenses, other analytes only). ACKed AA, stores nothing."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Cannot be accepted. Dead-lettered with its raw bytes; ACKed AE (parses) or AR (not HL7 at all)."""

    reason: str
    field: str | None = None
    """Where: an HL7 location like 'OBX[3]-6' or a FHIR path like 'Observation.valueQuantity.unit'."""
    ack_code: AckCode = "AE"
    error_code: str = "207"
    """HL7 table 0357: 100 segment sequence, 101 required field missing, 102 data type, 103 table value
    not found, 200 unsupported message type, 204 unknown key, 207 application internal error."""


Outcome = Accepted | Skipped | Rejected


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message cut out of a file, a stream or an HTTP body, with what identifies it."""

    raw: bytes
    feed: str
    """hl7-file, mllp, fhir-file, fhir-http, csv."""
    origin: str
    """File path (or peer address) for messages; never holds patient data."""
    sender: str | None = None
    message_id: str | None = None
    outcome: Outcome = field(default_factory=lambda: Skipped("not parsed"))

    @property
    def message_key(self) -> str | None:
        if self.sender is None or self.message_id is None:
            return None
        return f"{self.sender}|{self.message_id}"
