"""The cohort report of an App's log under a profile: shared by the CLI, the what-if tools and the web app."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.app import App
from engine.reporting import Cohort, Report, build_cohort
from events import CANONICAL_SET


def cohort_for(application: App, events: list[Any], *, agent: str, as_of: datetime | None,
               profile: Any = None, derivation_set: str | None = None, pseudonymize: bool = False) -> Cohort:
    """The report with its facts and profile, ready for `render_html`, `write_plots` or `write_docx`."""
    profile = profile or application.profile
    return build_cohort(
        events, agent=agent, profile=profile.name, profile_version=profile.version, as_of=as_of,
        serious_infection_codes=frozenset(profile.infection.codes), tz=application.settings.timezone,
        derivation_set=derivation_set or CANONICAL_SET, rules_profile=profile, pseudonymize=pseudonymize,
    )


def report_for(application: App, events: list[Any], *, agent: str, as_of: datetime | None,
               profile: Any = None, derivation_set: str | None = None) -> Report:
    return cohort_for(application, events, agent=agent, as_of=as_of, profile=profile,
                      derivation_set=derivation_set).report
