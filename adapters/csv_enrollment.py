"""Enrolment lists as CSV: `patient_id,diagnosis_date,itp_type,prior_lines`, one PatientEnrolled per row.

Registries and study nurses keep enrolment in spreadsheets. Each row is its own message (sender = the
file name, message id = the row number) so that one bad row is dead-lettered alone and names its column.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, tzinfo
from pathlib import PurePath

from adapters.base import Accepted, InboundMessage, Outcome, Rejected
from adapters.mapping import SiteMapping
from events import PatientEnrolled, Source, stable_event_id

HEADER = ("patient_id", "diagnosis_date", "itp_type", "prior_lines")
BOM = b"\xef\xbb\xbf"


def looks_like_enrollment_csv(data: bytes) -> bool:
    """Whether the first line is the enrolment header (whitespace and case tolerated)."""
    first = data.removeprefix(BOM).lstrip().split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    return tuple(c.strip().lower() for c in first.split(",")) == HEADER


def read_enrollment_csv(
    data: bytes,
    *,
    origin: str,
    received_at: datetime,
    mapping: SiteMapping,
    tz: tzinfo,
) -> list[InboundMessage]:
    """One InboundMessage per data row (row numbers count the header as row 1, as a spreadsheet does)."""
    text = data.removeprefix(BOM).decode("utf-8", "replace")
    rows = list(csv.reader(io.StringIO(text)))
    sender = PurePath(origin).name or origin
    out: list[InboundMessage] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        raw = (",".join(row)).encode("utf-8")
        outcome = _row(row, number, sender, received_at, mapping, tz)
        out.append(
            InboundMessage(
                raw=raw, feed="csv", origin=origin, sender=sender, message_id=str(number), outcome=outcome
            )
        )
    return out


def _bad(number: int, column: str, reason: str, code: str = "102") -> Rejected:
    return Rejected(reason=f"row {number}: {reason}", field=f"row {number}: {column}", error_code=code)


def _row(
    row: list[str], number: int, sender: str, received_at: datetime, mapping: SiteMapping, tz: tzinfo
) -> Outcome:
    if len(row) != len(HEADER):
        return _bad(number, "*", f"expected {len(HEADER)} columns, got {len(row)}", "100")
    patient_id, diag_text, itp_text, lines_text = (c.strip() for c in row)
    if not patient_id:
        return _bad(number, "patient_id", "patient_id missing", "101")
    diagnosis: date | None = None
    if diag_text:
        try:
            diagnosis = date.fromisoformat(diag_text)
        except ValueError:
            return _bad(number, "diagnosis_date", f"not an ISO date (YYYY-MM-DD): {diag_text!r}")
    itp_type = itp_text.lower() or None
    if itp_type not in (None, "primary", "secondary"):
        return _bad(number, "itp_type", f"itp_type must be primary or secondary, got {itp_text!r}", "103")
    prior: int | None = None
    if lines_text:
        if not lines_text.isdigit():
            return _bad(number, "prior_lines", f"prior_lines must be a whole number >= 0, got {lines_text!r}")
        prior = int(lines_text)
    occurred = datetime.combine(diagnosis, time(), tzinfo=tz) if diagnosis else received_at
    event = PatientEnrolled(
        event_id=stable_event_id(sender, str(number), patient_id, "enrolled"),
        stream=patient_id,
        occurred_at=occurred,
        recorded_at=received_at,
        source=Source(feed="csv", sender=sender, message_id=str(number)),
        diagnosis_date=diagnosis,
        itp_type="primary" if itp_type == "primary" else "secondary" if itp_type == "secondary" else None,
        prior_lines=prior,
    )
    return Accepted(events=(event,))
