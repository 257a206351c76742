"""A plain-Python evaluator of the compiled (safe-subset) conditions.

It is the oracle for the durable_rules path in property tests and the production path on Python >= 3.13,
where durable_rules does not import. It mirrors durable_rules' semantics for the subset: a comparison on
a missing field is false, values compare by JSON type (a string never equals a number), booleans only
equal booleans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules.compiler import CompiledRuleset


def _same_type(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True
    return type(a) is type(b)


def evaluate(expr: Mapping[str, Any], fact: Mapping[str, Any]) -> bool:
    """True when the fact satisfies the compiled expression."""
    ((key, value),) = expr.items()
    if key == "$and":
        return all(evaluate(sub, fact) for sub in value)
    if key == "$or":
        return any(evaluate(sub, fact) for sub in value)
    if key == "$ex":
        ((field, _),) = value.items()
        return field in fact
    if key.startswith("$"):
        ((field, const),) = value.items()
        op = key
    else:
        field, const, op = key, value, "$eq"
    if field not in fact:
        return False
    actual = fact[field]
    if not _same_type(actual, const):
        return op == "$neq"
    if op == "$eq":
        return bool(actual == const)
    if op == "$neq":
        return bool(actual != const)
    if op == "$gte":
        return bool(actual >= const)
    if op == "$gt":
        return bool(actual > const)
    if op == "$lte":
        return bool(actual <= const)
    if op == "$lt":
        return bool(actual < const)
    raise ValueError(f"operator {op!r} is outside the safe subset")


def fire_reference(compiled: CompiledRuleset, situation: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(r.id for r in compiled.rules if evaluate(r.condition, situation))
