"""The test of record: every real, externally-authored sample goes through read_bytes cleanly.

Each file must come back without an exception or a hang, every message with an Outcome that says why,
and the platelet counts must be found exactly where the samples have them (SOURCES.md).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from adapter_helpers import RECEIVED

from adapters.base import Accepted, InboundMessage, Rejected, Skipped
from adapters.mapping import SiteMapping
from adapters.reader import iter_paths, read_bytes
from events import PlateletCountRecorded, ResultStatus

SECONDS_PER_FILE = 10


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"read_bytes took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_file(path: Path, mapping: SiteMapping | None = None) -> list[InboundMessage]:
    with deadline(SECONDS_PER_FILE):
        return read_bytes(path.read_bytes(), origin=str(path), received_at=RECEIVED, mapping=mapping)


def platelets(messages: list[InboundMessage]) -> list[PlateletCountRecorded]:
    return [
        e
        for m in messages
        if isinstance(m.outcome, Accepted)
        for e in m.outcome.events
        if isinstance(e, PlateletCountRecorded)
    ]


def sample_files(root: Path) -> list[Path]:
    return [p for p in iter_paths([root / "hl7", root / "fhir"])]


def test_every_sample_is_read_with_a_reason(samples_dir: Path, mapping: SiteMapping) -> None:
    files = sample_files(samples_dir)
    assert len(files) == 56  # 44 HL7 + 12 FHIR files in the snapshot
    started = time.monotonic()
    for path in files:
        messages = read_file(path, mapping)
        assert messages, path.name
        for msg in messages:
            outcome = msg.outcome
            if isinstance(outcome, Skipped | Rejected):
                assert outcome.reason and outcome.reason != "not parsed", (path.name, outcome)
                if isinstance(outcome, Rejected):
                    assert not outcome.reason.startswith("internal:"), (path.name, outcome)
            else:
                assert isinstance(outcome, Accepted) and outcome.events, (path.name, outcome)
    assert time.monotonic() - started < 30


EXPECTED_REJECTIONS = {
    "python-hl7__sample_bad_batch1_EXPECTED_FAIL.hl7",  # nested BHS
    "msconv__ObservationBundle_MALFORMED.json",  # bare Encounter in Bundle.entry
    "hl7apy__docs_zsegment_ZIN.hl7",  # MSH-9 empty
}


def test_only_the_broken_samples_are_rejected(samples_dir: Path, mapping: SiteMapping) -> None:
    rejected = {
        p.name for p in sample_files(samples_dir) if any(isinstance(m.outcome, Rejected) for m in read_file(p, mapping))
    }
    assert rejected == EXPECTED_REJECTIONS


def test_nist_lri_cbc(samples_dir: Path) -> None:
    found = platelets(read_file(samples_dir / "hl7" / "msconv__LRI_2.0-NG_CBC_Typ_Message.hl7"))
    assert [(p.value, p.code, p.original_value, p.original_unit, p.status) for p in found] == [
        (210.0, "26515-7", "210000", "{cells}/uL", ResultStatus.FINAL)
    ]
    assert found[0].stream == "PATID1234"


@pytest.mark.parametrize("name", ["r4spec__Bundle-101.json", "r4spec__Bundle-ghp.json"])
def test_r4_spec_cbc_bundles(samples_dir: Path, name: str) -> None:
    found = platelets(read_file(samples_dir / "fhir" / name))
    assert [(p.value, p.code, p.result_key, p.stream) for p in found] == [
        (444.0, "777-3", "Observation/r6", "Patient/pat2")
    ]
    assert found[0].occurred_at.year in (2011, 2015)  # inherited from the DiagnosticReport / panel


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("synthea__Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json", [151.41191, 305.985536]),
        ("synthea__Brett_Gottlieb_0d2177ba-f67b-4f29-addb-91040de55388.json", [155.293475, 266.048986]),
    ],
)
def test_synthea_bundles(samples_dir: Path, name: str, values: list[float]) -> None:
    found = platelets(read_file(samples_dir / "fhir" / name))
    assert sorted(p.value or 0 for p in found) == pytest.approx(values, abs=1e-5)
    assert {p.original_unit for p in found} == {"10*3/uL"}
    assert len({p.stream for p in found}) == 1 and found[0].stream == name.split("_")[-1].removesuffix(".json")


SIMHOSP = {
    "simhosp__msg0012_ORU_CBC.hl7": 221.66,
    "simhosp__msg0247_ORU_CBC.hl7": 163.15,
    "simhosp__msg0668_ORU_CBC.hl7": 153.0,
    "simhosp__msg1003_ORU_CBC.hl7": 169.22,
}


@pytest.mark.parametrize(("name", "value"), sorted(SIMHOSP.items()))
def test_simhospital_cbc_needs_the_site_local_code(
    samples_dir: Path, mapping: SiteMapping, simhosp_mapping: SiteMapping, name: str, value: float
) -> None:
    path = samples_dir / "hl7" / name
    default = read_file(path, mapping)
    assert len(default) == 1 and isinstance(default[0].outcome, Skipped)
    found = platelets(read_file(path, simhosp_mapping))
    assert [(p.value, p.code, p.original_unit) for p in found] == [(value, "tt-0002-06", "x10*9/L")]


def test_simhospital_stream_has_six_messages(samples_dir: Path) -> None:
    messages = read_file(samples_dir / "hl7" / "simhosp__stream_first6_MULTI.hl7")
    assert len(messages) == 6 and len({m.message_id for m in messages}) == 6


def test_fhs_bhs_file_unwrapped(samples_dir: Path) -> None:
    messages = read_file(samples_dir / "hl7" / "python-hl7__sample_file1_FHS_BHS_MULTI.hl7")
    assert len(messages) == 3 and all(isinstance(m.outcome, Skipped) for m in messages)
    assert len(read_file(samples_dir / "hl7" / "reportstream__batch_FHS_BHS.hl7")) == 2


def test_no_other_sample_has_platelets(samples_dir: Path, mapping: SiteMapping) -> None:
    with_platelets = {p.name for p in sample_files(samples_dir) if platelets(read_file(p, mapping))}
    assert with_platelets == {
        "msconv__LRI_2.0-NG_CBC_Typ_Message.hl7",
        "r4spec__Bundle-101.json",
        "r4spec__Bundle-ghp.json",
        "synthea__Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json",
        "synthea__Brett_Gottlieb_0d2177ba-f67b-4f29-addb-91040de55388.json",
    }
