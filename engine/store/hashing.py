"""The hash chains: each row's hash covers the previous hash and the row's canonical content.

Chain version 1 (rows written before revision 0030) hashed only an event's payload. Version 2 hashes every
column of a row: for an event its position, id, stream, version, type, schema version, both times, message
key, derivation set and payload, so that an edited `recorded_at` (which changes what `replay
--as-of-recorded` answers) or `message_key` breaks the chain like an edited payload. Rows are never
rewritten, so old rows keep version 1; a seal written by the migration covers their columns instead.

The material is length-prefixed (`12:some value`, `-` for NULL) rather than JSON: unambiguous whatever the
values contain, and about three times cheaper to build than a JSON array holding the payload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

GENESIS = "0" * 64
CHAIN_VERSION = 2
"""The chain version of rows written now."""

EVENT_COLUMNS = ("position", "event_id", "stream", "stream_version", "type", "schema_version", "occurred_at",
                 "recorded_at", "message_key", "derivation_set", "payload")
SIDE_COLUMNS: dict[str, tuple[str, ...]] = {
    "inbound_messages": ("seq", "message_key", "ack_code", "positions", "recorded_at"),
    "dead_letters": ("seq", "id", "recorded_at", "feed", "origin", "message_key", "reason", "field", "error_code",
                     "ack_code", "raw", "encryption"),
    "dead_letter_resolutions": ("seq", "id", "dead_letter_id", "resolved_at", "outcome", "detail"),
}
"""Every column of the append-only side tables that a row hash covers (all but the hash itself)."""


def chain_hash(previous: str, payload: str) -> str:
    return hashlib.sha256(f"{previous}\n{payload}".encode()).hexdigest()


def _field(value: object) -> str:
    cls = type(value)
    if cls is str:
        text: str = value  # type: ignore[assignment]
    elif value is None:
        return "-"
    elif cls is int:
        text = str(value)
    elif isinstance(value, datetime):
        # naive values are UTC (SQLite); the same instant always gives the same text
        utc = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        text = utc.isoformat(timespec="microseconds")
    elif isinstance(value, bytes | bytearray | memoryview):
        text = "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    else:
        text = str(value)
    return f"{len(text)}:{text}"


def material(table: str, values: Iterable[object]) -> str:
    """The canonical text of one row: its table, then each covered column in order."""
    return f"{table}|" + "|".join([_field(v) for v in values])


def row_hash(previous: str, table: str, values: Iterable[object]) -> str:
    return chain_hash(previous, material(table, values))
