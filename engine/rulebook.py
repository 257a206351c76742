"""The engine's handle on one rule profile: compiled once, one matcher, fresh derivers per patient.

Each RuleEngine owns its own matcher (its own durable_rules Host), so a replay or a what-if run that
builds its own RuleEngine never shares engine state with the live processor.
"""

from __future__ import annotations

from typing import Any

from events import CANONICAL_SET, Event
from rules import PatientDeriver, Profile, compile_profile, make_matcher, sort_key


class RuleEngine:
    def __init__(self, profile: Profile, *, tz: str | None = None, derivation_set: str = CANONICAL_SET) -> None:
        if tz is not None and tz != profile.timezone:
            profile = profile.model_copy(update={"timezone": tz})
        self.profile = profile
        self.compiled = compile_profile(profile)
        self.matcher = make_matcher(self.compiled)
        self.derivation_set = derivation_set

    @property
    def profile_name(self) -> str:
        return self.profile.name

    @property
    def profile_version(self) -> str:
        return self.profile.version

    @staticmethod
    def sort_key(event: Event) -> Any:
        return sort_key(event)

    def new_deriver(self, patient: str) -> PatientDeriver:
        return PatientDeriver(self.profile, self.matcher, derivation_set=self.derivation_set, patient=patient)
