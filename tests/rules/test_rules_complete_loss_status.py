"""The patient status reads correctly around an IWG loss of complete response (engine/projections/status.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.projections.status import STATE_OF, STATE_RANK, status_row
from events import CompleteResponseLost
from tests.rules.factories import DAY0, PATIENT, count, dose
from tests.rules.helpers_rules import derive

CR = [count(-2, 10), dose(0), count(10, 100), count(17, 110)]


def _status(events: list[Any]) -> tuple[str, Any]:
    row = status_row(PATIENT, [*events, *derive(events, "iwg2009")])
    return row["state"], row["since"]


def test_status_is_responder_after_loss_of_complete_response() -> None:
    assert STATE_OF[CompleteResponseLost] == "responder"
    assert STATE_RANK["CompleteResponseAchieved"] < STATE_RANK["CompleteResponseLost"]
    assert STATE_RANK["CompleteResponseLost"] < STATE_RANK["SustainedRemissionReached"]
    assert _status(CR) == ("complete-responder", DAY0 + timedelta(days=10))
    assert _status([*CR, count(24, 60), count(25, 60)]) == ("responder", DAY0 + timedelta(days=24))


def test_status_is_relapsed_when_r_is_lost_too() -> None:
    later = [*CR, count(24, 60), count(25, 60), count(40, 25), count(41, 22)]
    assert _status(later) == ("relapsed", DAY0 + timedelta(days=40))
    # one failing run ends the CR and the R on the same day: the loss of R outranks the loss of CR
    assert _status([*CR, count(24, 20), count(25, 20)]) == ("relapsed", DAY0 + timedelta(days=24))
