"""Where derived events live: the patient's own stream for the canonical set, a prefixed stream otherwise.

Keeping what-if sets in streams of their own means a what-if run never changes the version of a
patient's stream, so it can never conflict with, or be mistaken for, the live derivation.
"""

from __future__ import annotations

from events import CANONICAL_SET

SEPARATOR = "::"


def derived_stream(patient: str, derivation_set: str) -> str:
    return patient if derivation_set == CANONICAL_SET else f"{derivation_set}{SEPARATOR}{patient}"


def patient_of(stream: str) -> str:
    return stream.split(SEPARATOR, 1)[1] if SEPARATOR in stream else stream
