from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from adapter_helpers import EXAMPLE_A, OBR, events_of, obx, of_type, oru, outcome_of, read_one

from adapters.base import Accepted, Rejected, Skipped
from adapters.mapping import SiteMapping
from events import PatientDemographics, PlateletCountRecorded, ResultRetracted, ResultStatus

CET = timezone(timedelta(hours=1))


def _platelet(data: bytes, mapping: SiteMapping | None = None) -> PlateletCountRecorded:
    found = of_type(events_of(data, mapping), "PlateletCountRecorded")
    assert len(found) == 1
    event = found[0]
    assert isinstance(event, PlateletCountRecorded)
    return event


def test_domain_example_a() -> None:
    msg = read_one(EXAMPLE_A.encode("latin-1"))
    assert msg.sender == "LAB_LIS^UKX_ZENTRALLABOR"
    assert msg.message_id == "LAB240305-000123"
    outcome = msg.outcome
    assert isinstance(outcome, Accepted)
    assert outcome.skipped_parts == 2
    plt = [e for e in outcome.events if isinstance(e, PlateletCountRecorded)]
    assert len(plt) == 1
    event = plt[0]
    assert event.value == 48.0
    assert event.status is ResultStatus.FINAL
    assert event.stream == "4711001"
    assert event.code == "777-3" and event.code_system == "LN"
    assert event.result_key == "F-24065-0042|777-3|"
    assert event.occurred_at == datetime(2024, 3, 5, 8, 12, tzinfo=CET)
    assert event.reported_at == datetime(2024, 3, 5, 9, 39, 55, tzinfo=CET)
    assert event.original_value == "48" and event.original_unit == "Gpt/l"
    assert event.source.feed == "hl7-file" and event.source.message_id == "LAB240305-000123"
    demo = [e for e in outcome.events if isinstance(e, PatientDemographics)]
    assert len(demo) == 1 and demo[0].sex == "female" and str(demo[0].birth_date) == "1965-04-12"
    assert "Musterfrau" not in demo[0].model_dump_json()


def test_resent_message_has_same_event_ids() -> None:
    first = events_of(EXAMPLE_A.encode())
    second = events_of(EXAMPLE_A.encode())
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)


def test_loinc_in_alternate_identifier() -> None:
    event = _platelet(oru(obx(code="THRO^Thrombozyten^L^777-3^Platelets^LN")))
    assert event.code == "777-3" and event.value == 48.0


def test_other_analytes_only_is_skipped() -> None:
    outcome = outcome_of(oru(obx(code="718-7^Hemoglobin^LN", value="12.9", unit="g/dl")))
    assert isinstance(outcome, Skipped) and "other analytes" in outcome.reason


def test_prefilter_false_positive_still_skipped() -> None:
    # "777-3" appears in an NTE only: the full parse finds no platelet OBX.
    data = oru(obx(code="718-7^Hemoglobin^LN", value="12.9", unit="g/dl"), "NTE|1||see 777-3")
    assert isinstance(outcome_of(data), Skipped)


@pytest.mark.parametrize(
    ("raw", "value", "censored"),
    [("<10", 10.0, "<"), (">1000", 1000.0, ">"), (" 1 5 0 ", 150.0, None), ("<=5", 5.0, "<")],
)
def test_censored_and_spaced_values(raw: str, value: float, censored: str | None) -> None:
    event = _platelet(oru(obx(value=raw)))
    assert (event.value, event.censored) == (value, censored)


def test_structured_numeric() -> None:
    event = _platelet(oru(obx(vtype="SN", value="^182")))
    assert event.value == 182.0 and event.censored is None
    event = _platelet(oru(obx(vtype="SN", value="<^10")))
    assert (event.value, event.censored) == (10.0, "<")


def test_per_microlitre_is_divided() -> None:
    assert _platelet(oru(obx(value="210000", unit="{cells}/uL^cells per microliter^UCUM"))).value == 210.0
    assert _platelet(oru(obx(value="48", unit="10\\S\\9/L"))).value == 48.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("P", ResultStatus.PRELIMINARY),
        ("F", ResultStatus.FINAL),
        ("C", ResultStatus.CORRECTED),
        ("A", ResultStatus.AMENDED),
        ("I", ResultStatus.OTHER),
        ("R", ResultStatus.OTHER),
    ],
)
def test_obx11_statuses(status: str, expected: ResultStatus) -> None:
    assert _platelet(oru(obx(status=status))).status is expected


def test_obx11_cancelled_has_no_value() -> None:
    event = _platelet(oru(obx(status="X", value="")))
    assert event.status is ResultStatus.CANCELLED and event.value is None


@pytest.mark.parametrize("status", ["D", "W"])
def test_obx11_delete_and_wrong_retract(status: str) -> None:
    events = events_of(oru(obx(status=status)))
    retracted = [e for e in events if isinstance(e, ResultRetracted)]
    assert len(retracted) == 1 and retracted[0].result_key == "F-24065-0042|777-3|"
    assert not of_type(events, "PlateletCountRecorded")


def test_unknown_status_rejected() -> None:
    outcome = outcome_of(oru(obx(status="Q")))
    assert isinstance(outcome, Rejected) and outcome.field == "OBX[1]-11" and outcome.error_code == "103"


def test_obx14_wins_over_obr7_and_obr7_is_the_fallback() -> None:
    assert _platelet(oru(obx(time="202403050700+0100"))).occurred_at == datetime(2024, 3, 5, 7, 0, tzinfo=CET)
    assert _platelet(oru(obx(time=""))).occurred_at == datetime(2024, 3, 5, 8, 12, tzinfo=CET)


def test_time_without_offset_is_site_time() -> None:
    event = _platelet(oru(obx(time="20240705081200")))  # summer: CEST
    assert event.occurred_at.astimezone(UTC) == datetime(2024, 7, 5, 6, 12, tzinfo=UTC)


def test_no_time_at_all_rejected() -> None:
    obr = OBR.replace("|||20240305081200+0100|", "||||")
    outcome = outcome_of(oru(obx(time=""), obr=obr))
    assert isinstance(outcome, Rejected) and outcome.error_code == "101"


def test_unmapped_unit_is_a_dead_letter() -> None:
    outcome = outcome_of(oru(obx(), obx(set_id=2, unit="Tsd/nl")))
    assert isinstance(outcome, Rejected)
    assert outcome.field == "OBX[2]-6" and outcome.error_code == "103" and "Tsd/nl" in outcome.reason


def test_non_numeric_value_rejected_naming_the_field() -> None:
    outcome = outcome_of(oru(obx(code="718-7^Hb^LN"), obx(set_id=2, value="clumped")))
    assert isinstance(outcome, Rejected) and outcome.field == "OBX[2]-5"


def test_decimal_comma_only_when_configured(mapping: SiteMapping) -> None:
    assert isinstance(outcome_of(oru(obx(value="48,5"))), Rejected)
    german = mapping.model_copy(update={"decimal_comma": True})
    assert _platelet(oru(obx(value="48,5")), german).value == 48.5


def test_implausible_value_rejected() -> None:
    outcome = outcome_of(oru(obx(value="48000", unit="Gpt/l")))
    assert isinstance(outcome, Rejected) and outcome.field == "OBX[1]-5"


def test_missing_pid3_rejected() -> None:
    outcome = outcome_of(oru(obx(), pid="PID|1||||X"))
    assert isinstance(outcome, Rejected) and outcome.field == "PID-3" and outcome.error_code == "101"


def test_result_key_falls_back_to_placer() -> None:
    obr = "OBR|1|ORD-1^KIS||58410-2^CBC^LN|||20240305081200+0100"
    data = "\r".join([EXAMPLE_A.split("\r")[0], "PID|1||4711^^^UKX^MR", obr, obx()]).encode()
    assert _platelet(data).result_key == "ORD-1|777-3|"


def test_not_hl7_at_all() -> None:
    outcome = outcome_of(b"MSX|garbage")
    assert isinstance(outcome, Rejected) and outcome.ack_code == "AR"


@pytest.mark.parametrize(
    ("msh9", "reason"),
    [
        ("ADT^A01", "ADT"),
        ("ORM^O01", "order"),
        ("OML^O21", "order"),
        ("RDE^O11", "order"),
        ("RDS^O13", "dispense"),
        ("ACK^R01", "acknowledgement"),
        ("PEX^P07", "adverse event"),
        ("SIU^S12", "not relevant"),
    ],
)
def test_irrelevant_types_skipped(msh9: str, reason: str) -> None:
    data = EXAMPLE_A.replace("ORU^R01^ORU_R01", msh9).encode()
    outcome = outcome_of(data)
    assert isinstance(outcome, Skipped) and reason in outcome.reason


def test_adt_a40_merge() -> None:
    data = "\r".join(
        [
            "MSH|^~\\&|KIS|UKX|ITP|UKX|20240306120000+0100||ADT^A40^ADT_A39|M1|P|2.5",
            "EVN|A40|20240306115900+0100",
            "PID|1||4711^^^UKX^MR",
            "MRG|0815^^^UKX^MR",
        ]
    ).encode()
    events = events_of(data)
    assert len(events) == 1 and events[0].type == "PatientMerged"
    assert events[0].stream == "4711" and getattr(events[0], "merged_stream", None) == "0815"
