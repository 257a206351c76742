"""What the rules decided. Each names its rule, profile and version and the inputs that caused it."""

from __future__ import annotations

from datetime import date
from typing import Literal

from events.base import DerivedEvent


class EpisodeStarted(DerivedEvent):
    type: Literal["EpisodeStarted"] = "EpisodeStarted"
    d1: date
    baseline: float | None = None
    baseline_imputed: bool = False
    baseline_event_id: str | None = None
    reexposure: bool = False
    combination_with: tuple[str, ...] = ()


class ResponseAchieved(DerivedEvent):
    type: Literal["ResponseAchieved"] = "ResponseAchieved"
    onset: date
    time_to_response_days: int


class CompleteResponseAchieved(DerivedEvent):
    type: Literal["CompleteResponseAchieved"] = "CompleteResponseAchieved"
    onset: date
    time_to_response_days: int


class CompleteResponseLost(DerivedEvent):
    """Loss of a complete response (IWG 2009: from CR, two occasions < 100 or with bleeding on different days).

    The response (R) may continue: the episode stays a responder until a ResponseLost. At most one per
    episode; a complete response lost is not regained in the same episode.
    """

    type: Literal["CompleteResponseLost"] = "CompleteResponseLost"
    onset: date
    """Date of the first of the two occasions failing the complete-response criterion."""
    complete_response_duration_days: int
    """CR loss onset - CR onset (days)."""


class ResponseLost(DerivedEvent):
    type: Literal["ResponseLost"] = "ResponseLost"
    onset: date
    response_duration_days: int


class ReExposureStarted(DerivedEvent):
    type: Literal["ReExposureStarted"] = "ReExposureStarted"
    previous_episode: int
    reason: Literal["after-relapse", "after-gap"]
    days_since_previous: int


class SustainedRemissionReached(DerivedEvent):
    type: Literal["SustainedRemissionReached"] = "SustainedRemissionReached"
    reached_on: date
    response_onset: date


class NonResponseDeclared(DerivedEvent):
    type: Literal["NonResponseDeclared"] = "NonResponseDeclared"
    assessed_on: date


class AlertRaised(DerivedEvent):
    type: Literal["AlertRaised"] = "AlertRaised"
    alert: str
    """The alert definition id of the profile (e.g. 'post-response-drop')."""
    severity: Literal["info", "advisory", "warning", "urgent", "critical"]
    message: str


class DerivationRevised(DerivedEvent):
    """A re-derivation no longer yields the derived events it names; they stay in the log, superseded."""

    type: Literal["DerivationRevised"] = "DerivationRevised"
    supersedes: tuple[str, ...]
    reason: str
