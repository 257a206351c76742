"""Rule profiles as data: a clinician-readable YAML file, validated on load with file:line errors.

A profile holds every clinical choice (thresholds, confirmation, windows, rescue list, agents, alerts,
rules). Nothing clinical is a constant in code, so a site can copy a file, edit it and point at it.
The version is derived from the content, so every derived event can name exactly what decided it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from events.clinical import ResultStatus
from rules.situation import SITUATION_FIELDS

PROFILE_DIR = Path(__file__).parent / "profiles"
BUILTIN_PROFILES = ("site", "iwg2009")

Transition = Literal[
    "start-episode",
    "reexposure-after-relapse",
    "reexposure-after-gap",
    "response",
    "complete-response",
    "complete-response-lost",
    "loss-pending",
    "relapse",
    "non-response",
    "sustained-remission",
]
Severity = Literal["info", "advisory", "warning", "urgent", "critical"]
Scalar = bool | int | float | str


class ProfileError(ValueError):
    """A profile that cannot be used; the message names file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Ref(_Strict):
    """A constant taken from elsewhere in the profile (e.g. windows.non_response_day), resolved on compile."""

    ref: str


Operand = Scalar | Ref


class Condition(_Strict):
    """One clause: a fact compared with a constant, or a group (any/all) of clauses."""

    fact: str | None = None
    is_: Operand | None = Field(default=None, alias="is")
    is_not: Operand | None = None
    one_of: list[Scalar] | None = None
    at_least: Operand | None = None
    above: Operand | None = None
    at_most: Operand | None = None
    below: Operand | None = None
    present: bool | None = None
    any: list[Condition] | None = None
    all: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        ops = [
            k
            for k in ("is_", "is_not", "one_of", "at_least", "above", "at_most", "below", "present")
            if getattr(self, k) is not None
        ]
        groups = [k for k in ("any", "all") if getattr(self, k) is not None]
        if groups:
            if self.fact is not None or ops or len(groups) != 1:
                raise ValueError("a group clause has exactly one of 'any'/'all' and nothing else")
            return self
        if self.fact is None or len(ops) != 1:
            raise ValueError(
                "a clause names one 'fact' and exactly one operator (is, is_not, one_of, "
                "at_least, above, at_most, below, present)"
            )
        if self.fact not in SITUATION_FIELDS:
            raise ValueError(f"unknown fact {self.fact!r}; known: {', '.join(sorted(SITUATION_FIELDS))}")
        return self


class Then(_Strict):
    transition: Transition | None = None
    alert: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Then:
        if self.transition is None and self.alert is None:
            raise ValueError("'then' needs a transition, an alert or both")
        return self


class RuleDef(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    statement: str = Field(min_length=5)
    when: list[Condition] = Field(min_length=1)
    then: Then


class AlertDef(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    severity: Severity
    message: str
    statement: str


class Thresholds(_Strict):
    response: float = Field(gt=0)
    complete: float = Field(gt=0)
    relapse_below: float = Field(gt=0)
    doubling_of_baseline: bool = False
    """IWG: the count must also be >= 2 x baseline (no baseline: the criterion cannot be met)."""


class Confirmation(_Strict):
    min_days_apart: int = Field(ge=1)
    none_failing_between: bool = True


class Windows(_Strict):
    rescue_days: int = Field(ge=1)
    baseline_days: int = Field(ge=0)
    baseline_fallback_days: int = Field(ge=0)
    reexposure_gap_days: int = Field(ge=1)
    combination_days: int = Field(ge=0)
    non_response_day: int = Field(ge=1)
    sustained_remission_days: int = Field(ge=1)
    missing_count_days: int = Field(ge=1)
    early_stop_no_dose_days: int = Field(ge=1)


class Counts(_Strict):
    accepted_codes: list[str] = Field(min_length=1)
    accepted_statuses: list[ResultStatus] = Field(min_length=1)


class Bleeding(_Strict):
    voids_response: bool = False
    min_who_grade: int = Field(default=2, ge=0, le=4)


class RescueDef(_Strict):
    id: str
    statement: str
    agents: list[str] = []
    atc_prefixes: list[str] = []
    min_mg_per_day: float | None = None
    min_mg_per_kg_per_day: float | None = None


class Premedication(_Strict):
    id: str
    statement: str
    agents: list[str]
    same_day_as_classes: list[str]


class DrugClass(_Strict):
    label: str
    itp_drug: bool
    """An ITP drug whose start near D1 makes an episode a combination."""


class Infection(_Strict):
    codes: list[str]
    categories: list[str] = []
    min_grade: int = 3


class FollowUp(_Strict):
    """How cohort reports judge follow-up at the data cut (read by engine/reporting, never by the rules)."""

    ongoing_window_days: int = Field(ge=1)
    """A response without relapse is ongoing only with an eligible count this many days before the cut."""


class Profile(_Strict):
    """A validated rule profile. `version` and `source` are filled by the loader."""

    name: str
    description: str
    timezone: str = "Europe/Berlin"
    day_convention: str
    counts: Counts
    response: Thresholds
    confirmation: Confirmation
    loss_confirmation: Confirmation
    bleeding: Bleeding
    windows: Windows
    classes: dict[str, DrugClass]
    agents: dict[str, str]
    """agent -> class."""
    tracked_agents: list[str] = Field(min_length=1)
    rescue: list[RescueDef]
    premedication: Premedication
    infection: Infection
    follow_up: FollowUp
    alerts: list[AlertDef]
    rules: list[RuleDef] = Field(min_length=1)
    version: str = ""
    source: str = ""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _cross(self) -> Profile:
        for agent, cls in self.agents.items():
            if cls not in self.classes:
                raise ValueError(f"agent {agent!r} has unknown class {cls!r}")
        for agent in self.tracked_agents:
            if agent not in self.agents:
                raise ValueError(f"tracked agent {agent!r} is not in 'agents'")
        for c in self.premedication.same_day_as_classes:
            if c not in self.classes:
                raise ValueError(f"premedication class {c!r} is not in 'classes'")
        alert_ids = {a.id for a in self.alerts}
        if len(alert_ids) != len(self.alerts):
            raise ValueError("alert ids must be unique")
        rule_ids = [r.id for r in self.rules]
        if len(set(rule_ids)) != len(rule_ids):
            raise ValueError("rule ids must be unique")
        for r in self.rules:
            if r.then.alert is not None and r.then.alert not in alert_ids:
                raise ValueError(f"rule {r.id!r} raises unknown alert {r.then.alert!r}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def alert(self, alert_id: str) -> AlertDef:
        for a in self.alerts:
            if a.id == alert_id:
                return a
        raise KeyError(alert_id)

    def agent_class(self, agent: str) -> str | None:
        return self.agents.get(agent)

    def lookup(self, dotted: str) -> Any:
        """Resolve a `ref` such as 'windows.non_response_day' against the profile's data."""
        node: Any = self
        for part in dotted.split("."):
            if isinstance(node, BaseModel) and part in type(node).model_fields:
                node = getattr(node, part)
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise KeyError(dotted)
        return node


# ----------------------------------------------------------------------------------------------------
# loading


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Map every path in the YAML document to its 1-based line, so errors can point at the line."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), 1)


def canonical_content(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def profile_version(data: Any) -> str:
    """First 12 hex digits of sha256 over the canonical JSON of the parsed file (comments don't count)."""
    return hashlib.sha256(canonical_content(data).encode()).hexdigest()[:12]


def parse_profile(text: str, source: str) -> Profile:
    """Validate YAML text as a profile; errors read 'file:line: field: message'."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ProfileError(f"{source}:{line}: <yaml>: {exc}") from exc
    if root is None or not isinstance(data, dict):
        raise ProfileError(f"{source}:1: <root>: a profile is a mapping")
    lines: dict[tuple[Any, ...], int] = {}
    _line_index(root, (), lines)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            field = ".".join(str(p) for p in loc) or "<root>"
            msgs.append(f"{source}:{_line_for(loc, lines)}: {field}: {err['msg']}")
        raise ProfileError("\n".join(msgs)) from exc
    profile = profile.model_copy(update={"version": profile_version(data), "source": source})
    # Compile once so that a bad ref or an out-of-subset condition fails at load, with its line.
    from rules.compiler import CompileError, compile_profile

    try:
        compile_profile(profile)
    except CompileError as exc:
        where: tuple[Any, ...] = ("rules", exc.rule_index) if exc.rule_index is not None else ()
        raise ProfileError(f"{source}:{_line_for(where, lines)}: {exc.field}: {exc}") from exc
    return profile


def load_profile(name_or_path: str | Path = "site") -> Profile:
    """Load 'site', 'iwg2009' or a path to a profile file (a site's edited copy)."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_PROFILES:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    else:
        path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}:0: <file>: {exc}") from exc
    return parse_profile(text, str(path))
