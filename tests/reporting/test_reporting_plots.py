"""Figures for print: formats, fonts, colour-blind palette, honest legends and numbered captions."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from engine.reporting import Cohort, build_cohort
from engine.reporting.html import render_html, write_html
from engine.reporting.plots import FORMATS, build_figures, figure_bytes, write_plots

from .factories import AGENT, AS_OF, PROFILE, PROFILE_VERSION, SERIOUS_INFECTION_CODES, seed_cohort

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    events, _ = seed_cohort()
    return build_cohort(events, agent=AGENT, profile=PROFILE, profile_version=PROFILE_VERSION, as_of=AS_OF,
                        serious_infection_codes=SERIOUS_INFECTION_CODES)


@pytest.fixture(scope="module")
def written(cohort: Cohort, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {p.name: p for p in write_plots(cohort, tmp_path_factory.mktemp("plots"))}


def test_every_figure_in_every_format_with_captions(cohort: Cohort, written: dict[str, Path]) -> None:
    stems = ["swimmer", "km_response_duration", *(f"platelets_{r.patient}" for r in cohort.report.patients)]
    assert set(written) == {f"{s}.{fmt}" for s in stems for fmt in FORMATS} | {"captions.txt"}
    captions = written["captions.txt"].read_text(encoding="utf-8")
    for number, stem in enumerate(stems, start=1):
        assert f"Figure {number}. " in captions and f"files: {stem}." in captions
    assert f"n = 5 responders of {len(cohort.report.patients)} patients" in captions
    assert "Data cut 30 June 2025; rule profile site, version 1.0.0." in captions
    assert "≥ 50 × 10⁹/L" in captions and "≥ 100 × 10⁹/L" in captions  # threshold definitions


def test_png_300_dpi_pdf_truetype_svg_real_text(written: dict[str, Path]) -> None:
    png = Image.open(written["swimmer.png"])
    assert [round(v) for v in png.info["dpi"]] == [300, 300]
    assert png.text["Description"].startswith("Figure 1. ")  # type: ignore[attr-defined]
    pdf = written["swimmer.pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Type3" not in pdf
    svg = written["swimmer.svg"].read_text(encoding="utf-8")
    assert "<text" in svg and "PSN-001" in svg  # text, not glyph outlines
    assert "Figure 1. " in svg  # caption in the metadata


def test_titles_carry_no_version_and_colours_are_okabe_ito(cohort: Cohort, written: dict[str, Path]) -> None:
    for item in build_figures(cohort)[:3]:
        title = item.figure.axes[0].get_title()
        assert cohort.report.profile_version not in title and title == item.caption.title
    svg = written["swimmer.svg"].read_text(encoding="utf-8").lower()
    fills = set(re.findall(r"fill: (#[0-9a-f]{6})", svg))
    greys = {c for c in fills if len({c[1:3], c[3:5], c[5:7]}) == 1}
    assert fills - greys <= OKABE_ITO, fills - greys - OKABE_ITO


def test_legends_list_only_what_the_plot_shows(cohort: Cohort) -> None:
    figures = {item.stem: item for item in build_figures(cohort)}

    def labels(stem: str) -> list[str]:
        fig = figures[stem].figure
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
        return [t.get_text() for lg in legends for t in lg.get_texts()]

    swimmer = labels("swimmer")
    for expected in ("no response", "non-response declared", "re-exposure (new episode)",
                     "romiplostim dose (combination)", "censored at last follow-up", "relapse onset"):
        assert expected in swimmer, expected
    assert "response ongoing at data cut" not in swimmer  # every response is censored at this cut
    non_responder = labels("platelets_PSN-006")
    assert "response onset" not in non_responder and "relapse onset" not in non_responder
    assert "non-response declared" in non_responder and "response threshold (50)" in non_responder
    assert not any("2 × baseline" in label for label in non_responder)  # site profile: no doubling rule
    reexposed = labels("platelets_PSN-005")
    assert "re-exposure D1 (+ romiplostim)" in reexposed and "romiplostim dose (combination)" in reexposed


def test_reruns_give_identical_svg_and_pdf(cohort: Cohort, written: dict[str, Path]) -> None:
    again = build_figures(cohort)[1]
    figure_bytes(again, "png")  # the order write_plots renders in (each draw refines the constrained layout)
    assert figure_bytes(again, "pdf") == written["km_response_duration.pdf"].read_bytes()
    assert figure_bytes(again, "svg") == written["km_response_duration.svg"].read_bytes()


def test_html_is_self_contained_and_prints_one_figure_per_page(cohort: Cohort, tmp_path: Path) -> None:
    figures = build_figures(cohort)
    page = render_html(cohort, figures=figures)
    assert page.startswith("<!DOCTYPE html>")
    assert "62.5 %, 95 % CI 24.5–91.5" in page
    assert page.count("data:image/png;base64,") == 2 + len(cohort.report.patients)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "<strong>Figure 1.</strong>" in page and "Data cut</dt><dd>2025-06-30 23:59+02:00" in page
    assert "@media print" in page and "figure+figure{break-before:page" in page
    assert '<td class="d">2020-10-05</td>' in page  # dates never wrap
    out = write_html(cohort, tmp_path / "r" / "report.html", figures=figures)
    assert out.read_text(encoding="utf-8") == page
    embedded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert embedded is not None
    import base64

    assert Image.open(io.BytesIO(base64.b64decode(embedded.group(1)))).info["dpi"][0] == pytest.approx(300, abs=1)
