"""What each listener accepts: the formats configured for it, and from whom.

The HTTP API requires a bearer token; the MLLP port has no token, so it takes HL7 v2 only unless other
formats are enabled (`mllp_formats`): FHIR or an enrolment CSV framed as MLLP would otherwise be a way
around the token. With client certificates, a sender is the certificate's name, and `mllp_senders` limits
each name to the sending application and facility (MSH-3^MSH-4) it may claim. A refused frame is answered
AR and nothing of it is stored: it came through a door it may not use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from adapters.base import Rejected
from adapters.hl7v2.ack import sending_parties
from adapters.reader import detect

FORMATS = ("hl7", "fhir", "csv")
_NAMES = {"hl7": "HL7 v2", "fhir": "FHIR JSON", "csv": "enrolment CSV"}


@dataclass(frozen=True)
class ChannelPolicy:
    formats: frozenset[str] = frozenset({"hl7"})
    senders: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Certificate name -> allowed 'MSH-3^MSH-4' values ('*' in a part matches anything)."""

    def refusal(self, frame: bytes, peer_names: Sequence[str] = ()) -> Rejected | None:
        """Why this frame from this peer is refused, or None when it may be stored."""
        kind = detect(frame)
        if kind is not None and kind not in self.formats:
            return Rejected(f"{_NAMES[kind]} is not accepted over MLLP (setting mllp_formats)", None, "AR", "200")
        if not self.senders or not peer_names:
            return None
        allowed = [p for name in peer_names for p in self.senders.get(name, ())]
        if not allowed:
            return Rejected("client certificate not allowed to send (setting mllp_senders)", None, "AR", "204")
        for party in sending_parties(frame):
            if not any(_matches(pattern, party) for pattern in allowed):
                return Rejected("MSH-3/MSH-4 not allowed for this client certificate (setting mllp_senders)",
                                "MSH-3", "AR", "204")
        return None


def _matches(pattern: str, party: tuple[str, str]) -> bool:
    if pattern.strip() == "*":
        return True
    app, _, facility = pattern.partition("^")
    return app.strip() in ("*", party[0]) and facility.strip() in ("*", party[1])
