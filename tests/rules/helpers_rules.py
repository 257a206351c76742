"""Shared set-up for rule tests: one matcher per profile (durable_rules when available)."""

from __future__ import annotations

from functools import cache
from typing import Any

from events import DerivedEvent
from rules import Matcher, Profile, compile_profile, derive_patient, load_profile, make_matcher


@cache
def setup(name: str = "site") -> tuple[Profile, Matcher]:
    profile = load_profile(name)
    return profile, make_matcher(compile_profile(profile))


def derive(events: list[Any], name: str = "site") -> list[DerivedEvent]:
    profile, matcher = setup(name)
    return derive_patient(events, profile, matcher)
