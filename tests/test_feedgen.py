"""The synthetic benchmark feed (bench/feedgen.py) and the bundled example feed (examples/)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from types import ModuleType

import hl7
import pytest

from bench.feedgen import KINDS, FeedStats, generate_feed, iter_feed, write_feed

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def normalise(raw: bytes) -> str:
    """What a reader does before hl7.parse: decode, one '\\r' between segments, no trailing separator."""
    text = raw.decode("latin-1")
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")


def split_file(data: bytes) -> list[bytes]:
    return [m for m in data.split(b"\r\n") if m.strip()]


def hl7_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%d%H%M%S%z")


# ---------------------------------------------------------------------------------------------------------
# generator


SMALL = {"patients": 300, "months": 4, "cohort_fraction": 0.05}


@pytest.fixture(scope="module")
def small_feed() -> list[tuple[str, bool, bytes]]:
    return list(iter_feed(**SMALL))  # type: ignore[arg-type]


def test_same_seed_same_bytes() -> None:
    a = list(generate_feed(patients=120, months=3, seed=11))
    b = list(generate_feed(patients=120, months=3, seed=11))
    assert a == b
    assert len(a) > 100


def test_different_seed_different_bytes() -> None:
    a = list(generate_feed(patients=120, months=3, seed=11))
    c = list(generate_feed(patients=120, months=3, seed=12))
    assert a != c


def test_start_date_moves_the_feed() -> None:
    first = next(generate_feed(patients=50, months=1, start=date(2023, 7, 3)))
    msh7 = hl7.parse(normalise(first)).segment("MSH")[7]
    assert str(msh7).startswith("202307")
    assert str(msh7).endswith("+0200")


def test_kinds_and_proportions(small_feed: list[tuple[str, bool, bytes]]) -> None:
    kinds = Counter(k for k, _, _ in small_feed)
    assert set(kinds) <= set(KINDS)
    for k in KINDS:
        assert kinds[k] > 0, k
    total = sum(kinds.values())
    skippable = kinds["other_oru"] + kinds["adt"] + kinds["order"]
    assert skippable / total > 0.5  # most traffic is irrelevant to the rules
    assert kinds["platelet_oru"] > kinds["administration"]
    assert 0.005 < kinds["correction"] / kinds["platelet_oru"] < 0.06
    assert kinds["duplicate"] / total < 0.02
    cohort_adm = sum(1 for k, c, _ in small_feed if k == "administration" and c)
    assert cohort_adm == kinds["administration"]  # only the cohort gets RAS^O17


def test_every_message_parses(small_feed: list[tuple[str, bool, bytes]]) -> None:
    seen_ids: dict[str, bytes] = {}
    fillers: set[str] = set()
    last: datetime | None = None
    for kind, _, raw in small_feed:
        assert b"\n" not in raw
        msg = hl7.parse(normalise(raw))
        msh = msg.segment("MSH")
        assert str(msh[12]) == "2.5"
        pid3 = str(msg.segment("PID")[3])
        assert pid3.endswith("^^^UKX^MR") and pid3.split("^")[0].isdigit()
        assert str(msg.segment("PID")[5]).startswith("Test^Patient")
        control = str(msh[10])
        if kind == "duplicate":
            assert seen_ids[control] == raw
        else:
            assert control not in seen_ids
            seen_ids[control] = raw
        if kind != "duplicate":  # a resend carries the original MSH-7
            when = hl7_time(str(msh[7]))
            assert last is None or when >= last  # time order
            last = when
        mtype = str(msh[9])
        if kind in ("platelet_oru", "other_oru", "correction"):
            assert mtype == "ORU^R01^ORU_R01"
            assert str(msh[3]) == "LAB_LIS" and str(msh[4]) == "UKX"
            codes = {str(o[3][0][0]) for o in msg.segments("OBX")}
            obr3 = str(msg.segment("OBR")[3])
            if kind == "platelet_oru":
                assert {"777-3", "6690-2", "789-8", "718-7", "4544-3", "787-2"} <= codes
                assert str(msg.segment("OBR")[4][0][0]) == "58410-2"
                fillers.add(obr3)
            elif kind == "other_oru":
                assert codes == {"2951-2", "2823-3", "2160-0"}
            else:
                assert obr3 in fillers  # a correction refers to an earlier result
                assert [str(o[11]) for o in msg.segments("OBX")] == ["C"]
            for obx in msg.segments("OBX"):
                assert str(obx[14]) == str(msg.segment("OBR")[7])
        elif kind == "administration":
            assert mtype == "RAS^O17^RAS_O17" and str(msh[3]) == "PHARM"
            for rxa in msg.segments("RXA"):
                assert str(rxa[20]) == "CP" and str(rxa[21]) == "A"
            assert len(msg.segments("RXR")) == len(msg.segments("RXA")) == len(msg.segments("ORC"))
        elif kind == "adt":
            assert mtype.startswith("ADT^A0")
        elif kind == "order":
            assert mtype in ("ORM^O01^ORM_O01", "RDE^O11^RDE_O11")


def test_daratumumab_and_units(small_feed: list[tuple[str, bool, bytes]]) -> None:
    units: Counter[str] = Counter()
    dara = 0
    offsets: set[str] = set()
    for kind, _, raw in small_feed:
        msg = hl7.parse(normalise(raw))
        offsets.add(str(msg.segment("MSH")[7])[-5:])
        if kind == "platelet_oru":
            plt = next(o for o in msg.segments("OBX") if str(o[3][0][0]) == "777-3")
            units[str(plt[6][0][0])] += 1
        if kind == "administration":
            for rxa in msg.segments("RXA"):
                if str(rxa[5][0][0]) == "L01FC01":
                    dara += 1
                    assert str(rxa[6]) == "1800" and str(rxa[7][0][0]) == "mg"
            for rxr in msg.segments("RXR"):
                assert str(rxr[1][0][0]) in ("SC", "IV")
    assert set(units) == {"Gpt/l", "G/L", "10*9/L", "10*3/uL"}
    assert dara > 0
    assert offsets == {"+0100", "+0200"}  # January to May crosses the start of summer time


def test_filler_numbers_of_administrations_are_unique(small_feed: list[tuple[str, bool, bytes]]) -> None:
    seen: list[str] = []
    for kind, _, raw in small_feed:
        if kind == "administration":
            seen += [str(orc[3]) for orc in hl7.parse(normalise(raw)).segments("ORC")]
    assert len(seen) == len(set(seen)) > 0


def test_write_feed(tmp_path: Path) -> None:
    stats = write_feed(tmp_path, per_file=500, patients=150, months=2)
    assert isinstance(stats, FeedStats)
    files = sorted(tmp_path.glob("feed-*.hl7"))
    assert [f.name for f in files] == stats.files
    counts = [len(split_file(f.read_bytes())) for f in files]
    assert sum(counts) == stats.total
    assert all(c == 500 for c in counts[:-1]) and 0 < counts[-1] <= 500
    assert stats.by_kind()["platelet_oru"] == stats.platelet_oru >= stats.cohort_platelet_oru
    again = list(generate_feed(patients=150, months=2))
    assert [m for f in files for m in split_file(f.read_bytes())] == again


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        list(generate_feed(patients=10, months=0))
    with pytest.raises(ValueError):
        list(generate_feed(patients=10, cohort_fraction=1.5))


# ---------------------------------------------------------------------------------------------------------
# bundled examples


def load_make_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def example_messages(name: str) -> list[hl7.Message]:
    data = (EXAMPLES / "feed" / name).read_bytes()
    return [hl7.parse(normalise(m)) for m in split_file(data)]


def test_make_examples_reproduces_committed_files() -> None:
    files = load_make_examples().build()
    assert set(files) >= {
        "feed/lab_results.hl7",
        "feed/administrations.hl7",
        "feed/fhir_bundle.json",
        "feed/enrollment.csv",
        "expected.json",
    }
    for name, data in files.items():
        assert (EXAMPLES / name).read_bytes() == data, (
            f"{name} is stale: run python examples/make_examples.py"
        )


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("lab_results.hl7", {"ORU^R01^ORU_R01"}),
        ("administrations.hl7", {"RAS^O17^RAS_O17"}),
        (
            "adt_orders.hl7",
            {"ADT^A01^ADT_A01", "ADT^A08^ADT_A01", "ADT^A03^ADT_A03", "ORM^O01^ORM_O01", "RDE^O11^RDE_O11"},
        ),
    ],
)
def test_example_hl7_is_well_formed(name: str, types: set[str]) -> None:
    data = (EXAMPLES / "feed" / name).read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")  # CR between segments, CRLF only between messages
    msgs = example_messages(name)
    assert msgs
    assert {str(m.segment("MSH")[9]) for m in msgs} == types
    for m in msgs:
        assert str(m.segment("MSH")[12]) == "2.5"
        mrn = str(m.segment("PID")[3]).split("^")
        assert mrn[0].startswith("1000") and mrn[3:5] == ["UKX", "MR"]
        for obx in (seg for seg in m if str(seg[0]) == "OBX"):
            assert str(obx[14])[-5:] in ("+0100", "+0200")


def test_example_hl7_features() -> None:
    labs = example_messages("lab_results.hl7")
    ids = Counter(str(m.segment("MSH")[10]) for m in labs)
    assert sum(1 for n in ids.values() if n == 2) == 1  # one exact resend
    corrections = [m for m in labs if str(m.segment("OBR")[25]) == "C"]
    assert len(corrections) == 1
    filler = str(corrections[0].segment("OBR")[3])
    assert sum(1 for m in labs if str(m.segment("OBR")[3]) == filler) == 2
    adm = example_messages("administrations.hl7")
    adm_ids = Counter(str(m.segment("MSH")[10]) for m in adm)
    assert sum(1 for n in adm_ids.values() if n == 2) == 1
    drugs = Counter(str(rxa[5][0][0]) for m in adm for rxa in m.segments("RXA"))
    assert set(drugs) == {"L01FC01", "B02BX04", "J06BA02", "H02AB02"}
    for m in adm:
        for rxa in m.segments("RXA"):
            assert str(rxa[20]) == "CP"


def test_example_fhir_bundle() -> None:
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate_json((EXAMPLES / "feed" / "fhir_bundle.json").read_bytes())
    assert bundle.type == "collection"
    kinds = Counter(type(e.resource).__name__ for e in bundle.entry or [])
    assert kinds["Patient"] == 12 and kinds["AdverseEvent"] == 1 and kinds["Observation"] >= 2
    from fhir.resources.R4B.patient import Patient

    patients = [e.resource for e in bundle.entry or [] if isinstance(e.resource, Patient)]
    mrns = {p.identifier[0].value for p in patients if p.identifier}
    assert mrns == {str(100000 + i) for i in range(1, 13)}
    raw = json.loads((EXAMPLES / "feed" / "fhir_bundle.json").read_text())
    ae = next(e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    assert ae["seriousness"]["coding"][0]["code"] == "Serious"
    assert ae["event"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "233604007",
        "display": "Pneumonia",
    }


def test_example_enrollment_and_expected() -> None:
    rows = list(csv.DictReader(io.StringIO((EXAMPLES / "feed" / "enrollment.csv").read_text())))
    assert list(rows[0]) == ["patient_id", "diagnosis_date", "itp_type", "prior_lines"]
    assert {r["itp_type"] for r in rows} == {"primary", "secondary"}
    assert 3 <= sum(r["itp_type"] == "secondary" for r in rows) <= 4
    for r in rows:
        date.fromisoformat(r["diagnosis_date"])
        assert int(r["prior_lines"]) >= 1
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    s = expected["cohort_summary"]
    assert s["daratumumab_patients"] == 8 and s["responders"] == 5 and s["relapses"] == 2
    assert s["ttr_days_first_episode"] == [7, 14, 14, 21, 70]
    assert s["applications"][0] == 4 and s["applications"][-1] == 17
    ages = s["ages_at_first_dose"]
    assert ages[0] == 22 and ages[-1] == 87 and (ages[3] + ages[4]) / 2 == 61
    p2 = expected["patients"]["100002"]
    dara = [e for e in p2["episode_details"] if e["agent"] == "daratumumab"]
    assert len(dara) == 2 and dara[1]["combination"] is True and dara[1]["best_response"] in ("R", "CR")
    assert {m: p["best_response"] for m, p in expected["patients"].items()} == {
        "100001": "CR",
        "100002": "CR",
        "100003": "R",
        "100004": "CR",
        "100005": "R",
        "100006": "NR",
        "100007": "NR",
        "100008": "NR",
        "100009": "CR",
        "100010": None,
        "100011": None,
        "100012": None,
    }
