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


def cohort_under(application: App, events: list[Any], *, agent: str, as_of: datetime | None,
                 profile_name: str | None = None, pseudonymize: bool = False) -> Cohort:
    """The cohort under a profile: the stored (canonical) derivations for the configured profile, another
    profile derived in memory by its own rule engine (nothing stored, nothing delivered). Shared by
    `itpwatch report --profile` and the web app's report page."""
    from engine.audit import what_if
    from events import DerivedEvent
    from rules import load_profile

    profile = application.profile
    derivation_set = None
    if profile_name is not None:
        wanted = load_profile(profile_name)
        if (wanted.name, wanted.version) != (profile.name, profile.version):
            facts = [e for e in events if not isinstance(e, DerivedEvent)]
            profile, derived = what_if(application, profile_name, facts)
            events, derivation_set = [*facts, *derived], profile.name
    return cohort_for(application, events, agent=agent, as_of=as_of, profile=profile,
                      derivation_set=derivation_set, pseudonymize=pseudonymize)
