"""What may not be kept: names, addresses and contact details are cut from raw bytes before storage.

Dead letters keep a message's raw bytes so it can be retried after a mapping is added; the fields cut
here are never read by itpwatch, so a retry parses the redacted bytes exactly as it would the original.
"""

from __future__ import annotations

import json
import re
from typing import Any

# PID-5 name, 6 mother's maiden name, 9 alias, 11 address, 13/14 phones, 19 SSN; NK1: next of kin; GT1/IN1.
_PID_FIELDS = (5, 6, 9, 11, 13, 14, 19)
_DROP_SEGMENTS = (b"NK1", b"GT1", b"IN1", b"IN2")
_FHIR_KEYS = frozenset({"name", "address", "telecom", "contact", "photo"})


def redact(raw: bytes) -> bytes:
    stripped = raw.lstrip(b"\xef\xbb\xbf \r\n\t")
    if stripped.startswith((b"MSH", b"FHS", b"BHS")):
        return _redact_hl7(raw)
    if stripped.startswith(b"{"):
        return _redact_fhir(raw)
    return raw


def _redact_hl7(raw: bytes) -> bytes:
    start = raw.find(b"MSH")
    sep = raw[start + 3 : start + 4] if start >= 0 and len(raw) > start + 3 else b"|"
    out: list[bytes] = []
    for segment in re.split(rb"(\r\n|\r|\n)", raw):
        name = segment.lstrip(b"\xef\xbb\xbf")[:3]
        if name in _DROP_SEGMENTS:
            out.append(name + sep + b"REDACTED")
            continue
        if name == b"PID":
            fields = segment.split(sep)
            for i in _PID_FIELDS:
                if i < len(fields) and fields[i]:
                    fields[i] = b"REDACTED"
            segment = sep.join(fields)
        out.append(segment)
    return b"".join(out)


def _redact_fhir(raw: bytes) -> bytes:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return raw
    return json.dumps(_scrub(data), ensure_ascii=False).encode()


def _scrub(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("resourceType") in ("Patient", "RelatedPerson", "Practitioner"):
            return {k: _scrub(v) for k, v in node.items() if k not in _FHIR_KEYS}
        return {k: _scrub(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_scrub(v) for v in node]
    return node
