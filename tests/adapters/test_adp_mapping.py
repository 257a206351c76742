from __future__ import annotations

from pathlib import Path

import pytest

from adapters.mapping import SiteMapping

FACTOR_1 = [
    "G/L", "G/l", "Gpt/L", "Gpt/l", "/nL", "/nl", "1/nl", "10^9/L", "10E9/L", "x10^9/l", "10*9/L", "10*9/l",
    "x10*9/L", "giga.l-1", "10\\S\\9/L", "10*3/uL", "10^3/uL", "10*3/µL", "K/uL", "K/µL", "x1000/µL",
    "Tsd/µl", "10^3/mm3",
]  # fmt: skip
FACTOR_MILLI = ["/uL", "/µL", "/mm3", "/cmm", "{cells}/uL"]


@pytest.mark.parametrize("unit", FACTOR_1)
def test_units_per_nanolitre(mapping: SiteMapping, unit: str) -> None:
    assert mapping.unit_factor(unit) == 1


@pytest.mark.parametrize("unit", FACTOR_MILLI)
def test_units_per_microlitre(mapping: SiteMapping, unit: str) -> None:
    assert mapping.unit_factor(unit) == 0.001


def test_unit_case_insensitive_fallback_and_unmapped(mapping: SiteMapping) -> None:
    assert mapping.unit_factor("GPT/L") == 1
    assert mapping.unit_factor("{CELLS}/UL") == 0.001
    assert mapping.unit_factor("Tsd/nl") is None
    assert mapping.unit_factor("T/L") is None
    assert mapping.unit_factor("") is None


def test_platelet_codes(mapping: SiteMapping) -> None:
    assert mapping.platelet_code("777-3", "LN")
    assert mapping.platelet_code("26515-7", "http://loinc.org")
    assert mapping.platelet_code("778-1", "")
    assert not mapping.platelet_code("49497-1", "LN")
    assert not mapping.platelet_code("777-3", "L")  # a local system using the same string
    assert not mapping.platelet_code("tt-0002-06", "WinPath")


def test_site_file_adds_local_code_and_keeps_defaults(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("local_codes: [tt-0002-06]\nunits:\n  'Tsd/nl': 1\nmrn_authorities: [UKX]\n", "utf-8")
    loaded = SiteMapping.load(site)
    assert loaded.platelet_code("tt-0002-06", "WinPath")
    assert loaded.unit_factor("Tsd/nl") == 1
    assert loaded.unit_factor("Gpt/l") == 1  # merged, not replaced
    assert loaded.mrn_authorities == ("UKX",)
    assert loaded.drug(["L01FC01"], []) is not None


@pytest.mark.parametrize(
    ("codes", "texts", "agent", "atc"),
    [
        (["L01FC01"], [], "daratumumab", "L01FC01"),
        ([], ["Darzalex 1800 mg s.c."], "daratumumab", "L01FC01"),
        (["B02BX04"], [], "romiplostim", "B02BX04"),
        ([], ["NPLATE"], "romiplostim", "B02BX04"),
        ([], ["Promacta"], "eltrombopag", "B02BX05"),
        ([], ["Doptelet"], "avatrombopag", "B02BX08"),
        (["B02BX09"], [], "fostamatinib", "B02BX09"),
        ([], ["MabThera"], "rituximab", "L01FA01"),
        (["J06BA02"], [], "ivig", "J06BA02"),
        (["J06BA01"], [], "ivig", "J06BA01"),
        ([], ["Rhophylac"], "anti-d", "J06BB01"),
        (["H02AB02"], [], "dexamethasone", "H02AB02"),
        (["H02AB06"], [], "prednisolone", "H02AB06"),
        (["H02AB07"], [], "prednisone", "H02AB07"),
        (["H02AB04"], [], "methylprednisolone", "H02AB04"),
        ([], ["Thrombozytenkonzentrat"], "platelet-transfusion", None),
        ([], ["TK"], "platelet-transfusion", None),
    ],
)
def test_drug_synonyms(mapping: SiteMapping, codes: list[str], texts: list[str], agent: str, atc: str | None) -> None:
    match = mapping.drug(codes, texts)
    assert match is not None
    assert (match.agent, match.atc_code) == (agent, atc)


def test_short_synonym_does_not_match_inside_text(mapping: SiteMapping) -> None:
    assert mapping.drug([], ["TK-Labor Vitamin D"]) is None
    assert mapping.drug(["J07BX03"], ["COVID-19 vaccine"]) is None
