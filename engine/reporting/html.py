"""A self-contained HTML report: one file that can be mailed or archived and opens without a network.

No external CSS, fonts or scripts; plots are embedded as base64 PNG at print resolution (inline SVGs from
matplotlib reuse element ids, which collide when several are put in one page). Every value is
HTML-escaped because MRNs and agent names come from hospital feeds. The page prints on A4 with one
figure per page and table headers repeated on every page.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path

from engine.reporting.captions import criteria
from engine.reporting.cohort import Cohort
from engine.reporting.plots import ReportFigure, build_figures, figure_bytes
from engine.reporting.tables import Cell, episode_table, header_facts, patient_table
from engine.reporting.text import summary_paragraph

_CSS = """
body{font-family:system-ui,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;padding:0 1.5em;color:#222;
max-width:1200px;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;font-size:.9em;color:#444;margin:.5em 0}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}.nowrap,td.d{white-space:nowrap}
p.summary{font-size:1.05em;line-height:1.5;background:#f8f8f8;padding:1em}
p.criteria{font-size:.9em;color:#444}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.85em;color:#333;margin-top:.4em;max-width:60em}
@page{size:A4;margin:14mm}
@media print{
body{margin:0;padding:0;max-width:none;font-size:9.5pt}
h2{break-after:avoid;page-break-after:avoid}
p.summary{background:none;padding:0}
table{font-size:7.5pt;width:100%}th,td{padding:.15em .3em}
thead{display:table-header-group}tr{break-inside:avoid;page-break-inside:avoid}
.scroll{overflow:visible}
h2.figures{break-before:page;page-break-before:always}
figure{break-inside:avoid;page-break-inside:avoid;margin:0}
figure+figure{break-before:page;page-break-before:always}
figure img{width:100%;max-height:235mm;object-fit:contain}
}
"""


def _cell(cell: Cell) -> str:
    classes = {"number": ' class="n"', "date": ' class="d"', "label": ' class="nowrap"'}.get(cell.kind, "")
    return f"<td{classes}>{escape(cell.text)}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure(item: ReportFigure) -> str:
    data = base64.b64encode(figure_bytes(item, "png")).decode("ascii")
    caption = item.caption
    return (
        f'<figure id="{escape(caption.stem)}"><img alt="{escape(caption.title)}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption><strong>{escape(caption.label)}.</strong> {escape(caption.text)}</figcaption></figure>"
    )


def render_html(cohort: Cohort, *, title: str | None = None, figures: Sequence[ReportFigure] | None = None) -> str:
    """The full report page as one string (header, summary paragraph, tables, numbered figures).

    Pass `figures` (from `build_figures`) to reuse figures already drawn for the plot files.
    """
    report = cohort.report
    heading = title or f"{report.agent} cohort report"
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in header_facts(report))
    figures = build_figures(cohort) if figures is None else figures
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(heading)}</h1>"
        f'<dl class="meta">{meta}</dl>'
        f'<h2>Summary</h2><p class="summary">{escape(summary_paragraph(report))}</p>'
        f'<p class="criteria">{escape(criteria(cohort.profile))}</p>'
        f"<h2>Patients</h2>{_table(*patient_table(report))}"
        f"<h2>Episodes</h2>{_table(*episode_table(report))}"
        '<h2 class="figures">Figures</h2>' + "".join(_figure(item) for item in figures) + "</body></html>\n"
    )


def write_html(cohort: Cohort, path: Path, *, figures: Sequence[ReportFigure] | None = None) -> Path:
    """Write the self-contained report page to `path` (UTF-8) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(cohort, figures=figures), encoding="utf-8")
    return path
