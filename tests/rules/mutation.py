"""Mutants of a rule profile: each clause removed, each number nudged. Used by the clause-coverage test."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rules import Profile, ReferenceMatcher, compile_profile, load_profile
from tests.rules import helpers_rules


@dataclass(frozen=True)
class Mutant:
    description: str
    profile: Profile


def rule_mutants(profile: Profile) -> Iterator[Mutant]:
    """Every rule removed, and every top-level `when` clause of every rule removed."""
    for i, rule in enumerate(profile.rules):
        rules = [r for j, r in enumerate(profile.rules) if j != i]
        yield Mutant(f"rule {rule.id} removed", profile.model_copy(update={"rules": rules}))
        if len(rule.when) < 2:
            continue
        for c, cond in enumerate(rule.when):
            when = [w for k, w in enumerate(rule.when) if k != c]
            changed = [*profile.rules[:i], rule.model_copy(update={"when": when}), *profile.rules[i + 1:]]
            text = cond.model_dump(exclude_none=True, exclude_defaults=True)
            yield Mutant(f"rule {rule.id}: clause {text} removed", profile.model_copy(update={"rules": changed}))


NUMBERS: tuple[tuple[str, str], ...] = (
    ("response", "response"), ("response", "complete"), ("response", "relapse_below"),
    ("confirmation", "min_days_apart"),
    ("windows", "rescue_days"), ("windows", "baseline_days"), ("windows", "baseline_fallback_days"),
    ("windows", "reexposure_gap_days"), ("windows", "combination_days"), ("windows", "non_response_day"),
    ("windows", "sustained_remission_days"), ("windows", "missing_count_days"),
    ("windows", "early_stop_no_dose_days"),
)


def number_mutants(profile: Profile) -> Iterator[tuple[str, list[Mutant]]]:
    """Each numeric setting nudged down and up by one: a boundary test must notice at least one."""
    for section, name in NUMBERS:
        block = getattr(profile, section)
        value = getattr(block, name)
        pair = []
        for delta in (-1, 1):
            changed = block.model_copy(update={name: value + delta})
            pair.append(Mutant(f"{section}.{name} {value} -> {value + delta}",
                               profile.model_copy(update={section: changed})))
        yield f"{section}.{name}", pair


@contextmanager
def profile_replaced(name: str, mutant: Profile) -> Iterator[None]:
    original = helpers_rules.setup
    matcher = ReferenceMatcher(compile_profile(mutant))

    def patched(requested: str = "site") -> Any:
        if requested == name:
            return mutant, matcher
        return original(requested)

    helpers_rules.setup = patched  # type: ignore[assignment]
    try:
        yield
    finally:
        helpers_rules.setup = original


def clause_tests(module: ModuleType) -> list[Callable[[], None]]:
    return [fn for n, fn in vars(module).items()
            if n.startswith("test_") and inspect.isfunction(fn) and not inspect.signature(fn).parameters]


def killed(name: str, mutant: Mutant, tests: list[Callable[[], None]]) -> str | None:
    """The first test that fails against the mutant, or None when the mutant survives."""
    with profile_replaced(name, mutant.profile):
        for test in tests:
            try:
                test()
            except Exception:  # an assertion or any error: the test noticed the change
                return f"{test.__name__}: {traceback.format_exc(limit=0).strip().splitlines()[-1][:80]}"
    return None


def baseline(name: str) -> Profile:
    return load_profile(name)
