"""Which rules fire for a situation: durable_rules (the product owner's engine) or the reference evaluator.

The durable_rules path follows the safe subset: a private Host that starts no background threads, one
ruleset per matcher, one long-lived session; each situation is asserted as a fact with a unique id, every
matching rule's action records its rule id, and the fact is retracted at once, so no state survives a call.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from rules.compiler import CompiledRuleset
from rules.reference import fire_reference
from rules.situation import SITUATION_FIELDS, Situation

log = structlog.get_logger(__name__)


class MatcherError(RuntimeError):
    """durable_rules reported an exception, or a situation was not valid input."""


class Matcher(Protocol):
    compiled: CompiledRuleset

    def fire(self, situation: Situation) -> frozenset[str]:
        """The ids of the rules whose condition the situation satisfies."""
        ...


def validate_situation(situation: Situation) -> dict[str, Any]:
    """Check every field against the vocabulary; return the JSON-safe fact (floats without exponents).

    durable_rules compares by JSON type and parses `1e-05` as an error, and `$`-keys would be taken for
    session state, so only declared fields with values of their declared type may pass.
    """
    fact: dict[str, Any] = {}
    for key, spec in SITUATION_FIELDS.items():
        if key not in situation:
            raise MatcherError(f"situation lacks field {key!r}")
        value = situation[key]
        if spec.kind == "bool":
            if not isinstance(value, bool):
                raise MatcherError(f"{key}: expected bool, got {value!r}")
        elif spec.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**53:
                raise MatcherError(f"{key}: expected int, got {value!r}")
        elif spec.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise MatcherError(f"{key}: expected a finite number, got {value!r}")
            value = round(float(value), 6)
            if abs(value) < 1e-4:
                value = 0.0
            if abs(value) >= 1e15:
                raise MatcherError(f"{key}: {value!r} is out of range")
        else:
            if not isinstance(value, str) or value not in spec.values:
                raise MatcherError(f"{key}: {value!r} is not one of {spec.values}")
        fact[key] = value
    extra = set(situation) - set(SITUATION_FIELDS)
    if extra:
        raise MatcherError(f"situation has undeclared fields {sorted(extra)}")
    return fact


class ReferenceMatcher:
    """Plain-Python evaluation of the compiled conditions."""

    def __init__(self, compiled: CompiledRuleset) -> None:
        self.compiled = compiled

    def fire(self, situation: Situation) -> frozenset[str]:
        return fire_reference(self.compiled, validate_situation(situation))


class PrefilteredMatcher:
    """Asks the inner matcher only when some rule's top-level equality clauses all hold.

    A rule fires only if every conjunct of its condition holds, so a situation that fails at least one
    `$eq` conjunct of every rule cannot fire any rule: skipping the call is exact, not a heuristic.
    bench/ measured most situations of a derivation (counts while nothing changes) as such misses; each
    costs a validation, a JSON round trip and an assert into durable_rules. The inner matcher still
    decides every candidate. Tested against the unfiltered matchers on generated situations.
    """

    INDEX_FIELDS = ("kind", "scope")
    """Every situation carries these enums; a rule's `$eq` on them narrows which rules a situation can fire."""

    def __init__(self, inner: Matcher) -> None:
        self.inner = inner
        self.compiled = inner.compiled
        guards = [comparison_guards(rule.condition) for rule in self.compiled.rules]
        kinds, scopes = (SITUATION_FIELDS[f].values for f in self.INDEX_FIELDS)
        self._index: dict[tuple[object, object], list[tuple[tuple[str, str, Any], ...]]] = {
            (kind, scope): [g for g in guards if _admits(g, "kind", kind) and _admits(g, "scope", scope)]
            for kind in kinds for scope in scopes
        }

    def fire(self, situation: Situation) -> frozenset[str]:
        candidates = self._index.get((situation.get("kind"), situation.get("scope")))
        if candidates is None:  # an undeclared kind or scope: let the matcher (and its validation) decide
            return self.inner.fire(situation)
        for guards in candidates:
            if all(_may_hold(op, situation.get(field), value) for op, field, value in guards):
                return self.inner.fire(situation)
        return frozenset()


_COMPARISONS = {"$eq", "$neq", "$lt", "$lte", "$gt", "$gte"}


def comparison_guards(condition: dict[str, Any]) -> tuple[tuple[str, str, Any], ...]:
    """The single-field comparisons at the top of a compiled condition; nested $or/$and only narrow further."""
    terms = condition["$and"] if set(condition) == {"$and"} else [condition]
    guards = []
    for term in terms:
        if len(term) == 1:
            ((op, body),) = term.items()
            if op in _COMPARISONS and isinstance(body, dict) and len(body) == 1:
                ((field, value),) = body.items()
                guards.append((op, field, value))
    return tuple(guards)


def equality_guards(condition: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The `$eq` conjuncts of a condition: the fields a situation must have to possibly match."""
    return tuple((field, value) for op, field, value in comparison_guards(condition) if op == "$eq")


def _admits(guards: tuple[tuple[str, str, Any], ...], field: str, value: object) -> bool:
    return all(_may_hold(op, value, const) for op, f, const in guards if f == field)


def _may_hold(op: str, actual: Any, const: Any) -> bool:
    """False only when the comparison certainly fails under durable_rules' typed comparison."""
    if isinstance(actual, bool) != isinstance(const, bool) or isinstance(actual, str) != isinstance(const, str):
        return True  # different JSON types: leave the verdict to the matcher
    if op == "$eq":
        return bool(actual == const)
    if op == "$neq":
        return bool(actual != const)
    if isinstance(actual, bool | str) or actual is None:
        return True  # ordering on booleans and text is the compiler's business, not the prefilter's
    if op == "$lt":
        return bool(actual < const)
    if op == "$lte":
        return bool(actual <= const)
    if op == "$gt":
        return bool(actual > const)
    return bool(actual >= const)


_ruleset_counter = itertools.count(1)


class DurableMatcher:
    """durable_rules in the safe subset. Not thread-safe: one matcher per worker."""

    def __init__(self, compiled: CompiledRuleset) -> None:
        from durable.engine import MessageNotHandledException  # noqa: F401  (import fails early on 3.13)

        self.compiled = compiled
        self._fired: list[str] = []
        self._ids = itertools.count(1)
        self._ruleset = f"itpwatch_{compiled.profile}_{next(_ruleset_counter)}"
        self._host = _make_host(self._fired)
        self._host.register_rulesets({self._ruleset: compiled.durable_json()})

    def fire(self, situation: Situation) -> frozenset[str]:
        from durable.engine import MessageNotHandledException

        fact = validate_situation(situation)
        fact["id"] = f"s{next(self._ids)}"
        self._fired.clear()
        try:
            state = self._host.assert_fact(self._ruleset, fact)
        except MessageNotHandledException:
            return frozenset()  # no rule matched: durable_rules did not store the fact
        # A fact that matched is stored; retract it so nothing survives the call.
        with contextlib.suppress(MessageNotHandledException):
            self._host.retract_fact(self._ruleset, fact)
        if isinstance(state, dict) and "exception" in state:
            raise MatcherError(f"durable_rules action failed: {state['exception']}")
        return frozenset(self._fired)


def _make_host(fired: list[str]) -> Any:
    """A durable Host subclass that resolves actions to 'record my rule id' and starts no timer threads."""
    from durable import engine

    class _QuietHost(engine.Host):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()

        def _run(self) -> None:
            """No dispatch/timer threads: the safe subset uses no timers and no queued actions."""

        def get_action(self, action_name: str) -> Callable[[Any], None]:
            def record(_closure: Any) -> None:
                fired.append(action_name)

            return record

    return _QuietHost()


_logged_reference = False


def durable_available() -> bool:
    if sys.version_info >= (3, 13):
        return False
    try:
        import durable.engine  # noqa: F401
    except ImportError:
        return False
    return True


def make_matcher(compiled: CompiledRuleset) -> Matcher:
    """durable_rules on Python < 3.13, else the reference evaluator (logged once)."""
    global _logged_reference
    if durable_available():
        return PrefilteredMatcher(DurableMatcher(compiled))
    if not _logged_reference:
        _logged_reference = True
        log.warning(
            "rules.reference_matcher",
            reason="durable_rules unavailable on this Python",
            python=sys.version.split()[0],
        )
    return PrefilteredMatcher(ReferenceMatcher(compiled))
