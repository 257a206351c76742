"""Event ids. Feed events get ids derived from their message, so a resent message yields the same ids."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5d1c8f0e-2b7a-4c1e-9f3a-7e6d4b2a1c00")


def stable_event_id(*parts: str) -> uuid.UUID:
    """A deterministic id from the parts that identify one fact in one message."""
    return uuid.uuid5(_NAMESPACE, "\x1f".join(parts))


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()
