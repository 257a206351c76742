"""Which of a patient's alerts still ask a clinician to look: the one place that decides it.

Alerts are open, acknowledged (a person saw it) or withdrawn (a correction removed its cause) today;
issue 10 adds resolved (the condition cleared) and superseded (a more severe alert replaced it). Only an
open alert asks for attention, and of those only the ones a ward would act on in the chart: urgent and
critical ones, and the first failing count after a response (possible loss of response), which asks for
a repeat count. Advisories and missing-count warnings stay on the worklist, not in the chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ATTENTION_STATES = frozenset({"open"})
ATTENTION_SEVERITIES = frozenset({"urgent", "critical"})
POSSIBLE_LOSS = "post-response-drop"
"""The alert id of 'possible loss of response' in the built-in profiles."""


def needs_attention(alert: Mapping[Any, Any]) -> bool:
    """An alert row (alert, severity, state) that belongs on a CDS card."""
    if alert["state"] not in ATTENTION_STATES:
        return False
    return alert["severity"] in ATTENTION_SEVERITIES or alert["alert"] == POSSIBLE_LOSS


def alerts_needing_attention(rows: Iterable[Mapping[Any, Any]]) -> list[Mapping[Any, Any]]:
    return [row for row in rows if needs_attention(row)]
