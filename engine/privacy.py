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
    return _rewrite_hl7(raw, {b"PID": _PID_FIELDS}, b"REDACTED", drop=_DROP_SEGMENTS)


def _rewrite_hl7(raw: bytes, fields: dict[bytes, tuple[int, ...]], value: bytes,
                 drop: tuple[bytes, ...] = (), newline: bytes | None = None) -> bytes:
    """Replace the non-empty fields of the named segments by `value`; a dropped segment keeps only its name."""
    start = raw.find(b"MSH")
    sep = raw[start + 3 : start + 4] if start >= 0 and len(raw) > start + 3 else b"|"
    out: list[bytes] = []
    for segment in re.split(rb"(\r\n|\r|\n)", raw):
        if newline is not None and segment in (b"\r\n", b"\r", b"\n"):
            out.append(newline)
            continue
        name = segment.lstrip(b"\xef\xbb\xbf")[:3]
        if name in drop:
            out.append(name + sep + value)
            continue
        if name in fields:
            parts = segment.split(sep)
            for i in fields[name]:
                if i < len(parts) and parts[i]:
                    parts[i] = value
            segment = sep.join(parts)
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


# -- masking for display ---------------------------------------------------------------------------------
MASK = "•••"
# PID-2/3/4 identifiers, 7 birth date, 18 account, 20 driver's licence; MRG-1..4 prior identifiers; PV1-19 visit.
_MASK_FIELDS = {b"PID": (2, 3, 4, 7, 18, 20), b"MRG": (1, 2, 3, 4), b"PV1": (19,)}
_FHIR_ID_KEYS = frozenset({"birthDate", "deceasedDateTime"})
_CSV_ID_COLUMNS = frozenset({"patient_id", "mrn", "birth_date", "dob"})


def mask_identifiers(raw: bytes) -> str:
    """The stored (already redacted) message as text with patient identifiers masked, for integration
    engineers, who need the structure and the failing field but not who the patient is.

    HL7: PID-2/3/4/7/18/20, MRG-1..4, PV1-19. FHIR: identifier values, Patient ids and references to them,
    birth dates. CSV: the patient id and birth date columns. Anything unrecognised is shown as is (it was
    redacted before it was stored).
    """
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.lstrip(" \r\n\t")
    if stripped.startswith(("MSH", "FHS", "BHS")):
        return _mask_hl7(raw).decode("utf-8", errors="replace")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return text
        return json.dumps(_mask_fhir(data), ensure_ascii=False, indent=2)
    if "\n" in stripped and "," in stripped.split("\n", 1)[0]:
        return _mask_csv(text)
    return text


def _mask_hl7(raw: bytes) -> bytes:
    return _rewrite_hl7(raw, _MASK_FIELDS, MASK.encode(), newline=b"\n")


def _mask_fhir(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        if node.get("resourceType") == "Patient" and "id" in node:
            node = {**node, "id": MASK}
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "identifier":
                out[k] = _mask_identifier(v)
            elif k in _FHIR_ID_KEYS:
                out[k] = MASK
            elif k in ("reference", "fullUrl") and isinstance(v, str) and "Patient/" in v:
                out[k] = v.split("Patient/", 1)[0] + "Patient/" + MASK
            else:
                out[k] = _mask_fhir(v, k)
        return out
    if isinstance(node, list):
        return [_mask_fhir(v, key) for v in node]
    return node


def _mask_identifier(value: Any) -> Any:
    if isinstance(value, list):
        return [_mask_identifier(v) for v in value]
    if isinstance(value, dict):
        return {k: (MASK if k == "value" else v) for k, v in value.items()}
    return MASK


def _mask_csv(text: str) -> str:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    header = [h.strip().lower() for h in rows[0]]
    masked = {i for i, h in enumerate(header) if h in _CSV_ID_COLUMNS}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        writer.writerow([MASK if i in masked and cell else cell for i, cell in enumerate(row)])
    return out.getvalue()
