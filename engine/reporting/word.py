"""The whole report as a Word document (.docx), for a co-author who edits the abstract.

Word rather than PDF: co-authors revise an abstract with tracked changes and comments, journals and
congress systems take manuscripts as .docx, and a table pasted from a PDF loses its structure. The
document holds the same content as the HTML page (header, results paragraph, criteria, tables, numbered
figures with captions) as real Word paragraphs and tables, so every sentence and cell can be edited.
Metadata carry no person: author "itpwatch", dates = the data cut (never the wall clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from engine.reporting.captions import criteria
from engine.reporting.cohort import Cohort
from engine.reporting.plots import ReportFigure, build_figures, figure_bytes
from engine.reporting.tables import Cell, episode_table, header_facts, patient_table
from engine.reporting.text import summary_paragraph


def _table(doc: Any, headers: Sequence[str], rows: Sequence[Sequence[Cell]], size: float) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.text = text
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value.text
            if value.kind == "number":
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for i, row_cells in enumerate(table.rows):
        for cell in row_cells.cells:
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(size)
                run.font.bold = i == 0


def build_docx(cohort: Cohort, *, title: str | None = None, figures: Sequence[ReportFigure] | None = None) -> Any:
    """The report as a python-docx Document (save it with `.save(path)`)."""
    import io

    from docx import Document
    from docx.enum.section import WD_ORIENT, WD_SECTION
    from docx.shared import Mm, Pt

    report = cohort.report
    heading = title or f"{report.agent} cohort report"
    doc = Document()
    props = doc.core_properties
    props.author = props.last_modified_by = "itpwatch"
    props.title = heading
    props.subject = f"profile {report.profile} {report.profile_version}"
    props.comments = props.keywords = props.category = ""
    props.revision = 1
    if report.data_cut is not None:
        props.created = props.modified = report.data_cut.astimezone(UTC).replace(tzinfo=None)
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(18))
    doc.styles["Normal"].font.size = Pt(10)

    doc.add_heading(heading, level=0)
    for label, value in header_facts(report):
        paragraph = doc.add_paragraph()
        paragraph.paragraph_format.space_after = Pt(2)
        paragraph.add_run(f"{label}: ").bold = True
        paragraph.add_run(value)
    doc.add_heading("Summary", level=1)
    doc.add_paragraph(summary_paragraph(report))
    definitions = doc.add_paragraph()
    definitions.add_run(criteria(cohort.profile)).font.size = Pt(8.5)

    landscape = doc.add_section(WD_SECTION.NEW_PAGE)  # wide tables read better across the page
    landscape.orientation = WD_ORIENT.LANDSCAPE
    landscape.page_width, landscape.page_height = Mm(297), Mm(210)
    doc.add_heading("Patients", level=1)
    _table(doc, *patient_table(report), size=8)
    doc.add_heading("Episodes", level=1)
    _table(doc, *episode_table(report), size=7)

    portrait = doc.add_section(WD_SECTION.NEW_PAGE)
    portrait.orientation = WD_ORIENT.PORTRAIT
    portrait.page_width, portrait.page_height = Mm(210), Mm(297)
    doc.add_heading("Figures", level=1)
    figures = build_figures(cohort) if figures is None else figures
    for i, item in enumerate(figures):
        if i:
            doc.add_page_break()  # type: ignore[no-untyped-call]
        doc.add_picture(io.BytesIO(figure_bytes(item, "png")), width=Mm(170))
        caption = doc.add_paragraph(style="Caption")
        caption.add_run(f"{item.caption.label}. ").bold = True
        caption.add_run(item.caption.text)
    return doc


def write_docx(cohort: Cohort, path: Path, *, figures: Sequence[ReportFigure] | None = None) -> Path:
    """Write the Word report to `path` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_docx(cohort, figures=figures).save(str(path))
    return path
