"""One rule for time in the database: stored in UTC; SQLite gets naive UTC because it keeps no offset."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(ts: datetime, dialect: str) -> datetime:
    utc = ts.astimezone(UTC)
    return utc.replace(tzinfo=None) if dialect == "sqlite" else utc


def from_db(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
