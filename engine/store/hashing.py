"""The hash chain: each event's hash covers the previous hash and its own canonical JSON."""

from __future__ import annotations

import hashlib

GENESIS = "0" * 64


def chain_hash(previous: str, payload: str) -> str:
    return hashlib.sha256(f"{previous}\n{payload}".encode()).hexdigest()
