"""Small builders of clinical events for rule tests: one patient, times in Europe/Berlin by default."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from events import (
    CLOCK_STREAM,
    AdministrationRetracted,
    AdverseEventReported,
    BleedingReported,
    BodyWeightRecorded,
    ClockAdvanced,
    DrugAdministered,
    PlateletCountRecorded,
    ResultRetracted,
    ResultStatus,
    Source,
    stable_event_id,
)

BERLIN = ZoneInfo("Europe/Berlin")
PATIENT = "MRN1"
DAY0 = date(2024, 1, 1)
_seq = itertools.count(1)


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    """Study-style offset: at(0) is DAY0 (the D1 date in most tests) at 09:00 Berlin time."""
    return datetime.combine(DAY0 + timedelta(days=day), time(hour, minute), tzinfo=BERLIN)


def _base(
    kind: str, occurred: datetime, key: str, recorded: datetime | None = None, stream: str = PATIENT
) -> dict[str, Any]:
    n = next(_seq)
    return {
        "event_id": stable_event_id("test", kind, key, str(n)),
        "stream": stream,
        "occurred_at": occurred,
        "recorded_at": recorded or occurred + timedelta(hours=1),
        "source": Source(feed="test", sender="factory", message_id=f"{kind}-{n}"),
    }


def count(
    day: int,
    value: float | None,
    *,
    hour: int = 8,
    key: str | None = None,
    status: ResultStatus = ResultStatus.FINAL,
    reported_day: int | None = None,
    code: str = "777-3",
    censored: str | None = None,
) -> PlateletCountRecorded:
    occurred = at(day, hour)
    key = key or f"res-{day}-{hour}"
    reported = at(reported_day if reported_day is not None else day, hour + 1)
    return PlateletCountRecorded(
        **_base("count", occurred, key + status.value + str(value), reported),
        value=value,
        original_value=str(value),
        original_unit="10*9/L",
        code=code,
        code_system="http://loinc.org",
        status=status,
        result_key=key,
        reported_at=reported,
        censored=censored,
    )  # type: ignore[arg-type]


def dose(
    day: int,
    agent: str = "daratumumab",
    *,
    hour: int = 10,
    mg: float | None = 1800.0,
    key: str | None = None,
    atc: str | None = None,
    unit: str | None = "mg",
) -> DrugAdministered:
    key = key or f"adm-{agent}-{day}-{hour}"
    return DrugAdministered(
        **_base("dose", at(day, hour), key),
        agent=agent,
        atc_code=atc,
        original_code=agent,
        dose=mg,
        dose_unit=unit,
        administration_key=key,
    )


def retract_result(day: int, key: str) -> ResultRetracted:
    return ResultRetracted(**_base("rr", at(day, 12), key), result_key=key)


def retract_admin(day: int, key: str) -> AdministrationRetracted:
    return AdministrationRetracted(**_base("ar", at(day, 12), key), administration_key=key)


def bleeding(day: int, grade: int) -> BleedingReported:
    return BleedingReported(**_base("bleed", at(day, 11), str(day)), who_grade=grade)


def weight(day: int, kg: float) -> BodyWeightRecorded:
    return BodyWeightRecorded(**_base("weight", at(day, 7), str(day)), kg=kg)


def infection(
    day: int,
    *,
    serious: bool | None = None,
    grade: int | None = None,
    severity: str | None = None,
    code: str = "68566005",
    category: str | None = None,
) -> AdverseEventReported:
    return AdverseEventReported(
        **_base("ae", at(day, 13), f"ae{day}"),
        term_code=code,
        term_system="http://snomed.info/sct",
        category=category,
        grade=grade,
        severity=severity,
        serious=serious,
        ae_key=f"ae-{day}",
    )  # type: ignore[arg-type]


def clock(day: int, hour: int = 0) -> ClockAdvanced:
    return ClockAdvanced(**_base("clock", at(day, hour), str(day), stream=CLOCK_STREAM))


def types(derived: list[Any]) -> list[str]:
    return [d.type for d in derived]


def of_type(derived: list[Any], name: str) -> list[Any]:
    return [d for d in derived if d.type == name]


def alerts(derived: list[Any]) -> list[str]:
    return [d.alert for d in derived if d.type == "AlertRaised"]
