"""The one entry point for files and bodies: detect the format, cut into messages, parse each safely.

Bad content never raises out of here: an unexpected exception while parsing one message becomes a
Rejected outcome (error 207, "internal: ...") for that message only, so a single odd message cannot stop
a file import or an MLLP connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.base import InboundMessage, Rejected
from adapters.csv_enrollment import read_enrollment_csv
from adapters.detect import detect  # re-exported: the listeners' channel policy asks it too
from adapters.fhir.context import PatientLookup
from adapters.fhir.read import read_fhir
from adapters.hl7v2.parse import parse_hl7_message
from adapters.hl7v2.split import split_messages
from adapters.mapping import SiteMapping


def _zone(tz: tzinfo | str | None, mapping: SiteMapping) -> tzinfo:
    """The site time zone: as given (a tzinfo or an IANA name), else the mapping's."""
    if isinstance(tz, str):
        return ZoneInfo(tz)
    return tz or ZoneInfo(mapping.timezone)


def _internal(exc: BaseException) -> Rejected:
    # the exception's text may quote the message (a pydantic error carries the input value): only its type is kept
    return Rejected(reason=f"internal: {type(exc).__name__}", ack_code="AE", error_code="207")


def read_hl7(
    data: bytes,
    *,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping | None = None,
    tz: tzinfo | str | None = None,
    feed: str = "hl7-file",
) -> list[InboundMessage]:
    """Every message of an HL7 v2 file, batch or MLLP frame, each with its Outcome."""
    mapping = mapping or SiteMapping.default()
    zone = _zone(tz, mapping)
    out: list[InboundMessage] = []
    for chunk in split_messages(data):
        if chunk.error is not None:
            out.append(
                InboundMessage(
                    raw=chunk.raw,
                    feed=feed,
                    origin=origin,
                    outcome=Rejected(chunk.error, ack_code="AR", error_code="100"),
                )
            )
            continue
        try:
            out.append(
                parse_hl7_message(
                    chunk.raw, feed=feed, origin=origin, received_at=received_at, mapping=mapping, tz=zone
                )
            )
        except Exception as exc:  # the contract: one bad message never stops the rest
            out.append(InboundMessage(raw=chunk.raw, feed=feed, origin=origin, outcome=_internal(exc)))
    if not out:
        out.append(
            InboundMessage(
                raw=data,
                feed=feed,
                origin=origin,
                outcome=Rejected("no HL7 message found", ack_code="AR", error_code="100"),
            )
        )
    return out


def read_bytes(
    data: bytes,
    *,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping | None = None,
    tz: tzinfo | str | None = None,
    fhir_feed: str = "fhir-file",
    hl7_feed: str = "hl7-file",
    known_patients: PatientLookup | None = None,
) -> list[InboundMessage]:
    """Detect HL7 v2, FHIR JSON or enrolment CSV and return every message in `data` with its Outcome.

    known_patients: (FHIR source system, Patient id) -> stream, for FHIR references to Patients stored earlier.
    """
    mapping = mapping or SiteMapping.default()
    zone = _zone(tz, mapping)
    try:
        kind = detect(data)
        if kind == "hl7":
            return read_hl7(data, origin=origin, received_at=received_at, mapping=mapping, tz=zone, feed=hl7_feed)
        if kind == "fhir":
            return read_fhir(data, origin=origin, received_at=received_at, mapping=mapping, tz=zone, feed=fhir_feed,
                             known_patients=known_patients)
        if kind == "csv":
            return read_enrollment_csv(data, origin=origin, received_at=received_at, mapping=mapping, tz=zone)
    except Exception as exc:  # a reader bug must not escape: the whole body becomes one dead letter
        return [
            InboundMessage(
                raw=data,
                feed=fhir_feed if data.lstrip().startswith(b"{") else hl7_feed,
                origin=origin,
                outcome=_internal(exc),
            )
        ]
    name = Path(origin).name or origin
    return [
        InboundMessage(
            raw=data,
            feed="unknown",
            origin=origin,
            outcome=Rejected(f"{name}: not HL7 v2, FHIR JSON or enrolment CSV", ack_code="AR", error_code="200"),
        )
    ]


def iter_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named, and files under folders named (recursively, sorted, hidden files skipped)."""
    for item in paths:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield child
        elif path.is_file():
            yield path


__all__ = ["detect", "iter_paths", "read_bytes", "read_hl7"]
