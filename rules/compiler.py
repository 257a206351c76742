"""Compile profile rules to durable_rules JSON rules, and refuse anything outside the safe subset.

The safe subset (docs/rules.md, "durable_rules: the safe subset and why"): one rule = exactly one pattern
over one flat fact, built only from constant comparisons ($eq, $neq, $gte, $gt, $lte, $lt, $and, $or, $ex). Correlated
references, arithmetic, none(), timers, statecharts and batches crash or misbehave in durable_rules 2.0.28,
so `check_safe_rule` rejects them; every compiled rule passes through it, and so can hand-written JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rules.profile import Condition, Profile, Ref, Scalar, Then
from rules.situation import SITUATION_FIELDS

COMPARISONS = {"$eq", "$neq", "$gte", "$gt", "$lte", "$lt"}
ORDERED = {"$gte", "$gt", "$lte", "$lt"}
GROUPS = {"$and", "$or"}


class CompileError(ValueError):
    """A rule that cannot be compiled into the safe subset."""

    def __init__(self, message: str, *, rule_index: int | None = None, field: str = "rules") -> None:
        super().__init__(message)
        self.rule_index = rule_index
        self.field = field


@dataclass(frozen=True)
class CompiledRule:
    id: str
    statement: str
    condition: dict[str, Any]
    """The durable_rules expression of the single pattern (the value under 'm')."""
    then: Then

    def durable_json(self) -> dict[str, Any]:
        return {"all": [{"m": self.condition}], "run": self.id}


@dataclass(frozen=True)
class CompiledRuleset:
    profile: str
    version: str
    rules: tuple[CompiledRule, ...]

    def durable_json(self) -> dict[str, Any]:
        """The ruleset body for durable_rules: {rule_id: {"all": [{"m": ...}], "run": rule_id}}."""
        return {r.id: r.durable_json() for r in self.rules}

    def by_id(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


# ----------------------------------------------------------------------------------------------------
# the subset check


def _check_constant(field: str, op: str, value: Any, where: str) -> None:
    spec = SITUATION_FIELDS.get(field)
    if spec is None:
        raise CompileError(f"{where}: unknown situation field {field!r}")
    if isinstance(value, (dict, list, tuple)):
        raise CompileError(
            f"{where}: {op} on {field!r} compares with a non-constant (correlated or arithmetic expression): {value!r}"
        )
    if op == "$ex":
        if value != 1 and value is not True:
            raise CompileError(f"{where}: $ex takes 1")
        return
    if spec.kind == "bool":
        if not isinstance(value, bool) or op not in {"$eq", "$neq"}:
            raise CompileError(f"{where}: {field!r} is a boolean: only $eq/$neq with true/false")
    elif spec.kind in {"int", "float"}:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CompileError(f"{where}: {field!r} is numeric: constant must be a finite number, got {value!r}")
        if "e" in repr(value).lower():
            raise CompileError(f"{where}: {value!r} would be written with an exponent")
    else:
        if not isinstance(value, str) or op not in {"$eq", "$neq"}:
            raise CompileError(
                f"{where}: {field!r} is an enumeration: only $eq/$neq with a string "
                "(durable_rules compares strings as text)"
            )
        if value not in spec.values:
            raise CompileError(f"{where}: {value!r} is not a value of {field!r} ({', '.join(spec.values)})")


def _check_field_name(field: Any, where: str) -> str:
    if not isinstance(field, str) or not field or field.startswith("$") or "." in field or field in {"sid", "id"}:
        raise CompileError(f"{where}: {field!r} is not a flat situation field (no $, '.', sid, id)")
    return field


def check_expression(expr: Any, where: str = "rule") -> None:
    """Raise CompileError unless `expr` is a constant-only expression over flat situation fields."""
    if not isinstance(expr, dict) or len(expr) != 1:
        raise CompileError(f"{where}: an expression is a mapping with exactly one key, got {expr!r}")
    ((key, value),) = expr.items()
    if key in GROUPS:
        if not isinstance(value, list) or not value:
            raise CompileError(f"{where}: {key} takes a non-empty list")
        for i, sub in enumerate(value):
            check_expression(sub, f"{where}.{key}[{i}]")
    elif key in COMPARISONS or key == "$ex":
        if not isinstance(value, dict) or len(value) != 1:
            raise CompileError(f"{where}: {key} takes a mapping of one field to one constant")
        ((field, const),) = value.items()
        _check_field_name(field, where)
        _check_constant(field, key, const, where)
    elif isinstance(key, str) and key.startswith("$"):
        raise CompileError(f"{where}: operator {key!r} is outside the safe subset")
    else:
        _check_field_name(key, where)
        _check_constant(key, "$eq", value, where)


def check_safe_rule(rule_id: str, rule: Any) -> None:
    """Reject a durable_rules JSON rule unless it is exactly one constant-only pattern over one fact."""
    where = f"rule {rule_id!r}"
    if not isinstance(rule, dict):
        raise CompileError(f"{where}: a rule is a mapping")
    extra = set(rule) - {"all", "run"}
    if extra:
        raise CompileError(
            f"{where}: keys {sorted(extra)} are outside the safe subset (only 'all' and 'run'; "
            "no any/pri/count/cap/span/timers)"
        )
    patterns = rule.get("all")
    if not isinstance(patterns, list) or len(patterns) != 1:
        raise CompileError(f"{where}: exactly one pattern is allowed (no joins, no none())")
    (pattern,) = patterns
    if not isinstance(pattern, dict) or list(pattern) != ["m"]:
        raise CompileError(f"{where}: the single pattern must be named 'm' and be a plain fact match")
    check_expression(pattern["m"], where)


# ----------------------------------------------------------------------------------------------------
# compiling profile conditions

_OPS = {"is_": "$eq", "is_not": "$neq", "at_least": "$gte", "above": "$gt", "at_most": "$lte", "below": "$lt"}


def _resolve(profile: Profile, value: Scalar | Ref, where: str) -> Scalar:
    if isinstance(value, Ref):
        try:
            resolved = profile.lookup(value.ref)
        except KeyError as exc:
            raise CompileError(f"{where}: ref {value.ref!r} does not name a profile value") from exc
        if not isinstance(resolved, (bool, int, float, str)):
            raise CompileError(f"{where}: ref {value.ref!r} is not a constant")
        return resolved
    return value


def _compile_condition(profile: Profile, cond: Condition, where: str) -> dict[str, Any]:
    if cond.any is not None:
        return {"$or": [_compile_condition(profile, c, where) for c in cond.any]}
    if cond.all is not None:
        return {"$and": [_compile_condition(profile, c, where) for c in cond.all]}
    assert cond.fact is not None
    if cond.present is not None:
        if not cond.present:
            raise CompileError(f"{where}: 'present: false' would need $nex, outside the safe subset")
        return {"$ex": {cond.fact: 1}}
    if cond.one_of is not None:
        if not cond.one_of:
            raise CompileError(f"{where}: one_of needs at least one value")
        return {"$or": [{"$eq": {cond.fact: v}} for v in cond.one_of]}
    for attr, op in _OPS.items():
        value = getattr(cond, attr)
        if value is not None:
            const = _resolve(profile, value, where)
            spec = SITUATION_FIELDS[cond.fact]
            if spec.kind == "float" and isinstance(const, int) and not isinstance(const, bool):
                const = float(const)
            return {op: {cond.fact: const}}
    raise CompileError(f"{where}: empty clause")


def compile_profile(profile: Profile) -> CompiledRuleset:
    """Compile every rule of the profile; each result is checked against the safe subset."""
    compiled = []
    for i, rule in enumerate(profile.rules):
        where = f"rule {rule.id!r}"
        try:
            parts = [_compile_condition(profile, c, where) for c in rule.when]
            condition = parts[0] if len(parts) == 1 else {"$and": parts}
            cr = CompiledRule(rule.id, rule.statement, condition, rule.then)
            check_safe_rule(rule.id, cr.durable_json())
        except CompileError as exc:
            raise CompileError(str(exc), rule_index=i, field=f"rules.{i}.when") from exc
        compiled.append(cr)
    return CompiledRuleset(profile.name, profile.version, tuple(compiled))
