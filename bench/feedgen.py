"""Deterministic generator of a synthetic hospital HL7 v2.5 feed for benchmarks.

Everything is derived from `random.Random` instances seeded from `seed` (never the global generator) and from
the fixed `start` date; the wall clock is never read. The same arguments give the same bytes on every run.

The feed imitates what a hospital interface engine forwards to itpwatch:

* a small anti-CD38 cohort (`cohort_fraction`): daratumumab 1800 mg s.c. as RAS^O17 (weekly x4 induction, then
  every 2 and later every 4 weeks), some with dexamethasone 20 mg premedication in the same message, an
  RDE^O11 order the day before each dose, IVIG rescue for some non-responders, romiplostim at re-exposure,
  and weekly-to-monthly CBCs whose platelet counts follow a responder / late responder / non-responder /
  relapse / relapse + re-exposure course;
* everybody else: outpatients with periodic CBC + chemistry, inpatients with ADT^A01/A08/A03, daily
  chemistry (sodium, potassium, creatinine only), CBCs, ORM^O01 lab orders and RDE^O11 drug orders, and
  occasional single chemistry panels - the large share of traffic the engine has to skip;
* corrections (OBX-11 C with the same filler order number OBR-3, a few hours later) and exact resends
  (same bytes, same MSH-10).

Patients are fake: PID-5 `Test^Patient<n>`, PID-11 a made-up address (realistic feeds carry them; itpwatch
must drop them). Platelets come in Gpt/l, G/L, 10*9/L and 10*3/uL (all the same scale). Times carry the
Europe/Berlin offset of their date (+0100 / +0200).

    from bench.feedgen import generate_feed, write_feed
    for msg in generate_feed(patients=2000, months=6): ...
    stats = write_feed("/tmp/feed", patients=20000)
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from os import PathLike
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["KINDS", "FeedStats", "generate_feed", "iter_feed", "write_feed"]

BERLIN = ZoneInfo("Europe/Berlin")

KINDS = (
    "platelet_oru",  # ORU^R01 CBC with a platelet count (777-3), any patient
    "other_oru",  # ORU^R01 with chemistry only (sodium, potassium, creatinine)
    "administration",  # RAS^O17
    "adt",  # ADT^A01 / A08 / A03
    "order",  # ORM^O01 / RDE^O11
    "correction",  # ORU^R01 with OBX-11 C replacing an earlier platelet count
    "duplicate",  # exact resend of an earlier message (same MSH-10)
)


@dataclass
class FeedStats:
    """Message counts by kind (a duplicate is counted only as `duplicate`)."""

    platelet_oru: int = 0
    cohort_platelet_oru: int = 0
    """The part of platelet_oru that belongs to anti-CD38 cohort patients."""
    other_oru: int = 0
    administration: int = 0
    adt: int = 0
    order: int = 0
    correction: int = 0
    duplicate: int = 0
    patients: int = 0
    cohort_patients: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(getattr(self, k) for k in KINDS)

    @property
    def skippable(self) -> int:
        """Messages with nothing for the rules: chemistry-only ORUs, ADT, orders."""
        return self.other_oru + self.adt + self.order

    def by_kind(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in KINDS}

    def add(self, kind: str, cohort: bool = False) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if kind == "platelet_oru" and cohort:
            self.cohort_platelet_oru += 1


# ---------------------------------------------------------------------------------------------------------
# Codes

CBC_PANEL = "58410-2^CBC panel - Blood by Automated count^LN^KBB^Kleines Blutbild^L"
CHEM_PANEL = "ELKR^Elektrolyte und Kreatinin^L"
PLT = "777-3^Platelets [#/volume] in Blood by Automated count^LN^THRO^Thrombozyten^L"
PLT_UNITS = ("Gpt/l^Gpt/l^L", "G/L^G/L^L", "10*9/L^10*9/L^UCUM", "10*3/uL^10*3/uL^UCUM")
CBC_OTHER = (
    (
        "6690-2^Leukocytes [#/volume] in Blood by Automated count^LN^LEUK^Leukozyten^L",
        7.0,
        2.0,
        1,
        "3.8-10.5",
    ),
    (
        "789-8^Erythrocytes [#/volume] in Blood by Automated count^LN^ERY^Erythrozyten^L",
        4.6,
        0.5,
        2,
        "3.9-5.8",
    ),
    ("718-7^Hemoglobin [Mass/volume] in Blood^LN^HB^Haemoglobin^L", 13.5, 1.6, 1, "12.0-17.0"),
    (
        "4544-3^Hematocrit [Volume Fraction] of Blood by Automated count^LN^HK^Haematokrit^L",
        41.0,
        4.0,
        0,
        "36-50",
    ),
    ("787-2^MCV [Entitic volume] by Automated count^LN^MCV^MCV^L", 89.0, 5.0, 0, "80-96"),
)
CBC_OTHER_UNITS = ("{wbc}", "10*12/L^10*12/L^UCUM", "g/dL^g/dL^UCUM", "%^%^UCUM", "fL^fL^UCUM")
CHEM = (
    ("2951-2^Sodium [Moles/volume] in Serum or Plasma^LN^NA^Natrium^L", 139.0, 3.0, 0, "mmol/L", "135-145"),
    ("2823-3^Potassium [Moles/volume] in Serum or Plasma^LN^K^Kalium^L", 4.2, 0.4, 1, "mmol/L", "3.5-5.1"),
    (
        "2160-0^Creatinine [Mass/volume] in Serum or Plasma^LN^KREA^Kreatinin^L",
        0.95,
        0.3,
        2,
        "mg/dL",
        "0.5-1.1",
    ),
)
DARA = "L01FC01^Daratumumab^ATC"
DEXA = "H02AB02^Dexamethasone^ATC"
IVIG = "J06BA02^Immunoglobulins, normal human, intravascular^ATC"
ROMI = "B02BX04^Romiplostim^ATC"
WARD_DRUGS = (
    ("J01CR02^Amoxicillin and beta-lactamase inhibitor^ATC", "2200", "mg", "IV^intravenous^HL70162"),
    ("A02BC02^Pantoprazole^ATC", "40", "mg", "PO^oral^HL70162"),
    ("B01AB05^Enoxaparin^ATC", "40", "mg", "SC^subcutaneous^HL70162"),
)
SC = "SC^subcutaneous^HL70162"
IV = "IV^intravenous^HL70162"
COURSES = ("responder", "late_responder", "non_responder", "relapse", "reexposure")
COURSE_WEIGHTS = (45, 10, 25, 12, 8)


def _ts(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S%z")


def _seg(name: str, fields: dict[int, str]) -> str:
    values = [""] * max(fields)
    for k, v in fields.items():
        values[k - 1] = v
    return name + "|" + "|".join(values)


def _msh(app: str, when: datetime, mtype: str, control_id: str) -> str:
    return f"MSH|^~\\&|{app}|UKX|ITPWATCH|UKX|{_ts(when)}||{mtype}|{control_id}|P|2.5|||AL|NE|DEU|8859/1"


def _mix(*parts: int) -> int:
    """A stable integer seed from several integers (no hash(): that is randomised per process for str)."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = ((x ^ (p & 0xFFFFFFFFFFFFFFFF)) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 29
    return x


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1) if d.day > 28 else date(d.year + y, m + 1, d.day)


@dataclass(frozen=True, slots=True)
class _Person:
    index: int
    mrn: str
    pid: str
    pv1_out: str
    cohort: bool
    kind: str


@dataclass(order=True, slots=True)
class _Event:
    when: datetime
    seq: int
    kind: str = field(compare=False)
    person: _Person = field(compare=False)
    render: Callable[[_Gen, _Event], str] = field(compare=False)
    data: dict[str, object] = field(compare=False, default_factory=dict)


class _Gen:
    """State of one feed: persons, the time-ordered heap of pending events and the id counters."""

    def __init__(self, patients: int, cohort_fraction: float, months: int, seed: int, start: date) -> None:
        if patients < 0 or months < 1 or not 0 <= cohort_fraction <= 1:
            raise ValueError("patients >= 0, months >= 1 and 0 <= cohort_fraction <= 1 are required")
        self.seed = seed
        self.start = start
        self.months = months
        self.end = _add_months(start, months)
        rng = random.Random(seed)
        n_cohort = min(patients, round(patients * cohort_fraction))
        if cohort_fraction > 0 and patients > 0 and n_cohort == 0:
            n_cohort = 1
        cohort = set(rng.sample(range(patients), n_cohort))
        self.persons: list[_Person] = []
        for i in range(patients):
            r = random.Random(_mix(seed, i, 1))
            birth = date(1935, 1, 1) + timedelta(days=r.randrange(70 * 365))
            sex = r.choice("FM")
            mrn = str(2_000_001 + i)
            pid = _seg(
                "PID",
                {
                    1: "1",
                    3: f"{mrn}^^^UKX^MR",
                    5: f"Test^Patient{i + 1}^^^^^L",
                    7: birth.strftime("%Y%m%d"),
                    8: sex,
                    11: f"Teststrasse {r.randint(1, 199)}^^Teststadt^^{r.randint(1000, 99999):05d}^DEU",
                },
            )
            kind = (
                "cohort" if i in cohort else r.choices(("outpatient", "inpatient", "single"), (35, 50, 15))[0]
            )
            pv1 = _seg("PV1", {1: "1", 2: "O", 3: "AMB^^^UKX", 19: f"V{mrn}^^^UKX^VN"})
            self.persons.append(_Person(i, mrn, pid, pv1, i in cohort, kind))
        self.heap: list[_Event] = []
        self.seq = 0
        self.counters = {"L": 0, "P": 0, "K": 0, "F": 0, "A": 0, "O": 0}
        self.rng = random.Random(_mix(seed, 0xFEED))
        """Decides corrections and duplicates at emit time (emit order is deterministic)."""

    # -- scheduling -------------------------------------------------------------------------------------

    def at(self, d: date, hh: int, mm: int) -> datetime:
        return datetime.combine(d, time(hh, mm), tzinfo=BERLIN)

    def push(
        self,
        when: datetime,
        kind: str,
        person: _Person,
        render: Callable[[_Gen, _Event], str],
        **data: object,
    ) -> None:
        self.seq += 1
        heapq.heappush(self.heap, _Event(when, self.seq, kind, person, render, dict(data)))

    def next_id(self, prefix: str) -> str:
        self.counters[prefix] += 1
        return f"{prefix}{self.counters[prefix]:09d}"

    def days(self) -> int:
        return (self.end - self.start).days

    # -- the stream -------------------------------------------------------------------------------------

    def run(self) -> Iterator[tuple[str, bool, bytes]]:
        for p in self.persons:
            if p.cohort:
                self.plan_cohort(p)
        for m in range(self.months):
            lo = _add_months(self.start, m)
            hi = _add_months(self.start, m + 1)
            for p in self.persons:
                if not p.cohort:
                    self.plan_month(p, m, lo, hi)
            limit = self.at(hi, 0, 0)
            while self.heap and self.heap[0].when < limit:
                yield from self.emit(heapq.heappop(self.heap))
        while self.heap:
            yield from self.emit(heapq.heappop(self.heap))

    def emit(self, ev: _Event) -> Iterator[tuple[str, bool, bytes]]:
        text = ev.render(self, ev)
        raw = text.encode("latin-1", "replace")
        yield ev.kind, ev.person.cohort, raw
        if ev.kind == "platelet_oru" and self.rng.random() < 0.02:
            delay = timedelta(minutes=self.rng.randint(90, 420))
            self.push(ev.when + delay, "correction", ev.person, _render_correction, original=ev.data)
        if ev.kind != "duplicate" and self.rng.random() < 0.005:
            delay = timedelta(minutes=self.rng.randint(2, 45))
            self.push(ev.when + delay, "duplicate", ev.person, _render_raw, text=text)

    # -- plans ------------------------------------------------------------------------------------------

    def cbc(self, p: _Person, when: datetime, platelets: int, rng: random.Random) -> None:
        self.push(
            when + timedelta(minutes=rng.randint(50, 150)),
            "platelet_oru",
            p,
            _render_cbc,
            collected=when,
            plt=max(1, platelets),
            unit=rng.choice(PLT_UNITS),
            other=[round(rng.gauss(mu, sd), nd) for _, mu, sd, nd, _ in CBC_OTHER],
        )

    def chem(self, p: _Person, when: datetime, rng: random.Random) -> None:
        self.push(
            when + timedelta(minutes=rng.randint(40, 120)),
            "other_oru",
            p,
            _render_chem,
            collected=when,
            values=[round(abs(rng.gauss(mu, sd)), nd) for _, mu, sd, nd, _, _ in CHEM],
        )

    def plan_month(self, p: _Person, m: int, lo: date, hi: date) -> None:
        rng = random.Random(_mix(self.seed, p.index, 2, m))
        span = (hi - lo).days
        low_plt = rng.random() < 0.05
        if p.kind == "outpatient":
            # One or two visits a month, CBC + chemistry.
            for _ in range(rng.choice((0, 1, 1, 2))):
                d = lo + timedelta(days=rng.randrange(span))
                when = self.at(d, rng.randint(7, 11), rng.randrange(60))
                self.cbc(p, when, rng.randint(60, 140) if low_plt else rng.randint(150, 400), rng)
                self.chem(p, when, rng)
        elif p.kind == "single":
            if rng.random() < 0.25:
                d = lo + timedelta(days=rng.randrange(span))
                self.chem(p, self.at(d, rng.randint(7, 18), rng.randrange(60)), rng)
        elif rng.random() < 0.18:  # an inpatient stay starting this month
            d0 = lo + timedelta(days=rng.randrange(span))
            los = rng.randint(2, 8)
            admit = self.at(d0, rng.randint(6, 22), rng.randrange(60))
            self.push(admit, "adt", p, _render_adt, event="A01", visit=f"S{p.mrn}{m:03d}")
            for k in range(rng.randint(0, 2)):
                self.push(
                    admit + timedelta(hours=2 + 9 * k),
                    "adt",
                    p,
                    _render_adt,
                    event="A08",
                    visit=f"S{p.mrn}{m:03d}",
                )
            self.push(admit + timedelta(minutes=25), "order", p, _render_rde, drug=rng.choice(WARD_DRUGS))
            for day in range(los):
                d = d0 + timedelta(days=day + 1)
                self.push(self.at(d - timedelta(days=1), 18, rng.randrange(60)), "order", p, _render_orm)
                when = self.at(d, 6, rng.randrange(60))
                self.chem(p, when, rng)
                if day % 2 == 0:
                    self.cbc(p, when, rng.randint(40, 140) if low_plt else rng.randint(150, 420), rng)
            self.push(
                self.at(d0 + timedelta(days=los), rng.randint(10, 16), rng.randrange(60)),
                "adt",
                p,
                _render_adt,
                event="A03",
                visit=f"S{p.mrn}{m:03d}",
            )

    def plan_cohort(self, p: _Person) -> None:
        rng = random.Random(_mix(self.seed, p.index, 3))
        total = self.days()
        course = rng.choices(COURSES, COURSE_WEIGHTS)[0]
        if course == "reexposure" and total < 240:
            course = "relapse"
        d1 = self.start + timedelta(days=rng.randrange(max(1, min(90, total // 4))))
        premed = rng.random() < 0.5
        baseline = rng.randint(5, 30)
        ttr = {"responder": rng.randint(7, 28), "late_responder": rng.randint(56, 70)}.get(
            course, rng.randint(7, 35)
        )
        relapse_after = rng.randint(56, 130)
        end = self.end

        def level(day: int) -> int:
            """Platelet level on study day `day` (0 = D1) of the first episode."""
            if course == "non_responder" or day < ttr:
                rise = 0 if course == "non_responder" else int(40 * day / max(ttr, 1))
                return int(baseline + rise + rng.gauss(0, 6))
            if course in ("relapse", "reexposure") and day >= ttr + relapse_after:
                return int(rng.uniform(8, 42))
            return int(rng.uniform(60, 260))

        # Doses of the first episode.
        last_dose = {
            "non_responder": rng.choice((21, 49, 77)),
            "relapse": ttr + relapse_after - 14,
            "reexposure": ttr + relapse_after - 14,
        }.get(course, total)
        offsets = [0, 7, 14, 21]
        o = 21
        while True:
            o += 14 if o < 84 else 28
            if o > last_dose:
                break
            offsets.append(o)
        for n, off in enumerate(offsets, start=1):
            d = d1 + timedelta(days=off)
            if d >= end:
                break
            self.dose(p, d, n, premed and off <= 21, rng)
        # IVIG rescue for some non-responders.
        if course == "non_responder" and rng.random() < 0.4:
            d = d1 + timedelta(days=rng.randint(20, 40))
            if d < end:
                self.push(
                    self.at(d, 14, 0) + timedelta(hours=4),
                    "administration",
                    p,
                    _render_ras,
                    groups=[(IVIG, "60", "g", IV, self.at(d, 14, 0), 1, None)],
                )
        # Re-exposure with romiplostim.
        d2_off = ttr + relapse_after + rng.randint(90, 150)
        if course == "reexposure" and d1 + timedelta(days=d2_off) < end:
            d2 = d1 + timedelta(days=d2_off)
            romi0 = d2 + timedelta(days=rng.randint(-7, 7))
            for w in range(16):
                d = romi0 + timedelta(days=7 * w)
                if d >= end:
                    break
                t = self.at(d, 11, rng.randrange(60))
                self.push(
                    t + timedelta(minutes=15),
                    "administration",
                    p,
                    _render_ras,
                    groups=[(ROMI, "210", "ug", SC, t, w + 1, ("3", "ug/kg"))],
                )
            for n, off in enumerate((0, 7, 14, 21, 35, 49, 77, 105), start=len(offsets) + 1):
                d = d2 + timedelta(days=off)
                if d >= end:
                    break
                self.dose(p, d, n, False, rng)
        # Counts: baseline, weekly for 12 weeks, then every 2 weeks; chemistry monthly.
        day = -rng.randint(3, 14)
        while d1 + timedelta(days=day) < end:
            d = d1 + timedelta(days=day)
            if d >= self.start:
                when = self.at(d, rng.randint(7, 9), rng.randrange(60))
                v = level(day)
                if course == "reexposure" and day >= d2_off:
                    v = int(rng.uniform(8, 40)) if day < d2_off + 21 else int(rng.uniform(60, 220))
                self.cbc(p, when, v, rng)
                if day % 28 == 0:
                    self.chem(p, when, rng)
            day += 7 if day < 84 or (course == "reexposure" and d2_off <= day < d2_off + 84) else 14

    def dose(self, p: _Person, d: date, n: int, premed: bool, rng: random.Random) -> None:
        t = self.at(d, 10, rng.randrange(60))
        self.push(
            self.at(d - timedelta(days=1), 15, rng.randrange(60)),
            "order",
            p,
            _render_rde,
            drug=(DARA, "1800", "mg", SC),
        )
        groups: list[tuple[str, str, str, str, datetime, int, tuple[str, str] | None]] = []
        if premed:
            groups.append((DEXA, "20", "mg", IV, t - timedelta(minutes=40), n, None))
        groups.append((DARA, "1800", "mg", SC, t, n, None))
        self.push(t + timedelta(minutes=rng.randint(10, 40)), "administration", p, _render_ras, groups=groups)


# ---------------------------------------------------------------------------------------------------------
# Rendering (called at emit time, in feed order, so control ids are sequential)


def _header(g: _Gen, ev: _Event, app: str, mtype: str, prefix: str) -> list[str]:
    return [_msh(app, ev.when, mtype, g.next_id(prefix)), ev.person.pid, ev.person.pv1_out]


def _render_cbc(g: _Gen, ev: _Event) -> str:
    d = ev.data
    collected = d["collected"]
    assert isinstance(collected, datetime)
    filler = g.next_id("F")
    placer = g.next_id("O")
    d["filler"], d["placer"] = filler, placer
    unit = str(d["unit"])
    wbc_unit = unit if not unit.startswith("10*3") else "10*9/L^10*9/L^UCUM"
    segs = _header(g, ev, "LAB_LIS", "ORU^R01^ORU_R01", "L")
    segs.append(_seg("ORC", {1: "RE", 2: f"{placer}^KIS", 3: f"{filler}^LAB", 5: "CM", 9: _ts(ev.when)}))
    segs.append(
        _seg(
            "OBR",
            {
                1: "1",
                2: f"{placer}^KIS",
                3: f"{filler}^LAB",
                4: CBC_PANEL,
                7: _ts(collected),
                22: _ts(ev.when),
                25: "F",
            },
        )
    )
    other = d["other"]
    assert isinstance(other, list)
    n = 0
    for (code, _, _, nd, rng_text), value, u in zip(CBC_OTHER, other, CBC_OTHER_UNITS, strict=True):
        n += 1
        segs.append(
            _seg(
                "OBX",
                {
                    1: str(n),
                    2: "NM",
                    3: code,
                    5: f"{value:.{nd}f}",
                    6: wbc_unit if u == "{wbc}" else u,
                    7: rng_text,
                    11: "F",
                    14: _ts(collected),
                },
            )
        )
        if n == 3:
            n += 1
            segs.append(_plt_obx(n, int(str(d["plt"])), unit, "F", collected, ev.when))
    return "\r".join(segs)


def _plt_obx(n: int, value: int, unit: str, status: str, collected: datetime, reported: datetime) -> str:
    flag = "LL" if value < 20 else "L" if value < 150 else "H" if value > 400 else "N"
    return _seg(
        "OBX",
        {
            1: str(n),
            2: "NM",
            3: PLT,
            5: str(value),
            6: unit,
            7: "150-400",
            8: flag,
            11: status,
            14: _ts(collected),
            19: _ts(reported - timedelta(minutes=5)),
        },
    )


def _render_correction(g: _Gen, ev: _Event) -> str:
    o = ev.data["original"]
    assert isinstance(o, dict)
    collected = o["collected"]
    old = int(o["plt"])
    new = old + 9 if old < 100 else old - 20  # a transposition-like typo fixed by the lab
    segs = _header(g, ev, "LAB_LIS", "ORU^R01^ORU_R01", "L")
    segs.append(
        _seg("ORC", {1: "RE", 2: f"{o['placer']}^KIS", 3: f"{o['filler']}^LAB", 5: "CM", 9: _ts(ev.when)})
    )
    segs.append(
        _seg(
            "OBR",
            {
                1: "1",
                2: f"{o['placer']}^KIS",
                3: f"{o['filler']}^LAB",
                4: CBC_PANEL,
                7: _ts(collected),
                22: _ts(ev.when),
                25: "C",
            },
        )
    )
    segs.append(_plt_obx(4, max(1, new), str(o["unit"]), "C", collected, ev.when))
    segs.append(_seg("NTE", {1: "1", 2: "L", 3: f"Korrektur: ersetzt Befund {old}"}))
    return "\r".join(segs)


def _render_chem(g: _Gen, ev: _Event) -> str:
    collected = ev.data["collected"]
    values = ev.data["values"]
    assert isinstance(collected, datetime) and isinstance(values, list)
    filler, placer = g.next_id("F"), g.next_id("O")
    segs = _header(g, ev, "LAB_LIS", "ORU^R01^ORU_R01", "L")
    segs.append(_seg("ORC", {1: "RE", 2: f"{placer}^KIS", 3: f"{filler}^LAB", 5: "CM", 9: _ts(ev.when)}))
    segs.append(
        _seg(
            "OBR",
            {
                1: "1",
                2: f"{placer}^KIS",
                3: f"{filler}^LAB",
                4: CHEM_PANEL,
                7: _ts(collected),
                22: _ts(ev.when),
                25: "F",
            },
        )
    )
    for i, ((code, _, _, nd, unit, rng_text), v) in enumerate(zip(CHEM, values, strict=True), start=1):
        segs.append(
            _seg(
                "OBX",
                {
                    1: str(i),
                    2: "NM",
                    3: code,
                    5: f"{v:.{nd}f}",
                    6: f"{unit}^{unit}^UCUM",
                    7: rng_text,
                    11: "F",
                    14: _ts(collected),
                },
            )
        )
    return "\r".join(segs)


def _render_ras(g: _Gen, ev: _Event) -> str:
    groups = ev.data["groups"]
    assert isinstance(groups, list)
    segs = _header(g, ev, "PHARM", "RAS^O17^RAS_O17", "P")
    for code, amount, unit, route, t, n, strength in groups:
        adm = g.next_id("A")
        end = t + timedelta(minutes=5)
        fields = {
            1: "0",
            2: str(n),
            3: _ts(t),
            4: _ts(end),
            5: code,
            6: amount,
            7: f"{unit}^{unit}^UCUM",
            20: "CP",
            21: "A",
            22: _ts(ev.when),
        }
        if strength:
            fields[13], fields[14] = strength[0], f"{strength[1]}^{strength[1]}^UCUM"
        segs.append(_seg("ORC", {1: "RE", 2: f"R{adm[1:]}^KIS", 3: f"{adm}^PHARM", 5: "CM", 9: _ts(ev.when)}))
        segs.append(_seg("RXA", fields))
        segs.append(_seg("RXR", {1: route}))
    return "\r".join(segs)


def _render_rde(g: _Gen, ev: _Event) -> str:
    drug = ev.data["drug"]
    assert isinstance(drug, tuple)
    code, amount, unit, route = drug
    segs = _header(g, ev, "KIS", "RDE^O11^RDE_O11", "K")
    order = g.next_id("O")
    segs.append(_seg("ORC", {1: "NW", 2: f"{order}^KIS", 5: "SC", 9: _ts(ev.when)}))
    segs.append(_seg("RXE", {2: code, 3: amount, 5: f"{unit}^{unit}^UCUM"}))
    segs.append(_seg("RXR", {1: route}))
    return "\r".join(segs)


def _render_orm(g: _Gen, ev: _Event) -> str:
    segs = _header(g, ev, "KIS", "ORM^O01^ORM_O01", "K")
    order = g.next_id("O")
    segs.append(_seg("ORC", {1: "NW", 2: f"{order}^KIS", 5: "SC", 9: _ts(ev.when)}))
    segs.append(
        _seg("OBR", {1: "1", 2: f"{order}^KIS", 4: CHEM_PANEL, 7: _ts(ev.when + timedelta(hours=12))})
    )
    return "\r".join(segs)


def _render_adt(g: _Gen, ev: _Event) -> str:
    event = str(ev.data["event"])
    structure = "ADT_A03" if event == "A03" else "ADT_A01"
    return "\r".join(
        [
            _msh("KIS", ev.when, f"ADT^{event}^{structure}", g.next_id("K")),
            _seg("EVN", {1: event, 2: _ts(ev.when)}),
            ev.person.pid,
            _seg("PV1", {1: "1", 2: "I", 3: "STATION-4B^^^UKX", 19: f"{ev.data['visit']}^^^UKX^VN"}),
        ]
    )


def _render_raw(g: _Gen, ev: _Event) -> str:
    return str(ev.data["text"])


# ---------------------------------------------------------------------------------------------------------
# Public API


def iter_feed(
    *,
    patients: int,
    cohort_fraction: float = 0.03,
    months: int = 12,
    seed: int = 7,
    start: date = date(2022, 1, 3),
) -> Iterator[tuple[str, bool, bytes]]:
    """Like generate_feed, with each message's kind (one of KINDS) and whether it is a cohort patient's."""
    return _Gen(patients, cohort_fraction, months, seed, start).run()


def generate_feed(
    *,
    patients: int,
    cohort_fraction: float = 0.03,
    months: int = 12,
    seed: int = 7,
    start: date = date(2022, 1, 3),
) -> Iterator[bytes]:
    """One HL7 v2.5 message per item (segments joined by '\\r', no trailing separator), in time order."""
    for _, _, raw in iter_feed(
        patients=patients, cohort_fraction=cohort_fraction, months=months, seed=seed, start=start
    ):
        yield raw


def write_feed(
    dir: str | PathLike[str],
    *,
    per_file: int = 1000,
    patients: int,
    cohort_fraction: float = 0.03,
    months: int = 12,
    seed: int = 7,
    start: date = date(2022, 1, 3),
) -> FeedStats:
    """Write feed-00001.hl7, ... with `per_file` messages each; every message is followed by '\\r\\n'."""
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = _Gen(patients, cohort_fraction, months, seed, start)
    stats = FeedStats(patients=patients, cohort_patients=sum(p.cohort for p in gen.persons))
    buf: list[bytes] = []

    def flush() -> None:
        name = f"feed-{len(stats.files) + 1:05d}.hl7"
        (out / name).write_bytes(b"".join(m + b"\r\n" for m in buf))
        stats.files.append(name)
        buf.clear()

    for kind, cohort, raw in gen.run():
        stats.add(kind, cohort)
        buf.append(raw)
        if len(buf) >= per_file:
            flush()
    if buf:
        flush()
    return stats
