"""Schema evolution: stored payloads are never rewritten; old versions are lifted on read.

An upcaster takes the payload dict of (type, version) and returns the payload of version + 1. Reading
applies them in a chain until the payload reaches the current schema version of its type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(payload: Payload) -> Payload:
    version = int(payload.get("schema_version", 1))
    event_type = str(payload.get("type"))
    while (fn := _UPCASTERS.get((event_type, version))) is not None:
        payload = fn(payload)
        version += 1
        payload["schema_version"] = version
    return payload


@upcaster("PlateletCountRecorded", 1)
def _platelets_v1_to_v2(payload: Payload) -> Payload:
    """v1 stored the unit as `unit` and had no censoring; v2 keeps the original unit and a censor mark."""
    out = dict(payload)
    if "unit" in out:
        out["original_unit"] = out.pop("unit")
    out.setdefault("censored", None)
    return out
