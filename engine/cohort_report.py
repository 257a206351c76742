"""The cohort report of an App's log under a profile: shared by the CLI and the what-if tools."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.app import App
from engine.reporting import build_report
from events import CANONICAL_SET


def report_for(application: App, events: list[Any], *, agent: str, as_of: datetime | None,
               profile: Any = None, derivation_set: str | None = None) -> Any:
    profile = profile or application.profile
    return build_report(
        events, agent=agent, profile=profile.name, profile_version=profile.version, as_of=as_of,
        serious_infection_codes=frozenset(profile.infection.codes), tz=application.settings.timezone,
        derivation_set=derivation_set or CANONICAL_SET, rules_profile=profile,
    )
