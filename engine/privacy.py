"""What may not be kept: names, addresses and contact details never reach the store in clear.

Dead letters keep a message's raw bytes so it can be retried after a mapping is added. Fields itpwatch never
reads are masked before storage (a retry parses the masked bytes exactly as it would the original):
HL7 v2 PID-5/6/9/11/13/14/19, MRG-7 and whole NK1/GT1/IN1/IN2 segments; FHIR name, address, telecom,
contact, photo and narrative text of Patient/RelatedPerson/Practitioner/Person resources and every
`display` of a reference; enrolment CSV cells beyond its four columns.

A message that cannot be parsed far enough to mask (no MSH to find the separators, JSON that does not
parse, a format we do not know) is encrypted instead (Fernet, key file outside the database): a person
with the key can read and retry it, a copy of the database alone shows nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MASK = b"REDACTED"
_PID_FIELDS = (5, 6, 9, 11, 13, 14, 19)
_MRG_FIELDS = (7,)
_DROP_SEGMENTS = (b"NK1", b"GT1", b"IN1", b"IN2")
_PERSON_RESOURCES = frozenset({"Patient", "RelatedPerson", "Practitioner", "Person"})
_PERSON_KEYS = frozenset({"name", "address", "telecom", "contact", "photo", "text"})
_CSV_COLUMNS = 4
_MSH_AT_SEGMENT = re.compile(rb"(?:^|[\r\n])[\xef\xbb\xbf\s]*(MSH|FHS|BHS)(.)", re.DOTALL)


class NotMaskable(Exception):
    """The bytes cannot be parsed far enough to find the fields that carry identifiers."""


def redact(raw: bytes, feed: str = "") -> bytes:
    """The bytes with identifying fields masked; raises NotMaskable when they cannot be found."""
    stripped = raw.lstrip(b"\xef\xbb\xbf \r\n\t")
    if feed == "csv":
        return _redact_csv(raw)
    if _MSH_AT_SEGMENT.search(raw):
        return _redact_hl7(raw)
    if stripped.startswith((b"{", b"[")):
        return _redact_fhir(raw)
    raise NotMaskable("not HL7 v2 with an MSH segment, FHIR JSON or enrolment CSV")


def _redact_hl7(raw: bytes) -> bytes:
    found = _MSH_AT_SEGMENT.search(raw)
    assert found is not None
    sep = found.group(2)
    if sep.isalnum() or sep in b"\r\n":
        raise NotMaskable("MSH without a field separator")
    out: list[bytes] = []
    for segment in re.split(rb"(\r\n|\r|\n)", raw):
        name = segment.lstrip(b"\xef\xbb\xbf \t")[:3]
        if name in _DROP_SEGMENTS:
            out.append(name + sep + MASK)
            continue
        masked = {b"PID": _PID_FIELDS, b"MRG": _MRG_FIELDS}.get(name)
        if masked is not None:
            fields = segment.split(sep)
            for i in masked:
                if i < len(fields) and fields[i]:
                    fields[i] = MASK
            segment = sep.join(fields)
        out.append(segment)
    return b"".join(out)


def _redact_fhir(raw: bytes) -> bytes:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise NotMaskable("FHIR JSON that does not parse") from None
    return json.dumps(_scrub(data), ensure_ascii=False).encode()


def _scrub(node: Any) -> Any:
    if isinstance(node, dict):
        person = node.get("resourceType") in _PERSON_RESOURCES
        return {k: _scrub(v) for k, v in node.items()
                if not (person and k in _PERSON_KEYS) and not (k == "display" and "code" not in node)
                and not (k == "text" and isinstance(v, dict) and "div" in v)}  # narrative: free text
    if isinstance(node, list):
        return [_scrub(v) for v in node]
    return node


def _redact_csv(raw: bytes) -> bytes:
    lines = []
    for line in raw.split(b"\n"):
        cells = line.split(b",")
        lines.append(b",".join(cells[:_CSV_COLUMNS] + [MASK] * len(cells[_CSV_COLUMNS:])))
    return b"\n".join(lines)


# -- keeping what cannot be masked ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Protected:
    """Bytes fit for the store: masked in clear (encryption None) or encrypted (encryption names the key)."""

    raw: bytes
    encryption: str | None
    note: str | None = None
    """Said in the dead letter's reason when the raw bytes could not be kept."""


class DeadLetterVault:
    """Masks, or encrypts with the dead-letter key, whatever is about to be kept as a dead letter.

    The key file holds one Fernet key per line; the first encrypts, all decrypt (rotation: add a new first
    line, keep the old ones until no dead letter needs them). Without a path, nothing can be encrypted and
    an unmaskable message is kept as its fingerprint only (the sender keeps the message: its ACK is AR/AE).
    """

    def __init__(self, key_path: Path | None, *, create: bool = False) -> None:
        self.key_path = key_path
        self.create = create
        self._fernet: Any = None

    def _keys(self) -> Any:
        if self._fernet is None:
            from cryptography.fernet import Fernet, MultiFernet

            assert self.key_path is not None
            if not self.key_path.exists() and self.create:
                create_key_file(self.key_path)
            lines = [line.strip() for line in self.key_path.read_bytes().splitlines() if line.strip()]
            self._fernet = MultiFernet([Fernet(line) for line in lines])
            self.key_id = hashlib.sha256(lines[0]).hexdigest()[:8]
        return self._fernet

    def protect(self, raw: bytes, feed: str = "") -> Protected:
        try:
            return Protected(redact(raw, feed), None)
        except NotMaskable as exc:
            reason = str(exc)
        if self.key_path is None:
            digest = hashlib.sha256(raw).hexdigest()
            return Protected(f"withheld sha256:{digest} bytes:{len(raw)}".encode(), "withheld",
                             f"raw bytes withheld ({reason}; no dead_letter_key configured)")
        token: bytes = self._keys().encrypt(raw)
        return Protected(token, f"fernet:{self.key_id}")

    def reveal(self, raw: bytes, encryption: str | None) -> bytes:
        """The bytes to parse or show: as stored when masked in clear, decrypted when encrypted."""
        if encryption is None or encryption == "withheld":
            return raw
        if self.key_path is None or not self.key_path.exists():
            raise KeyError("this dead letter is encrypted; set dead_letter_key to the key file that encrypted it")
        from cryptography.fernet import InvalidToken

        try:
            return bytes(self._keys().decrypt(raw))
        except InvalidToken:
            raise KeyError(f"this dead letter was encrypted with key {encryption}, not in the key file") from None


def create_key_file(path: Path) -> None:
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(Fernet.generate_key() + b"\n")


def default_key_path(database_url: str) -> Path | None:
    """Beside a SQLite file (zero set-up); for a server database the key must be configured."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + ".dead-letter.key")


# -- masking for display ---------------------------------------------------------------------------------
DISPLAY_MASK = "•••"
# PID-2/3/4 identifiers, 7 birth date, 18 account, 20 driver's licence; MRG-1..4 prior identifiers; PV1-19 visit.
_DISPLAY_FIELDS = {b"PID": (2, 3, 4, 7, 18, 20), b"MRG": (1, 2, 3, 4), b"PV1": (19,)}
_FHIR_ID_KEYS = frozenset({"birthDate", "deceasedDateTime"})
_CSV_ID_COLUMNS = frozenset({"patient_id", "mrn", "birth_date", "dob"})


def mask_identifiers(raw: bytes) -> str:
    """A stored (already redacted) dead letter as text with patient identifiers masked too, for integration
    engineers, who need the structure and the failing field but not who the patient is.

    HL7: PID-2/3/4/7/18/20, MRG-1..4, PV1-19. FHIR: identifier values, Patient ids and references to them,
    birth dates. CSV: the patient id and birth date columns. Anything else is shown as stored.
    """
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.lstrip(" \r\n\t")
    if _MSH_AT_SEGMENT.search(raw):
        return _mask_hl7(raw).decode("utf-8", errors="replace")
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError:
            return text
        return json.dumps(_mask_fhir(data), ensure_ascii=False, indent=2)
    if "\n" in stripped and "," in stripped.split("\n", 1)[0]:
        return _mask_csv(text)
    return text


def _mask_hl7(raw: bytes) -> bytes:
    found = _MSH_AT_SEGMENT.search(raw)
    sep = found.group(2) if found is not None else b"|"
    out: list[bytes] = []
    for segment in re.split(rb"(\r\n|\r|\n)", raw):
        if segment in (b"\r\n", b"\r", b"\n"):
            out.append(b"\n")
            continue
        fields = _DISPLAY_FIELDS.get(segment.lstrip(b"\xef\xbb\xbf \t")[:3])
        if fields:
            parts = segment.split(sep)
            for i in fields:
                if i < len(parts) and parts[i]:
                    parts[i] = DISPLAY_MASK.encode()
            segment = sep.join(parts)
        out.append(segment)
    return b"".join(out)


def _mask_fhir(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("resourceType") == "Patient" and "id" in node:
            node = {**node, "id": DISPLAY_MASK}
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "identifier":
                out[k] = _mask_identifier(v)
            elif k in _FHIR_ID_KEYS:
                out[k] = DISPLAY_MASK
            elif k in ("reference", "fullUrl") and isinstance(v, str) and "Patient/" in v:
                out[k] = v.split("Patient/", 1)[0] + "Patient/" + DISPLAY_MASK
            else:
                out[k] = _mask_fhir(v)
        return out
    if isinstance(node, list):
        return [_mask_fhir(v) for v in node]
    return node


def _mask_identifier(value: Any) -> Any:
    if isinstance(value, list):
        return [_mask_identifier(v) for v in value]
    if isinstance(value, dict):
        return {k: (DISPLAY_MASK if k == "value" else v) for k, v in value.items()}
    return DISPLAY_MASK


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
        writer.writerow([DISPLAY_MASK if i in masked and cell else cell for i, cell in enumerate(row)])
    return out.getvalue()
