"""itpwatch rules: profiles as data, compiled to the durable_rules safe subset, and the derivation.

Public API (what the engine calls):
    load_profile(name_or_path) -> Profile
    compile_profile(profile) -> CompiledRuleset
    make_matcher(compiled) -> Matcher
    derive_patient(events, profile, matcher, *, derivation_set=CANONICAL_SET) -> list[DerivedEvent]
    PatientDeriver(profile, matcher, *, derivation_set=CANONICAL_SET, patient=None)
        .feed(event) -> list[DerivedEvent]; .load(events); .derived; .superseded; .accepts_in_order(event)
    sort_key(event) -> (occurred_at, type rank, str(event_id))
"""

from rules.compiler import CompiledRule, CompiledRuleset, CompileError, check_safe_rule, compile_profile
from rules.derivation import PatientDeriver, derive_patient
from rules.matching import DurableMatcher, Matcher, MatcherError, PrefilteredMatcher, ReferenceMatcher, make_matcher
from rules.profile import Profile, ProfileError, load_profile, parse_profile
from rules.temporal import is_input, sort_key

__all__ = [
    "CompileError",
    "CompiledRule",
    "CompiledRuleset",
    "DurableMatcher",
    "Matcher",
    "MatcherError",
    "PatientDeriver",
    "PrefilteredMatcher",
    "Profile",
    "ProfileError",
    "ReferenceMatcher",
    "check_safe_rule",
    "compile_profile",
    "derive_patient",
    "is_input",
    "load_profile",
    "make_matcher",
    "parse_profile",
    "sort_key",
]
