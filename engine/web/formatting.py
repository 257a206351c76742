"""How the web app writes times and numbers: site time zone with its offset, counts with their unit."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

COUNT_UNIT = "×10⁹/L"


def local_time(ts: datetime | None, tz: ZoneInfo) -> str:
    """'2024-03-05 14:20 +01:00': the wall-clock time at the site, never without its offset."""
    if ts is None:
        return "–"
    local = ts.astimezone(tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def local_date(value: datetime | date | None, tz: ZoneInfo) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.astimezone(tz).date().isoformat()
    return value.isoformat()


def count(value: float | None, censored: str | None = None) -> str:
    """'42 ×10⁹/L', '<10 ×10⁹/L'; no value gives a dash."""
    if value is None:
        return "–"
    return f"{censored or ''}{value:g} {COUNT_UNIT}"


def days(n: int | None) -> str:
    if n is None:
        return "–"
    if n >= 60:
        return f"{n} days ({n / 30.44:.1f} months)"
    if n >= 14 and n % 7 == 0:
        return f"{n} days ({n // 7} weeks)"
    return f"{n} day" if n == 1 else f"{n} days"


def offset_name(tz: ZoneInfo, at: datetime) -> str:
    """'Europe/Berlin, UTC+01:00' for page footers."""
    offset = at.astimezone(tz).strftime("%z")
    return f"{tz.key}, UTC{offset[:3]}:{offset[3:]}"
