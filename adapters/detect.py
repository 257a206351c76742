"""Which reader a body needs, decided from its first bytes only."""

from __future__ import annotations

import re
from typing import Literal

from adapters.csv_enrollment import looks_like_enrollment_csv

Format = Literal["hl7", "fhir", "csv"]
BOM = b"\xef\xbb\xbf"
_HL7_START = re.compile(rb"^(MSH|FHS|BHS).", re.DOTALL)


def detect(data: bytes) -> Format | None:
    """'hl7' (MSH/FHS/BHS first), 'fhir' (a JSON object with resourceType), 'csv' (the enrolment header)."""
    head = data.removeprefix(BOM).lstrip()
    if _HL7_START.match(head[:4]) and not head[3:4].isalnum():
        return "hl7"
    if head.startswith(b"{") and b'"resourceType"' in data:
        return "fhir"
    if looks_like_enrollment_csv(data):
        return "csv"
    return None
