"""Small, total accessors over python-hl7 segments, and HL7 date/time and number parsing.

python-hl7 builds trees of uneven depth (a field without separators is a bare string) and raises
IndexError for absent parts. The adapter wants "empty string when absent" everywhere, so these helpers
wrap `Segment.extract_field` (which also unescapes \\S\\, \\F\\, ... sequences) and never raise.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any


def get(seg: Any, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
    """HL7 `SEG-field.rep.comp.sub` as text ('' when absent)."""
    try:
        value: Any = seg.extract_field(1, field, rep, comp, sub)
    except (IndexError, KeyError, TypeError, ValueError):
        return ""
    return str(value).strip() if value is not None else ""


def repetitions(seg: Any, field: int) -> int:
    """How many repetitions a field has (0 when absent)."""
    if hasattr(seg, "repetitions"):
        return int(seg.repetitions(field))
    if field >= len(seg):
        return 0
    fld = seg[field]
    return len(fld) if isinstance(fld, list) else 1


def seg_id(seg: Any) -> str:
    if (text_id := getattr(seg, "segment_id", None)) is not None:
        return str(text_id)  # a LazySegment knows its id without being parsed
    try:
        return str(seg[0][0]).strip()
    except (IndexError, TypeError):
        return ""


class TimeError(ValueError):
    """An HL7 DTM / TS value that cannot be read."""


_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")


def parse_dtm(value: str, tz: tzinfo) -> datetime | None:
    """HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) as an aware datetime; None when empty.

    A value without offset is in the site time zone `tz`; spaces (seen: "20150924162038- 0500") are
    dropped. Raises TimeError for anything else, so that the caller can name the field.
    """
    text = value.replace(" ", "")
    if not text:
        return None
    m = _DTM.match(text)
    if m is None:
        raise TimeError(f"not an HL7 date/time: {value!r}")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        naive = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")[:6]),
        )
    except ValueError as exc:
        raise TimeError(f"not an HL7 date/time: {value!r}") from exc
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        if delta >= timedelta(hours=24):
            raise TimeError(f"bad UTC offset in {value!r}")
        return naive.replace(tzinfo=timezone(sign * delta))
    return naive.replace(tzinfo=tz)


def parse_date(value: str) -> date | None:
    """The date part of an HL7 DT/DTM (birth dates); None when empty or invalid."""
    text = value.replace(" ", "")[:8]
    if len(text) < 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


class NumberError(ValueError):
    """A result value that is not a number."""


_NUM = re.compile(r"^([<>]=?|=)?([+-]?\d+(?:\.\d+)?|[+-]?\.\d+)$")


def parse_number(text: str, *, decimal_comma: bool) -> tuple[float, str | None]:
    """A numeric result and its censoring ('<' / '>' or None): '48', '<10', '>1000', ' 1 000 '.

    '<=' and '>=' are read as '<' and '>'. A decimal comma is accepted only when the site allows it
    (docs/clinical-decisions.md A1); otherwise "4,8" is not a number.
    """
    compact = re.sub(r"\s+", "", text)
    if decimal_comma and compact.count(",") == 1 and "." not in compact:
        compact = compact.replace(",", ".")
    m = _NUM.match(compact)
    if m is None:
        raise NumberError(f"not a number: {text!r}")
    comparator, number = m.groups()
    censored = comparator[0] if comparator and comparator[0] in "<>" else None
    return float(number), censored
