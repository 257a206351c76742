"""Write the bundled example feed (examples/feed/*) and examples/expected.json from fixed, synthetic data.

Everything here is invented for itpwatch: MRNs 100001..100012, names like "Test^Patient01" (PID-5 only),
a fake address. No randomness and no wall clock: running the script twice gives the same bytes, and the test
suite checks that the committed files equal a fresh run.

    python examples/make_examples.py            # rewrite examples/feed and examples/expected.json
    python examples/make_examples.py --check    # exit 1 when the committed files differ

The cohort mirrors the seed abstract: 8 daratumumab patients (4 f / 4 m, ages 22-87, median 61, 3 secondary
ITP), 5 responders with time to response 7/14/14/21/70 days (median 2 weeks, range 1-10), two relapses 2 and
4 months after response, one re-exposure together with romiplostim 10 months after relapse that responds
again, 4..17 applications (median 9.5), ongoing remissions of 24, 32 and 51 months. Expected outcomes are
computed by a small reference evaluation of the site profile (docs/clinical-decisions.md) at the bottom of this file
and checked against the design targets, so a mistake in the data fails here and not in the engine tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
HERE = Path(__file__).resolve().parent
FHIR_BASE = "https://ukx.example.org/fhir"
MRN_SYSTEM = "https://ukx.example.org/fhir/sid/mrn"

RESPONSE = 50
COMPLETE = 100
RESCUE_DAYS = 28
NR_DAY = 84
REEXPOSURE_GAP = 56
COMBINATION_DAYS = 14

# ---------------------------------------------------------------------------------------------------------
# Drugs (ATC) and analytes (LOINC + a local alternate code, as a German LIS sends them)

DRUGS: dict[str, dict[str, str]] = {
    "daratumumab": {
        "code": "L01FC01",
        "name": "Daratumumab",
        "route": "SC^subcutaneous^HL70162",
        "kind": "itp",
    },
    "romiplostim": {
        "code": "B02BX04",
        "name": "Romiplostim",
        "route": "SC^subcutaneous^HL70162",
        "kind": "itp",
    },
    "ivig": {
        "code": "J06BA02",
        "name": "Immunoglobulins, normal human, intravascular",
        "route": "IV^intravenous^HL70162",
        "kind": "rescue",
    },
    "dexamethasone": {
        "code": "H02AB02",
        "name": "Dexamethasone",
        "route": "IV^intravenous^HL70162",
        "kind": "steroid",
    },
}
ANTI_CD38 = {"daratumumab"}

CBC = "58410-2^CBC panel - Blood by Automated count^LN^KBB^Kleines Blutbild^L"
CHEM = "ELKR^Elektrolyte und Kreatinin^L"
PLT_CODE = "777-3^Platelets [#/volume] in Blood by Automated count^LN^THRO^Thrombozyten^L"
UNITS = {
    "Gpt/l": "Gpt/l^Gpt/l^L",
    "G/L": "G/L^G/L^L",
    "10*9/L": "10*9/L^10*9/L^UCUM",
    "10*3/uL": "10*3/uL^10*3/uL^UCUM",
}


def at(d: date, hh: int, mm: int) -> datetime:
    """A wall-clock time in Berlin; zoneinfo picks +0100 (CET) or +0200 (CEST)."""
    return datetime.combine(d, time(hh, mm), tzinfo=BERLIN)


def ts(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S%z")


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment from {field number: value}; missing fields are empty."""
    values = [""] * max(fields)
    for k, v in fields.items():
        values[k - 1] = v
    return "|".join([name, *values])


def msh(app: str, when: datetime, mtype: str, control_id: str) -> str:
    return "MSH|^~\\&|" + "|".join(
        [
            app,
            "UKX",
            "ITPWATCH",
            "UKX",
            ts(when),
            "",
            mtype,
            control_id,
            "P",
            "2.5",
            "",
            "",
            "AL",
            "NE",
            "DEU",
            "8859/1",
        ]
    )


# ---------------------------------------------------------------------------------------------------------
# Patient data


@dataclass
class Count:
    when: datetime
    value: int
    unit: str = "Gpt/l"
    corrected_to: int | None = None
    """A correction (OBX-11 C, same OBR-3) arrives 3 hours later with this value."""
    duplicate: bool = False
    """The message is resent unchanged (same MSH-10)."""
    via_fhir: bool = False
    """Delivered as a FHIR Observation in the bundle instead of HL7."""


@dataclass
class Admin:
    when: datetime
    drug: str
    amount: str
    unit: str
    strength: tuple[str, str] | None = None
    duplicate: bool = False
    premed_for: bool = False
    """Sent in the same RAS^O17 as the daratumumab dose of that day (first order group)."""


@dataclass
class Patient:
    mrn: str
    sex: str
    birth: date
    story: str
    itp_type: str | None = None
    diagnosis: date | None = None
    prior_lines: int | None = None
    counts: list[Count] = field(default_factory=list)
    admins: list[Admin] = field(default_factory=list)
    chemistry: list[datetime] = field(default_factory=list)
    targets: dict[str, Any] = field(default_factory=dict)
    """Design targets checked against the reference evaluation (first episode of the agent unless noted)."""

    @property
    def number(self) -> int:
        return int(self.mrn) - 100000

    def cbc(self, d: date, value: int, hh: int = 8, mm: int = 10, unit: str | None = None, **kw: Any) -> None:
        self.counts.append(Count(at(d, hh, mm), value, unit or self.default_unit, **kw))

    default_unit: str = "Gpt/l"

    def give(self, d: date, drug: str, hh: int = 10, mm: int = 30, **kw: Any) -> None:
        amount, unit = {
            "daratumumab": ("1800", "mg"),
            "dexamethasone": ("20", "mg"),
            "ivig": ("60", "g"),
        }.get(drug, ("", ""))
        kw.setdefault("amount", amount)
        kw.setdefault("unit", unit)
        self.admins.append(Admin(at(d, hh, mm), drug, **kw))


def days(d1: date, n: int) -> date:
    return d1 + timedelta(days=n)


def series(p: Patient, d1: date, points: Iterable[tuple[int, int]], **kw: Any) -> None:
    for n, v in points:
        p.cbc(days(d1, n), v, **kw)


def steady(p: Patient, first: date, last: date, step: int, values: list[int]) -> None:
    """Counts every `step` days from first to last inclusive (last is always included), cycling values."""
    d, i = first, 0
    while d < last:
        p.cbc(d, values[i % len(values)])
        d += timedelta(days=step)
        i += 1
    p.cbc(last, values[i % len(values)])


def dara_course(
    p: Patient,
    d1: date,
    offsets: list[int],
    premed: Callable[[int], str | None] | None = None,
    duplicate_dose: int | None = None,
) -> None:
    for i, n in enumerate(offsets, start=1):
        dose = premed(n) if premed else None
        if dose:
            p.give(days(d1, n), "dexamethasone", hh=9, mm=45, amount=dose, premed_for=True)
        p.give(days(d1, n), "daratumumab", duplicate=(i == duplicate_dose))


INDUCTION = [0, 7, 14, 21]


def build_patients() -> list[Patient]:
    ps: list[Patient] = []

    # 100001 - fast responder (week 1) with CR, dexamethasone 20 mg premedication, 17 applications,
    # ongoing remission of 51 months; two counts come as FHIR Observations; one CBC is resent.
    p = Patient(
        "100001",
        "F",
        date(1960, 5, 14),
        "Responder week 1, CR, dexamethasone 20 mg premedication "
        "on induction days, 17 applications, ongoing remission 51 months; 2 counts via FHIR; one CBC "
        "message resent unchanged (duplicate); an RDE^O11 order the day before D1 (not a dose)",
        "primary",
        date(2014, 9, 1),
        5,
    )
    d1 = date(2020, 9, 7)
    dara_course(
        p,
        d1,
        [*INDUCTION, 35, 49, 63, 77, 91, 119, 147, 175, 203, 231, 259, 287, 315],
        premed=lambda n: "20" if n in INDUCTION else None,
    )
    series(p, d1, [(-3, 12), (0, 14), (7, 58), (10, 85), (14, 120), (21, 160), (28, 182)])
    steady(p, days(d1, 35), days(d1, 315), 14, [175, 196, 164, 210, 188, 171])
    onset = days(d1, 7)
    steady(p, days(d1, 343), onset + timedelta(days=1552), 28, [168, 154, 190, 176, 201, 159, 183])
    p.counts[12].duplicate = True
    p.cbc(date(2023, 3, 15), 176, unit="10*9/L", via_fhir=True)
    p.cbc(date(2023, 8, 16), 188, unit="10*9/L", via_fhir=True)
    p.chemistry.append(at(d1, 8, 10))
    p.targets = {"best": "CR", "ttr": 7, "cr_ttr": 14, "applications": 17, "duration_months": 51.0}
    ps.append(p)

    # 100002 - responder week 2 with CR, relapse 2 months after response, re-exposure 10 months after the
    # relapse together with romiplostim (combination) and a second response.
    p = Patient(
        "100002",
        "M",
        date(1975, 11, 2),
        "Responder week 2 (CR), relapse 2 months after response "
        "(first low count alerts, second confirms), re-exposure 10 months after relapse with "
        "romiplostim 2 days before (combination), second response week 3 (CR); 6 + 8 applications",
        "primary",
        date(2012, 10, 15),
        6,
        default_unit="G/L",
    )
    d1 = date(2021, 1, 11)
    dara_course(p, d1, [*INDUCTION, 35, 49])
    series(
        p,
        d1,
        [
            (-7, 18),
            (0, 15),
            (7, 32),
            (14, 65),
            (17, 98),
            (21, 112),
            (28, 134),
            (35, 120),
            (49, 95),
            (63, 78),
            (70, 61),
            (75, 38),
            (78, 22),
            (85, 27),
            (99, 19),
            (127, 31),
            (155, 24),
            (183, 16),
            (211, 29),
            (239, 22),
            (267, 33),
            (295, 18),
        ],
    )
    d2 = date(2022, 1, 26)
    romi_d1 = days(d2, -2)
    for w in range(16):
        p.give(
            days(romi_d1, 7 * w), "romiplostim", hh=11, mm=0, amount="240", unit="ug", strength=("3", "ug/kg")
        )
    dara_course(p, d2, [*INDUCTION, 35, 49, 77, 105])
    series(
        p,
        d2,
        [
            (-5, 14),
            (0, 11),
            (7, 28),
            (14, 44),
            (21, 72),
            (24, 95),
            (28, 130),
            (35, 160),
            (49, 172),
            (63, 150),
            (77, 141),
        ],
    )
    # follow-up of the second remission ends at the data cut ~5 months after its onset: the seed's
    # long-term remissions (24, 32 and 51 months) are those of the three patients who never relapsed
    steady(p, days(d2, 105), date(2022, 7, 4), 28, [138, 126, 149, 117, 133])
    p.targets = {
        "best": "CR",
        "ttr": 14,
        "cr_ttr": 21,
        "relapse_after_days": 61,
        "applications": 6,
        "episode2": {"ttr": 21, "combination": True, "applications": 8},
    }
    ps.append(p)

    # 100003 - responder week 2 only because of a correction (45 -> 54), best R, relapse 4 months after
    # response; the two low counts are 50 minutes apart around midnight (different Berlin days, same UTC day);
    # one daratumumab RAS^O17 is resent unchanged.
    p = Patient(
        "100003",
        "F",
        date(1933, 7, 21),
        "Responder week 2 through a corrected count (45 -> 54, "
        "OBX-11 C), best R, relapse 4 months after response with low counts at 23:50 and 00:40 "
        "(different Berlin days, same UTC day); one administration resent (9 applications, not 10)",
        "secondary",
        date(1986, 2, 10),
        6,
        default_unit="Gpt/l",
    )
    d1 = date(2021, 5, 3)
    dara_course(p, d1, [*INDUCTION, 35, 49, 63, 91, 119], duplicate_dose=6)
    series(p, d1, [(-10, 22), (0, 19), (7, 31)])
    p.cbc(days(d1, 14), 45, corrected_to=54)
    series(
        p,
        d1,
        [
            (21, 63),
            (28, 71),
            (35, 88),
            (49, 76),
            (63, 69),
            (77, 77),
            (91, 82),
            (105, 70),
            (119, 66),
            (133, 58),
        ],
    )
    p.cbc(days(d1, 136), 41, hh=23, mm=50)
    p.cbc(days(d1, 137), 33, hh=0, mm=40)
    series(p, d1, [(144, 28), (158, 24), (186, 21), (214, 26)])
    p.targets = {"best": "R", "ttr": 14, "relapse_after_days": 122, "applications": 9}
    ps.append(p)

    # 100004 - responder week 3, CR; dexamethasone 40 mg on D1 is premedication (same day as daratumumab),
    # so its 28-day window does not apply; induction crosses the end of summer time; remission 32 months.
    p = Patient(
        "100004",
        "M",
        date(1959, 3, 30),
        "Responder week 3 (CR); dexamethasone 40 mg on D1 is "
        "premedication, not rescue (a rescue window would move the onset to day 28); induction "
        "crosses the CEST->CET change; 12 applications; ongoing remission 32 months",
        "primary",
        date(2016, 6, 20),
        4,
        default_unit="10*9/L",
    )
    d1 = date(2021, 10, 4)
    dara_course(
        p, d1, [*INDUCTION, 35, 49, 63, 77, 105, 133, 161, 189], premed=lambda n: "40" if n == 0 else None
    )
    series(p, d1, [(-3, 9), (0, 14), (7, 21), (14, 38), (21, 57), (24, 66), (28, 81), (35, 104), (42, 118)])
    onset = days(d1, 21)
    steady(p, days(d1, 49), days(d1, 189), 14, [126, 131, 112, 140])
    steady(p, days(d1, 217), onset + timedelta(days=974), 28, [122, 109, 135, 117, 128])
    p.targets = {"best": "CR", "ttr": 21, "cr_ttr": 35, "applications": 12, "duration_months": 32.0}
    ps.append(p)

    # 100005 - late responder at week 10 (best R), remission 24 months.
    p = Patient(
        "100005",
        "F",
        date(1999, 8, 9),
        "Late responder at week 10 (TTR 70 days, best R), no gap "
        "> 21 days so no advisory; DST starts in week 1; 10 applications; ongoing remission 24 months",
        "primary",
        date(2019, 4, 1),
        4,
        default_unit="10*3/uL",
    )
    d1 = date(2022, 3, 21)
    dara_course(p, d1, [*INDUCTION, 35, 49, 63, 77, 91, 105])
    series(
        p,
        d1,
        [
            (-6, 8),
            (0, 11),
            (7, 13),
            (14, 18),
            (21, 24),
            (28, 19),
            (35, 27),
            (42, 33),
            (49, 41),
            (56, 36),
            (63, 47),
            (70, 58),
            (73, 74),
            (77, 92),
            (84, 88),
            (91, 97),
            (105, 84),
        ],
    )
    onset = days(d1, 70)
    steady(p, days(d1, 133), onset + timedelta(days=731), 28, [79, 86, 93, 71, 98, 82])
    p.targets = {"best": "R", "ttr": 70, "applications": 10, "duration_months": 24.0}
    ps.append(p)

    # 100006 - non-responder after 4 applications, stopped for a serious pneumonia (FHIR AdverseEvent);
    # a single count >= 50 on day 49 is not confirmed.
    p = Patient(
        "100006",
        "M",
        date(1944, 1, 17),
        "Non-responder (NR at day 84) after 4 applications; "
        "serious pneumonia (FHIR AdverseEvent, SNOMED 233604007) on day 28 with an inpatient stay "
        "(ADT); a single unconfirmed count of 55 on day 49; advisory: no dose for > 21 days before day 84",
        "secondary",
        date(2010, 11, 8),
        7,
        default_unit="Gpt/l",
    )
    d1 = date(2022, 11, 7)
    dara_course(p, d1, INDUCTION)
    series(
        p,
        d1,
        [
            (-2, 16),
            (0, 13),
            (7, 18),
            (14, 24),
            (21, 29),
            (28, 22),
            (35, 17),
            (49, 55),
            (56, 38),
            (63, 19),
            (77, 31),
            (91, 24),
            (105, 21),
        ],
    )
    p.chemistry.append(at(days(d1, 28), 14, 20))
    p.targets = {"best": "NR", "applications": 4}
    ps.append(p)

    # 100007 - IVIG rescue on days 27 and 28: the counts that follow (72, 118, 86, 54) are inside the
    # 28-day window and not eligible, so the patient is a non-responder.
    p = Patient(
        "100007",
        "F",
        date(1968, 2, 26),
        "Non-responder: IVIG rescue 60 g on days 27-28; the rise to "
        "72/118/86/54 lies inside the 28-day rescue window and is not eligible; 8 applications",
        "primary",
        date(2022, 3, 14),
        4,
        default_unit="Gpt/l",
    )
    d1 = date(2023, 4, 17)
    dara_course(p, d1, [*INDUCTION, 35, 49, 63, 77])
    p.give(days(d1, 27), "ivig", hh=14, mm=0)
    p.give(days(d1, 28), "ivig", hh=14, mm=0)
    series(
        p,
        d1,
        [
            (-9, 11),
            (0, 7),
            (7, 8),
            (14, 12),
            (21, 10),
            (27, 6),
            (30, 72),
            (35, 118),
            (42, 86),
            (49, 54),
            (55, 38),
            (63, 22),
            (70, 18),
            (77, 25),
            (84, 20),
            (98, 16),
        ],
    )
    p.chemistry.append(at(d1, 8, 10))
    p.targets = {"best": "NR", "applications": 8}
    ps.append(p)

    # 100008 - non-responder with two counts >= 50 separated by a count < 50 (not a response).
    p = Patient(
        "100008",
        "M",
        date(1953, 12, 3),
        "Non-responder: 52 (day 42) and 51 (day 49) have 47 "
        "between them, so no response; baseline from day -1; 6 applications; advisory after day 70",
        "secondary",
        date(2017, 9, 25),
        8,
        default_unit="Gpt/l",
    )
    d1 = date(2024, 2, 5)
    dara_course(p, d1, [*INDUCTION, 35, 49])
    series(
        p,
        d1,
        [
            (-14, 24),
            (-1, 21),
            (7, 27),
            (14, 35),
            (21, 44),
            (28, 39),
            (35, 48),
            (42, 52),
            (45, 47),
            (49, 51),
            (56, 43),
            (63, 38),
            (77, 33),
            (91, 29),
            (105, 31),
        ],
    )
    p.targets = {"best": "NR", "applications": 6}
    ps.append(p)

    # 100009 - not in the daratumumab cohort: romiplostim only.
    p = Patient(
        "100009",
        "F",
        date(1989, 10, 12),
        "Not in the daratumumab cohort: romiplostim 130 ug weekly only; response week 3, CR week 5",
        "primary",
        date(2021, 7, 5),
        2,
        default_unit="G/L",
    )
    d1 = date(2023, 6, 5)
    for w in range(40):
        p.give(days(d1, 7 * w), "romiplostim", hh=11, mm=15, amount="130", unit="ug", strength=("2", "ug/kg"))
    series(p, d1, [(-7, 15), (0, 18), (7, 22), (14, 41), (21, 63), (28, 88), (35, 115), (42, 142)])
    steady(p, days(d1, 56), days(d1, 364), 28, [151, 138, 166, 129])
    p.targets = {"best": "CR", "ttr": 21, "cr_ttr": 35, "agent": "romiplostim"}
    ps.append(p)

    # 100010 - not ITP: chemistry only plus an inpatient stay (ADT).
    p = Patient(
        "100010",
        "M",
        date(1971, 4, 4),
        "Not ITP: chemistry (sodium, potassium, creatinine) and ADT only; must produce nothing",
    )
    for d in (date(2023, 1, 9), date(2023, 1, 10), date(2023, 1, 12), date(2023, 2, 20)):
        p.chemistry.append(at(d, 7, 40))
    ps.append(p)

    # 100011 - ITP, watch and wait: counts, no treatment.
    p = Patient(
        "100011",
        "F",
        date(1957, 6, 30),
        "ITP on watch and wait: monthly counts 30-45, no ITP drug, no episode",
        "primary",
        date(2023, 11, 6),
        1,
        default_unit="Gpt/l",
    )
    steady(p, date(2024, 1, 8), date(2024, 12, 16), 28, [38, 42, 35, 44, 31, 40])
    ps.append(p)

    # 100012 - not ITP: inpatient with a normal CBC, chemistry, ADT and orders (ORM^O01, RDE^O11).
    p = Patient(
        "100012",
        "M",
        date(1996, 2, 29),
        "Not ITP: inpatient with a normal CBC (platelets 250), "
        "chemistry, ADT and orders; must produce no episode",
    )
    p.cbc(date(2024, 9, 2), 251, hh=6, mm=30, unit="10*9/L")
    p.cbc(date(2024, 9, 4), 238, hh=6, mm=30, unit="10*9/L")
    p.chemistry.extend([at(date(2024, 9, 2), 6, 30), at(date(2024, 9, 4), 6, 30)])
    ps.append(p)
    return ps


# ---------------------------------------------------------------------------------------------------------
# HL7 rendering


def pid(p: Patient) -> str:
    return seg(
        "PID",
        {
            1: "1",
            3: f"{p.mrn}^^^UKX^MR",
            5: f"Test^Patient{p.number:02d}^^^^^L",
            7: p.birth.strftime("%Y%m%d"),
            8: p.sex,
            11: f"Musterweg {p.number}^^Teststadt^^00000^DEU",
        },
    )


def pv1(p: Patient, where: str, klass: str = "O", visit: str | None = None) -> str:
    return seg("PV1", {1: "1", 2: klass, 3: f"{where}^^^UKX", 19: f"{visit or 'V-' + p.mrn}^^^UKX^VN"})


ANALYTES = [
    ("6690-2^Leukocytes [#/volume] in Blood by Automated count^LN^LEUK^Leukozyten^L", "3.8-10.5"),
    ("789-8^Erythrocytes [#/volume] in Blood by Automated count^LN^ERY^Erythrozyten^L", "3.9-5.8"),
    ("718-7^Hemoglobin [Mass/volume] in Blood^LN^HB^Haemoglobin^L", "12.0-17.0"),
    ("4544-3^Hematocrit [Volume Fraction] of Blood by Automated count^LN^HK^Haematokrit^L", "36-50"),
    ("787-2^MCV [Entitic volume] by Automated count^LN^MCV^MCV^L", "80-96"),
]


def plt_flag(v: int) -> str:
    return "LL" if v < 20 else "L" if v < 150 else "H" if v > 400 else "N"


@dataclass
class Ids:
    lab: int = 0
    pharm: int = 0
    kis: int = 0
    filler: int = 0
    adm: int = 0

    def next(self, kind: str) -> int:
        setattr(self, kind, getattr(self, kind) + 1)
        return int(getattr(self, kind))


def oru_cbc(p: Patient, c: Count, ids: Ids, filler: str, k: int) -> str:
    report = c.when + timedelta(minutes=85)
    placer = f"ORD-{p.mrn}-{k:03d}^KIS"
    unit = UNITS[c.unit]
    cunit = c.unit if c.unit in ("Gpt/l", "G/L") else "10*9/L"
    # Other analytes: fixed, plausible, derived from the patient and the count index (no randomness).
    wbc = f"{5.2 + (k * 7 + p.number) % 30 / 10:.1f}"
    rbc = f"{4.1 + (k * 3 + p.number) % 12 / 10:.2f}"
    hb = f"{12.1 + (k * 5 + p.number) % 25 / 10:.1f}"
    hct = f"{37 + (k * 2 + p.number) % 9}"
    mcv = f"{85 + (k + p.number) % 9}"
    values = [
        (wbc, f"{cunit}^{cunit}^{'UCUM' if cunit == '10*9/L' else 'L'}"),
        (rbc, "10*12/L^10*12/L^UCUM"),
        (hb, "g/dL^g/dL^UCUM"),
        (hct, "%^%^UCUM"),
        (mcv, "fL^fL^UCUM"),
    ]
    segs = [
        msh(
            "LAB_LIS",
            report + timedelta(minutes=1),
            "ORU^R01^ORU_R01",
            f"LAB{report:%y%m%d}-{ids.next('lab'):05d}",
        ),
        pid(p),
        pv1(p, "HAEM-AMB"),
        seg("ORC", {1: "RE", 2: placer, 3: f"{filler}^LAB", 5: "CM", 9: ts(report)}),
        seg("OBR", {1: "1", 2: placer, 3: f"{filler}^LAB", 4: CBC, 7: ts(c.when), 22: ts(report), 25: "F"}),
    ]
    n = 0
    for (code, rng), (val, u) in zip(ANALYTES, values, strict=True):
        n += 1
        segs.append(
            seg(
                "OBX",
                {
                    1: str(n),
                    2: "NM",
                    3: code,
                    5: val,
                    6: u,
                    7: rng,
                    8: "N",
                    11: "F",
                    14: ts(c.when),
                    19: ts(report - timedelta(minutes=10)),
                },
            )
        )
        if n == 3:
            n += 1
            segs.append(
                seg(
                    "OBX",
                    {
                        1: str(n),
                        2: "NM",
                        3: PLT_CODE,
                        5: str(c.value),
                        6: unit,
                        7: "150-400",
                        8: plt_flag(c.value),
                        11: "F",
                        14: ts(c.when),
                        19: ts(report - timedelta(minutes=10)),
                    },
                )
            )
    return "\r".join(segs)


def oru_correction(p: Patient, c: Count, ids: Ids, filler: str, k: int) -> str:
    assert c.corrected_to is not None
    sent = c.when + timedelta(minutes=85 + 180)
    placer = f"ORD-{p.mrn}-{k:03d}^KIS"
    return "\r".join(
        [
            msh(
                "LAB_LIS",
                sent + timedelta(minutes=1),
                "ORU^R01^ORU_R01",
                f"LAB{sent:%y%m%d}-{ids.next('lab'):05d}",
            ),
            pid(p),
            pv1(p, "HAEM-AMB"),
            seg("ORC", {1: "RE", 2: placer, 3: f"{filler}^LAB", 5: "CM", 9: ts(sent)}),
            seg("OBR", {1: "1", 2: placer, 3: f"{filler}^LAB", 4: CBC, 7: ts(c.when), 22: ts(sent), 25: "C"}),
            seg(
                "OBX",
                {
                    1: "4",
                    2: "NM",
                    3: PLT_CODE,
                    5: str(c.corrected_to),
                    6: UNITS[c.unit],
                    7: "150-400",
                    8: plt_flag(c.corrected_to),
                    11: "C",
                    14: ts(c.when),
                    19: ts(sent - timedelta(minutes=5)),
                },
            ),
            seg("NTE", {1: "1", 2: "L", 3: f"Korrektur Zahlendreher: ersetzt Befund {c.value} {c.unit}"}),
        ]
    )


CHEM_ANALYTES = [
    ("2951-2^Sodium [Moles/volume] in Serum or Plasma^LN^NA^Natrium^L", "mmol/L", "135-145", 138, 6),
    ("2823-3^Potassium [Moles/volume] in Serum or Plasma^LN^K^Kalium^L", "mmol/L", "3.5-5.1", 4.1, 0.7),
    ("2160-0^Creatinine [Mass/volume] in Serum or Plasma^LN^KREA^Kreatinin^L", "mg/dL", "0.5-1.1", 0.9, 0.5),
]


def oru_chem(p: Patient, when: datetime, ids: Ids, k: int) -> str:
    report = when + timedelta(minutes=70)
    filler = f"F-{when:%y%m%d}-{ids.next('filler'):04d}"
    placer = f"ORD-{p.mrn}-C{k:02d}^KIS"
    segs = [
        msh(
            "LAB_LIS",
            report + timedelta(minutes=1),
            "ORU^R01^ORU_R01",
            f"LAB{report:%y%m%d}-{ids.next('lab'):05d}",
        ),
        pid(p),
        pv1(p, "HAEM-AMB"),
        seg("ORC", {1: "RE", 2: placer, 3: f"{filler}^LAB", 5: "CM", 9: ts(report)}),
        seg("OBR", {1: "1", 2: placer, 3: f"{filler}^LAB", 4: CHEM, 7: ts(when), 22: ts(report), 25: "F"}),
    ]
    for i, (code, unit, rng, base, spread) in enumerate(CHEM_ANALYTES, start=1):
        val = base + spread * (((k * 7 + i * 3 + p.number) % 10) - 5) / 10
        text = f"{val:.0f}" if unit == "mmol/L" and base > 100 else f"{val:.1f}" if base > 2 else f"{val:.2f}"
        segs.append(
            seg(
                "OBX",
                {
                    1: str(i),
                    2: "NM",
                    3: code,
                    5: text,
                    6: f"{unit}^{unit}^UCUM",
                    7: rng,
                    8: "N",
                    11: "F",
                    14: ts(when),
                },
            )
        )
    return "\r".join(segs)


def rxa_group(a: Admin, n: int, ids: Ids) -> list[str]:
    drug = DRUGS[a.drug]
    end = a.when + timedelta(minutes={"daratumumab": 5, "ivig": 240, "dexamethasone": 15}.get(a.drug, 1))
    adm = ids.next("adm")
    fields = {
        1: "0",
        2: str(n),
        3: ts(a.when),
        4: ts(end),
        5: f"{drug['code']}^{drug['name']}^ATC",
        6: a.amount,
        7: f"{a.unit}^{a.unit}^UCUM",
        20: "CP",
        21: "A",
        22: ts(end + timedelta(minutes=3)),
    }
    if a.strength:
        fields[13], fields[14] = a.strength[0], f"{a.strength[1]}^{a.strength[1]}^UCUM"
    return [
        seg(
            "ORC",
            {
                1: "RE",
                2: f"RX-{adm + 50000}^KIS",
                3: f"ADM-{adm:06d}^PHARM",
                5: "CM",
                9: ts(end + timedelta(minutes=3)),
            },
        ),
        seg("RXA", fields),
        seg("RXR", {1: drug["route"]}),
    ]


def ras(p: Patient, group: list[tuple[Admin, int]], ids: Ids) -> str:
    last = group[-1][0]
    sent = last.when + timedelta(minutes=20)
    segs = [
        msh("PHARM", sent, "RAS^O17^RAS_O17", f"MED{sent:%y%m%d}-{ids.next('pharm'):05d}"),
        pid(p),
        pv1(p, "HAEM-TK"),
    ]
    for a, n in group:
        segs.extend(rxa_group(a, n, ids))
    return "\r".join(segs)


def render_hl7(patients: list[Patient]) -> tuple[str, str, str]:
    ids = Ids()
    lab: list[tuple[datetime, str, str, int, Any]] = []
    for p in patients:
        for k, c in enumerate(p.counts, start=1):
            if not c.via_fhir:
                lab.append((c.when, p.mrn, "cbc", k, c))
        for k, w in enumerate(p.chemistry, start=1):
            lab.append((w, p.mrn, "chem", k, w))
    by_mrn = {p.mrn: p for p in patients}
    lab.sort(key=lambda e: (e[0], e[1], e[2]))
    out: list[tuple[datetime, str]] = []
    for when, mrn, _kind, k, obj in lab:
        p = by_mrn[mrn]
        if isinstance(obj, datetime):
            out.append((when + timedelta(minutes=71), oru_chem(p, obj, ids, k)))
            continue
        assert isinstance(obj, Count)
        c = obj
        filler = f"F-{c.when:%y%m%d}-{ids.next('filler'):04d}"
        msg = oru_cbc(p, c, ids, filler, k)
        out.append((when + timedelta(minutes=86), msg))
        if c.duplicate:
            out.append((when + timedelta(minutes=96), msg))
        if c.corrected_to is not None:
            out.append((when + timedelta(minutes=266), oru_correction(p, c, ids, filler, k)))
    out.sort(key=lambda e: e[0])
    lab_text = "".join(m + "\r\n" for _, m in out)

    adm_events: list[tuple[datetime, str, list[Admin]]] = []
    for p in patients:
        pending: list[Admin] = []
        for a in sorted(p.admins, key=lambda a: a.when):
            if a.premed_for:
                pending.append(a)
                continue
            adm_events.append((a.when, p.mrn, [*pending, a]))
            pending = []
        assert not pending
    adm_events.sort(key=lambda e: (e[0], e[1]))
    counters: dict[tuple[str, str], int] = {}
    adm_out: list[str] = []
    for _, mrn, group in adm_events:
        numbered = []
        for a in group:
            key = (mrn, a.drug)
            counters[key] = counters.get(key, 0) + 1
            numbered.append((a, counters[key]))
        msg = ras(by_mrn[mrn], numbered, ids)
        adm_out.append(msg)
        if group[-1].duplicate:
            adm_out.append(msg)
    adm_text = "".join(m + "\r\n" for m in adm_out)
    return lab_text, adm_text, render_other(by_mrn, ids)


def render_other(by_mrn: dict[str, Patient], ids: Ids) -> str:
    """ADT and orders: well-formed, irrelevant to the rules (the engine must skip them)."""

    def kis(when: datetime, mtype: str) -> str:
        return msh("KIS", when, mtype, f"KIS{when:%y%m%d}-{ids.next('kis'):05d}")

    def adt(p: Patient, when: datetime, event: str, ward: str) -> str:
        return "\r".join(
            [
                kis(when, f"ADT^{event}^ADT_{'A03' if event == 'A03' else 'A01'}"),
                seg("EVN", {1: event, 2: ts(when)}),
                pid(p),
                pv1(p, ward, "I", f"S-{p.mrn}-{when:%y%m}"),
            ]
        )

    def rde(p: Patient, when: datetime, code: str, name: str, amount: str, unit: str, route: str) -> str:
        n = ids.next("kis")
        return "\r".join(
            [
                msh("KIS", when, "RDE^O11^RDE_O11", f"KIS{when:%y%m%d}-{n:05d}"),
                pid(p),
                pv1(p, "HAEM-TK"),
                seg("ORC", {1: "NW", 2: f"RX-{n + 90000}^KIS", 5: "SC", 9: ts(when)}),
                seg("RXE", {2: f"{code}^{name}^ATC", 3: amount, 5: f"{unit}^{unit}^UCUM"}),
                seg("RXR", {1: route}),
            ]
        )

    def orm(p: Patient, when: datetime, panel: str) -> str:
        n = ids.next("kis")
        return "\r".join(
            [
                msh("KIS", when, "ORM^O01^ORM_O01", f"KIS{when:%y%m%d}-{n:05d}"),
                pid(p),
                pv1(p, "STATION-4B", "I"),
                seg("ORC", {1: "NW", 2: f"ORD-{n + 70000}^KIS", 5: "SC", 9: ts(when)}),
                seg("OBR", {1: "1", 2: f"ORD-{n + 70000}^KIS", 4: panel, 7: ts(when + timedelta(hours=12))}),
            ]
        )

    p1, p6, p10, p12 = by_mrn["100001"], by_mrn["100006"], by_mrn["100010"], by_mrn["100012"]
    msgs = [
        (
            at(date(2020, 9, 4), 15, 12),
            rde(
                p1,
                at(date(2020, 9, 4), 15, 12),
                "L01FC01",
                "Daratumumab",
                "1800",
                "mg",
                "SC^subcutaneous^HL70162",
            ),
        ),
        (at(date(2022, 12, 5), 13, 5), adt(p6, at(date(2022, 12, 5), 13, 5), "A01", "STATION-4B")),
        (at(date(2022, 12, 6), 9, 30), adt(p6, at(date(2022, 12, 6), 9, 30), "A08", "STATION-4B")),
        (at(date(2022, 12, 14), 11, 0), adt(p6, at(date(2022, 12, 14), 11, 0), "A03", "STATION-4B")),
        (at(date(2023, 1, 9), 6, 55), adt(p10, at(date(2023, 1, 9), 6, 55), "A01", "STATION-2A")),
        (at(date(2023, 1, 12), 16, 20), adt(p10, at(date(2023, 1, 12), 16, 20), "A03", "STATION-2A")),
        (at(date(2024, 9, 1), 22, 40), adt(p12, at(date(2024, 9, 1), 22, 40), "A01", "STATION-4B")),
        (at(date(2024, 9, 1), 23, 5), orm(p12, at(date(2024, 9, 1), 23, 5), CBC)),
        (
            at(date(2024, 9, 2), 10, 15),
            rde(
                p12,
                at(date(2024, 9, 2), 10, 15),
                "J01CR02",
                "Amoxicillin and beta-lactamase inhibitor",
                "2200",
                "mg",
                "IV^intravenous^HL70162",
            ),
        ),
        (at(date(2024, 9, 3), 8, 0), adt(p12, at(date(2024, 9, 3), 8, 0), "A08", "STATION-4B")),
        (at(date(2024, 9, 5), 12, 30), adt(p12, at(date(2024, 9, 5), 12, 30), "A03", "STATION-4B")),
    ]
    return "".join(m + "\r\n" for _, m in sorted(msgs, key=lambda e: e[0]))


# ---------------------------------------------------------------------------------------------------------
# FHIR bundle and enrollment


def ref(p: Patient) -> dict[str, Any]:
    return {
        "reference": f"Patient/pat-{p.mrn}",
        "identifier": {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": MRN_SYSTEM,
            "value": p.mrn,
        },
    }


def fhir_bundle(patients: list[Patient]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> None:
        entries.append(
            {"fullUrl": f"{FHIR_BASE}/{resource['resourceType']}/{resource['id']}", "resource": resource}
        )

    for p in patients:
        add(
            {
                "resourceType": "Patient",
                "id": f"pat-{p.mrn}",
                "identifier": [
                    {
                        "use": "usual",
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                    "code": "MR",
                                    "display": "Medical record number",
                                }
                            ]
                        },
                        "system": MRN_SYSTEM,
                        "value": p.mrn,
                        "assigner": {"display": "UKX"},
                    }
                ],
                "gender": {"F": "female", "M": "male"}[p.sex],
                "birthDate": p.birth.isoformat(),
            }
        )
    for p in patients:
        if p.diagnosis is None:
            continue
        add(
            {
                "resourceType": "Condition",
                "id": f"itp-{p.mrn}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "code": "confirmed",
                        }
                    ]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "problem-list-item",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/sid/icd-10",
                            "code": "D69.3",
                            "display": "Idiopathic thrombocytopenic purpura",
                        }
                    ],
                    "text": f"Immune thrombocytopenia ({p.itp_type})",
                },
                "subject": ref(p),
                "onsetDateTime": p.diagnosis.isoformat(),
            }
        )
    for p in patients:
        for i, c in enumerate((c for c in p.counts if c.via_fhir), start=1):
            add(
                {
                    "resourceType": "Observation",
                    "id": f"plt-{p.mrn}-{i}",
                    "identifier": [
                        {"system": "https://ukx.example.org/fhir/sid/lab-result", "value": f"{p.mrn}-{i}"}
                    ],
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "laboratory",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [
                            {
                                "system": "http://loinc.org",
                                "code": "777-3",
                                "display": "Platelets [#/volume] in Blood by Automated count",
                            }
                        ]
                    },
                    "subject": ref(p),
                    "effectiveDateTime": c.when.isoformat(),
                    "issued": (c.when + timedelta(minutes=85)).isoformat(),
                    "valueQuantity": {
                        "value": c.value,
                        "unit": "10*9/L",
                        "system": "http://unitsofmeasure.org",
                        "code": "10*9/L",
                    },
                    "referenceRange": [
                        {
                            "low": {
                                "value": 150,
                                "unit": "10*9/L",
                                "system": "http://unitsofmeasure.org",
                                "code": "10*9/L",
                            },
                            "high": {
                                "value": 400,
                                "unit": "10*9/L",
                                "system": "http://unitsofmeasure.org",
                                "code": "10*9/L",
                            },
                        }
                    ],
                }
            )
    p6 = next(p for p in patients if p.mrn == "100006")
    ae_day = date(2022, 12, 5)
    add(
        {
            "resourceType": "AdverseEvent",
            "id": "ae-100006-1",
            "actuality": "actual",
            "event": {
                "coding": [{"system": "http://snomed.info/sct", "code": "233604007", "display": "Pneumonia"}],
                "text": "Pneumonia, hospitalised, i.v. antibiotics",
            },
            "subject": ref(p6),
            "date": at(ae_day, 12, 0).isoformat(),
            "detected": at(ae_day, 12, 0).isoformat(),
            "recordedDate": at(ae_day, 16, 30).isoformat(),
            "seriousness": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                        "code": "Serious",
                        "display": "Serious",
                    }
                ]
            },
            "severity": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                        "code": "severe",
                        "display": "Severe",
                    }
                ]
            },
            "outcome": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                        "code": "resolved",
                        "display": "Resolved",
                    }
                ]
            },
        }
    )
    return {
        "resourceType": "Bundle",
        "id": "itpwatch-examples",
        "type": "collection",
        "timestamp": at(date(2025, 6, 30), 12, 0).isoformat(),
        "entry": entries,
    }


def enrollment_csv(patients: list[Patient]) -> str:
    lines = ["patient_id,diagnosis_date,itp_type,prior_lines"]
    lines += [
        f"{p.mrn},{p.diagnosis.isoformat()},{p.itp_type},{p.prior_lines}"
        for p in patients
        if p.diagnosis is not None
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Reference evaluation of the site profile (docs/clinical-decisions.md A1-A8), only as far as this data needs it.


def berlin_day(t: datetime) -> date:
    return t.astimezone(BERLIN).date()


def evaluate(p: Patient) -> dict[str, Any]:
    admins = [a for a in p.admins]  # duplicates are resends: one application each
    anti_cd38_days = {berlin_day(a.when) for a in admins if a.drug in ANTI_CD38}
    rescue_days = sorted(
        {
            berlin_day(a.when)
            for a in admins
            if a.drug == "ivig"
            or (
                a.drug == "dexamethasone"
                and float(a.amount) >= 40
                and berlin_day(a.when) not in anti_cd38_days
            )
        }
    )

    def eligible(t: datetime) -> bool:
        d = berlin_day(t)
        return not any(r <= d <= r + timedelta(days=RESCUE_DAYS - 1) for r in rescue_days)

    counts = sorted(
        ((c.when, c.corrected_to if c.corrected_to is not None else c.value) for c in p.counts),
        key=lambda e: e[0],
    )
    elig = [(t, v) for t, v in counts if eligible(t)]

    # episodes per ITP agent
    episodes: list[dict[str, Any]] = []
    for agent in sorted({a.drug for a in admins if DRUGS[a.drug]["kind"] == "itp"}):
        times = sorted(a.when for a in admins if a.drug == agent)
        eps: list[list[datetime]] = []
        for t in times:
            if eps and (berlin_day(t) - berlin_day(eps[-1][-1])).days < REEXPOSURE_GAP:
                relapsed = episodes_relapse(eps[-1], elig)
                if relapsed is None or berlin_day(t) <= relapsed[1]:
                    eps[-1].append(t)
                    continue
            eps.append([t])
        for i, doses in enumerate(eps):
            end = eps[i + 1][0] if i + 1 < len(eps) else None
            episodes.append(episode(agent, i + 1, doses, end, elig))
    for e in episodes:
        others = [o for o in episodes if o["agent"] != e["agent"]]
        e["combination"] = any(
            abs((date.fromisoformat(o["d1"]) - date.fromisoformat(e["d1"])).days) <= COMBINATION_DAYS
            for o in others
        )
    episodes.sort(key=lambda e: e["d1"])
    rank = {"CR": 3, "R": 2, "NR": 1, "pending": 0}
    best = max((e["best_response"] for e in episodes), key=lambda r: rank[r], default=None)
    firsts = [e for e in episodes if e["response_onset"]]
    relapses = [e for e in episodes if e["relapse_onset"]]
    return {
        "mrn": p.mrn,
        "sex": p.sex,
        "birth_date": p.birth.isoformat(),
        "age_at_first_dose": age(p.birth, date.fromisoformat(episodes[0]["d1"])) if episodes else None,
        "itp_type": p.itp_type,
        "daratumumab_cohort": any(e["agent"] == "daratumumab" for e in episodes),
        "best_response": best,
        "response_onset": firsts[0]["response_onset"] if firsts else None,
        "relapse_onset": relapses[0]["relapse_onset"] if relapses else None,
        "episodes": len(episodes),
        "applications": {
            a: sum(e["applications"] for e in episodes if e["agent"] == a)
            for a in sorted({e["agent"] for e in episodes})
        },
        "serious_infection": p.mrn == "100006",
        "episode_details": episodes,
        "story": p.story,
    }


def episodes_relapse(doses: list[datetime], elig: list[tuple[datetime, int]]) -> tuple[date, date] | None:
    """(relapse onset, confirmation date) of an open episode started at doses[0], if any."""
    r = response_scan(doses[0], None, elig)
    return (r["relapse_onset"], r["relapse_confirmed"]) if r["relapse_onset"] else None


def daily(after: datetime, end: datetime | None, elig: list[tuple[datetime, int]]) -> list[tuple[date, int]]:
    days_: dict[date, int] = {}
    for t, v in elig:  # sorted by time: the last value of a Berlin day wins
        if t > after and (end is None or berlin_day(t) < berlin_day(end)):
            days_[berlin_day(t)] = v
    return sorted(days_.items())


def confirmed(seq: list[tuple[date, int]], ok: Callable[[int], bool]) -> tuple[int, int] | None:
    for i in range(len(seq) - 1):
        if ok(seq[i][1]) and ok(seq[i + 1][1]):
            return i, i + 1
    return None


def response_scan(d1: datetime, end: datetime | None, elig: list[tuple[datetime, int]]) -> dict[str, Any]:
    seq = daily(d1, end, elig)
    out: dict[str, Any] = {
        "response_onset": None,
        "response_confirmed": None,
        "cr_onset": None,
        "relapse_onset": None,
        "relapse_confirmed": None,
        "first_low_alert": None,
        "last_eligible": seq[-1][0] if seq else None,
    }
    hit = confirmed(seq, lambda v: v >= RESPONSE)
    if hit is None:
        return out
    out["response_onset"], out["response_confirmed"] = seq[hit[0]][0], seq[hit[1]][0]
    rest = seq[hit[1] + 1 :]
    low = confirmed(rest, lambda v: v < RESPONSE)
    first_low = next((d for d, v in rest if v < RESPONSE), None)
    out["first_low_alert"] = first_low
    upto = len(seq) if low is None else hit[1] + 1 + low[0]
    cr = confirmed(seq[hit[0] : upto], lambda v: v >= COMPLETE)
    if cr is not None:
        out["cr_onset"] = seq[hit[0] + cr[0]][0]
    if low is not None:
        out["relapse_onset"], out["relapse_confirmed"] = rest[low[0]][0], rest[low[1]][0]
    return out


def episode(
    agent: str, n: int, doses: list[datetime], end: datetime | None, elig: list[tuple[datetime, int]]
) -> dict[str, Any]:
    d1t = doses[0]
    d1 = berlin_day(d1t)
    base = [(t, v) for t, v in elig if t <= d1t and d1 - timedelta(days=14) <= berlin_day(t) <= d1]
    imputed = False
    if not base:
        base = [(t, v) for t, v in elig if t <= d1t and d1 - timedelta(days=30) <= berlin_day(t) <= d1]
        imputed = bool(base)
    r = response_scan(d1t, end, elig)
    onset: date | None = r["response_onset"]
    nr_day = d1 + timedelta(days=NR_DAY)
    if onset is not None and r["response_confirmed"] <= nr_day:
        best = "CR" if r["cr_onset"] else "R"
    else:
        last = r["last_eligible"]
        best = "NR" if last is not None and last > nr_day else "pending"
        onset = None
    relapse: date | None = r["relapse_onset"] if onset else None
    dur = None
    if onset is not None:
        dur = ((relapse or r["last_eligible"]) - onset).days
    return {
        "agent": agent,
        "episode": n,
        "d1": d1.isoformat(),
        "baseline": {"value": base[-1][1], "date": berlin_day(base[-1][0]).isoformat(), "imputed": imputed}
        if base
        else None,
        "applications": len(doses),
        "best_response": best,
        "response_onset": onset.isoformat() if onset else None,
        "ttr_days": (onset - d1).days if onset else None,
        "ttr_weeks": round((onset - d1).days / 7, 1) if onset else None,
        "cr_onset": r["cr_onset"].isoformat() if onset and r["cr_onset"] else None,
        "first_low_alert": r["first_low_alert"].isoformat() if onset and r["first_low_alert"] else None,
        "relapse_onset": relapse.isoformat() if relapse else None,
        "relapse_confirmed": r["relapse_confirmed"].isoformat() if relapse else None,
        "response_duration_days": dur,
        "response_duration_months": round(dur / 30.4375, 1) if dur is not None else None,
        "response_ongoing": bool(onset and not relapse),
        "nr_assessed_on": nr_day.isoformat(),
    }


def age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def check_targets(p: Patient, result: dict[str, Any]) -> None:
    t = p.targets
    if not t:
        assert result["episodes"] == 0, p.mrn
        return
    agent = t.get("agent", "daratumumab")
    eps = [e for e in result["episode_details"] if e["agent"] == agent]
    e = eps[0]
    problems = []
    for key, got in (
        ("best", e["best_response"]),
        ("ttr", e["ttr_days"]),
        ("applications", e["applications"]),
        ("duration_months", e["response_duration_months"]),
    ):
        if key in t and t[key] != got:
            problems.append(f"{key}: want {t[key]} got {got}")
    if (
        "cr_ttr" in t
        and (date.fromisoformat(e["cr_onset"]) - date.fromisoformat(e["d1"])).days != t["cr_ttr"]
    ):
        problems.append(f"cr_ttr: got {e['cr_onset']}")
    if (
        "relapse_after_days" in t
        and e["relapse_onset"]
        and (date.fromisoformat(e["relapse_onset"]) - date.fromisoformat(e["response_onset"])).days
        != t["relapse_after_days"]
    ):
        problems.append(f"relapse: got {e['relapse_onset']}")
    if "relapse_after_days" in t and not e["relapse_onset"]:
        problems.append("relapse missing")
    if "episode2" in t:
        e2 = eps[1]
        for key, got in (
            ("ttr", e2["ttr_days"]),
            ("combination", e2["combination"]),
            ("applications", e2["applications"]),
        ):
            if t["episode2"][key] != got:
                problems.append(f"episode2 {key}: want {t['episode2'][key]} got {got}")
    if problems:
        raise AssertionError(f"{p.mrn}: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------------------


def build() -> dict[str, bytes]:
    """All generated files, relative to examples/, as bytes."""
    patients = build_patients()
    lab, adm, other = render_hl7(patients)
    results = []
    for p in patients:
        r = evaluate(p)
        check_targets(p, r)
        results.append(r)
    cohort = [r for r in results if r["daratumumab_cohort"]]
    expected = {
        "profile": "site",
        "timezone": "Europe/Berlin",
        "conventions": {
            "d1": "date of the first administration of the episode",
            "ttr_days": "response onset date - D1 date",
            "months": "days / 30.4375",
            "episodes": "treatment episodes of ITP drugs (daratumumab, romiplostim); rescue and "
            "premedication open no episode",
        },
        "cohort_summary": {
            "daratumumab_patients": len(cohort),
            "responders": sum(r["best_response"] in ("R", "CR") for r in cohort),
            "ttr_days_first_episode": sorted(
                r["episode_details"][0]["ttr_days"]
                for r in cohort
                if r["episode_details"][0]["ttr_days"] is not None
            ),
            "applications": sorted(r["applications"]["daratumumab"] for r in cohort),
            "ages_at_first_dose": sorted(r["age_at_first_dose"] for r in cohort),
            "relapses": sum(1 for r in cohort if r["relapse_onset"]),
            "re_exposures": sum(
                1
                for r in cohort
                for e in r["episode_details"]
                if e["agent"] == "daratumumab" and e["episode"] > 1
            ),
            "serious_infections": sum(r["serious_infection"] for r in results),
        },
        "patients": {r["mrn"]: r for r in results},
    }
    return {
        "feed/lab_results.hl7": lab.encode(),
        "feed/administrations.hl7": adm.encode(),
        "feed/adt_orders.hl7": other.encode(),
        "feed/fhir_bundle.json": (
            json.dumps(fhir_bundle(patients), indent=2, ensure_ascii=False) + "\n"
        ).encode(),
        "feed/enrollment.csv": enrollment_csv(patients).encode(),
        "expected.json": (json.dumps(expected, indent=2, ensure_ascii=False) + "\n").encode(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=HERE, help="target directory (default: examples/)")
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args(argv)
    files = build()
    if args.check:
        stale = [
            n for n, b in files.items() if not (args.out / n).exists() or (args.out / n).read_bytes() != b
        ]
        for n in stale:
            print(f"differs: {n}", file=sys.stderr)
        return 1 if stale else 0
    for name, data in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
