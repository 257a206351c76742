"""The vocabulary of the situation fact: the only thing rule conditions may look at.

The temporal abstraction (rules/temporal.py) computes one flat situation per step; rule conditions
compare its fields with constants. Declaring every field with its type here lets the compiler refuse
conditions on unknown fields or with constants of the wrong JSON type (durable_rules compares strings
as text, so an ordered comparison on a string field is always a bug), and lets the matcher validate a
situation before it reaches the C engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["bool", "int", "float", "enum"]


@dataclass(frozen=True)
class FieldSpec:
    """Type of one situation field; `values` lists the allowed strings of an enum field."""

    kind: FieldKind
    doc: str
    values: tuple[str, ...] = ()


KINDS = ("count", "dose", "tick", "adverse_event", "bleeding")
STATES = ("none", "assessing", "responder", "relapsed", "non_responder")
DEADLINES = ("none", "non_response", "sustained_remission", "missing_count", "early_stop")
SEVERITIES = ("unknown", "mild", "moderate", "severe")

SITUATION_FIELDS: dict[str, FieldSpec] = {
    "kind": FieldSpec("enum", "what happened at this step", KINDS),
    "scope": FieldSpec(
        "enum", "episode: about one treatment episode; patient: about the patient", ("episode", "patient")
    ),
    "tracked": FieldSpec("bool", "the patient has an episode of a tracked agent"),
    "dose_of_tracked": FieldSpec("bool", "this step is an administration of the episode's tracked agent"),
    "has_episode": FieldSpec("bool", "the tracked agent already has an episode"),
    "state": FieldSpec("enum", "response state of the episode", STATES),
    "complete": FieldSpec("bool", "complete response already achieved in the episode"),
    "sustained": FieldSpec("bool", "sustained remission already reached in the episode"),
    "counting": FieldSpec("bool", "the count is a valid count (status, code, value), rescue window ignored"),
    "eligible": FieldSpec("bool", "an eligible occasion: a counting count outside rescue windows, or a voiding bleed"),
    "count": FieldSpec("float", "platelets 10^9/L (0 when the step is not a count)"),
    "count_censored_below": FieldSpec("bool", "the count was reported as '<value'"),
    "meets_response": FieldSpec("bool", "the day's value meets the response criterion"),
    "meets_complete": FieldSpec("bool", "the day's value meets the complete-response criterion"),
    "fails_response": FieldSpec("bool", "the day's value fails the response criterion (or a voiding bleed)"),
    "response_confirmed": FieldSpec("bool", "a qualifying run long enough: earlier qualifying day, none failing since"),
    "complete_confirmed": FieldSpec("bool", "as response_confirmed for the complete-response criterion"),
    "fails_complete": FieldSpec(
        "bool", "the day's occasion fails the complete-response criterion (below it, or a voiding bleed)"
    ),
    "loss_confirmed": FieldSpec("bool", "after the response, a failing run over two different days"),
    "complete_loss_confirmed": FieldSpec(
        "bool", "after the complete response, a run failing it over two different days, none meeting it between"
    ),
    "complete_lost": FieldSpec("bool", "loss of the complete response already derived in the episode"),
    "in_failing_run": FieldSpec("bool", "the latest occasion after the response fails"),
    "loss_alerted": FieldSpec("bool", "the current failing run already raised its alert"),
    "days_since_d1": FieldSpec("int", "date - D1 date (D1 = day 1, so study day = this + 1); -1 without episode"),
    "days_since_response_onset": FieldSpec("int", "date - response onset date; -1 without response"),
    "response_days_observed": FieldSpec(
        "int", "date of the last eligible count - response onset date (the ongoing response duration); -1 none"
    ),
    "days_since_last_eligible_count": FieldSpec(
        "int", "date - date of the last eligible count in the episode; -1 none"
    ),
    "days_since_last_dose": FieldSpec("int", "date - date of the previous administration of the agent; -1 none"),
    "deadline": FieldSpec("enum", "the time-based deadline this tick evaluates", DEADLINES),
    "ae_infection": FieldSpec("bool", "the adverse event is classified as an infection"),
    "ae_serious": FieldSpec("bool", "the adverse event is serious (ICH E2A)"),
    "ae_grade": FieldSpec("int", "CTCAE grade, 0 when not given"),
    "ae_severity": FieldSpec("enum", "FHIR severity", SEVERITIES),
    "bleeding_grade": FieldSpec("int", "WHO bleeding grade of this step, 0 otherwise"),
}

Situation = dict[str, bool | int | float | str]


def default_situation() -> Situation:
    """A complete situation with neutral values; the temporal abstraction overwrites what applies."""
    return {
        "kind": "tick",
        "scope": "episode",
        "tracked": False,
        "dose_of_tracked": False,
        "has_episode": False,
        "state": "none",
        "complete": False,
        "sustained": False,
        "counting": False,
        "eligible": False,
        "count": 0.0,
        "count_censored_below": False,
        "meets_response": False,
        "meets_complete": False,
        "fails_response": False,
        "fails_complete": False,
        "response_confirmed": False,
        "complete_confirmed": False,
        "loss_confirmed": False,
        "complete_loss_confirmed": False,
        "complete_lost": False,
        "in_failing_run": False,
        "loss_alerted": False,
        "days_since_d1": -1,
        "days_since_response_onset": -1,
        "response_days_observed": -1,
        "days_since_last_eligible_count": -1,
        "days_since_last_dose": -1,
        "deadline": "none",
        "ae_infection": False,
        "ae_serious": False,
        "ae_grade": 0,
        "ae_severity": "unknown",
        "bleeding_grade": 0,
    }
