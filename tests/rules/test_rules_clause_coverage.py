"""Every clause of both profiles has a test that fails when the clause is removed.

The mutation harness (tests/rules/mutation.py) removes each rule and each top-level `when` clause, and
nudges each numeric window/threshold by -1 and +1; every mutant must make at least one clause test of
its profile fail. The only exceptions are listed in EQUIVALENT with the reason why no observable
behaviour can depend on them (docs/rules.md, "Clause coverage"). A listed mutant that stops surviving
fails the check too, so the list cannot go stale.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.rules import mutation, test_rules_iwg, test_rules_iwg_shared, test_rules_site

CLAUSE_TESTS: dict[str, tuple[ModuleType, ...]] = {
    "site": (test_rules_site,),
    "iwg2009": (test_rules_iwg, test_rules_iwg_shared),
}


def _code_guarded(prefix: str) -> dict[str, str]:
    """Clauses that rules/derivation.py checks again before applying the rule's transition."""
    return {
        f"rule {prefix}.response: clause {{'fact': 'state', 'is_': 'assessing'}} removed": (
            "derivation._transition applies 'response' only when ep.state == 'assessing', and the rule raises no alert"
        ),
        f"rule {prefix}.complete-response: clause {{'fact': 'complete', 'is_': False}} removed": (
            "derivation._transition applies 'complete-response' only when not ep.complete, and the rule raises no alert"
        ),
        f"rule {prefix}.loss.first-low-count: clause {{'fact': 'loss_confirmed', 'is_': False}} removed": (
            "the alert's derivation key is the failing run's start date (loss-pending facts 'run=...'), "
            "already alerted at the run's first failing occasion, so a later firing is deduplicated"
        ),
        f"rule {prefix}.loss.first-low-count: clause {{'fact': 'loss_alerted', 'is_': False}} removed": (
            "the alert's derivation key is the failing run's start date (loss-pending facts 'run=...'), "
            "so a second firing in the same run is deduplicated"
        ),
        f"rule {prefix}.non-response: clause {{'fact': 'state', 'is_': 'assessing'}} removed": (
            "derivation._transition applies 'non-response' only when ep.state == 'assessing', and the "
            "rule raises no alert"
        ),
        f"rule {prefix}.sustained-remission: clause {{'fact': 'sustained', 'is_': False}} removed": (
            "derivation._transition applies 'sustained-remission' only when not ep.sustained, and the "
            "rule raises no alert"
        ),
    }


EQUIVALENT: dict[str, dict[str, str]] = {
    "site": _code_guarded("site"),
    "iwg2009": {
        **_code_guarded("iwg"),
        "rule iwg.loss-of-complete-response: clause {'fact': 'state', 'is_': 'responder'} removed": (
            "derivation._transition applies 'complete-response-lost' only when ep.state == 'responder', and the "
            "rule raises no alert"
        ),
        "rule iwg.loss-of-complete-response: clause {'fact': 'complete_lost', 'is_': False} removed": (
            "derivation._transition applies 'complete-response-lost' only when not ep.complete_lost, and the "
            "rule raises no alert"
        ),
        "response.relapse_below": (
            "with doubling_of_baseline: true, temporal.Timeline._judge sets fails = not meets; "
            "relapse_below is never read"
        ),
    },
}


def surviving_mutants(name: str) -> tuple[int, dict[str, str | None]]:
    """(number of mutants, {mutant: None when it survives, else the test that killed it})."""
    profile = mutation.baseline(name)
    tests = [t for module in CLAUSE_TESTS[name] for t in mutation.clause_tests(module)]
    result: dict[str, str | None] = {}
    n = 0
    for m in mutation.rule_mutants(profile):
        n += 1
        result[m.description] = mutation.killed(name, m, tests)
    for label, pair in mutation.number_mutants(profile):
        n += 1
        result[label] = next((k for m in pair if (k := mutation.killed(name, m, tests)) is not None), None)
    return n, result


@pytest.mark.parametrize("name", sorted(CLAUSE_TESTS))
def test_every_clause_and_number_is_tested(name: str) -> None:
    n, result = surviving_mutants(name)
    assert n > 0
    unknown = set(EQUIVALENT[name]) - set(result)
    assert not unknown, f"EQUIVALENT names mutants that do not exist: {sorted(unknown)}"
    survivors = sorted(desc for desc, killer in result.items() if killer is None and desc not in EQUIVALENT[name])
    assert not survivors, f"{name}: no clause test fails for these mutants: {survivors}"
    killed_equivalents = {d: result[d] for d in EQUIVALENT[name] if result[d] is not None}
    assert not killed_equivalents, f"{name}: killed, so not equivalent (drop from EQUIVALENT): {killed_equivalents}"
