from __future__ import annotations

import pytest
from adapter_helpers import EXAMPLE_C, events_of, outcome_of

from adapters.base import Accepted, Rejected, Skipped
from events import AdministrationRetracted, CompletionStatus, DrugAdministered


def _ras(rxa20: str = "CP", rxa21: str = "A", code: str = "L01FC01^daratumumab^ATC") -> bytes:
    return "\r".join(
        [
            "MSH|^~\\&|PHARM|UKX|ITP|UKX|20240301103012+0100||RAS^O17^RAS_O17|MED-1|P|2.5",
            "PID|1||4711^^^UKX^MR",
            "ORC|RE|RX-1^KIS|ADM-1^PHARM",
            f"RXA|0|5|20240301100500+0100||{code}|1800|mg^milligram^UCUM|||||||||||||{rxa20}|{rxa21}",
        ]
    ).encode()


def test_domain_example_c() -> None:
    outcome = outcome_of(EXAMPLE_C.encode())
    assert isinstance(outcome, Accepted)
    drugs = [e for e in outcome.events if isinstance(e, DrugAdministered)]
    assert [(d.agent, d.atc_code, d.dose, d.dose_unit, d.route) for d in drugs] == [
        ("daratumumab", "L01FC01", 1800.0, "mg", "SC"),
        ("romiplostim", "B02BX04", 210.0, "ug", "SC"),
    ]
    assert drugs[0].administration_key == "ADM-55120-05|0|5"
    assert drugs[1].administration_key == "ADM-55131-01|0|1"
    assert drugs[0].completion is CompletionStatus.COMPLETE
    assert drugs[0].occurred_at.isoformat() == "2024-03-01T10:05:00+01:00"
    assert drugs[0].source.sender == "PHARM_KIS^UKX_APOTHEKE"
    assert all(d.stream == "4711001" for d in drugs)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("CP", CompletionStatus.COMPLETE),
        ("", CompletionStatus.COMPLETE),
        ("PA", CompletionStatus.PARTIAL),
        ("NA", CompletionStatus.NOT_ADMINISTERED),
        ("RE", CompletionStatus.REFUSED),
    ],
)
def test_completion_status(code: str, expected: CompletionStatus) -> None:
    drug = events_of(_ras(rxa20=code))[-1]
    assert isinstance(drug, DrugAdministered) and drug.completion is expected


def test_unknown_completion_rejected() -> None:
    outcome = outcome_of(_ras(rxa20="ZZ"))
    assert isinstance(outcome, Rejected) and outcome.field == "RXA[1]-20"


def test_action_d_retracts() -> None:
    event = events_of(_ras(rxa21="D"))[-1]
    assert isinstance(event, AdministrationRetracted)
    assert event.administration_key == "ADM-1|0|5"


def test_brand_name_without_atc() -> None:
    drug = events_of(_ras(code="DARA-SC^Darzalex 1800 mg s.c.^L"))[-1]
    assert isinstance(drug, DrugAdministered) and drug.agent == "daratumumab" and drug.atc_code == "L01FC01"


def test_drug_not_in_table_skipped() -> None:
    outcome = outcome_of(_ras(code="08^HepB-Peds^CVX"))
    assert isinstance(outcome, Skipped) and "synonym table" in outcome.reason
