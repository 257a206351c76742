"""A self-contained HTML report: one file that can be mailed or archived and opens without a network.

No external CSS, fonts or scripts; plots are embedded as base64 PNG (inline SVGs from matplotlib reuse
element ids, which collide when several are put in one page). Every value is HTML-escaped because
stream keys and agent names come from hospital feeds.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from html import escape
from pathlib import Path

from engine.reporting.model import Report
from engine.reporting.plots import build_figures
from engine.reporting.text import num, summary_paragraph
from events.base import CANONICAL_SET, Event
from rules import Profile

_CSS = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}
td.n{text-align:right}p.summary{font-size:1.05em;line-height:1.5;background:#f8f8f8;padding:1em}
figure{margin:1em 0}img{max-width:100%}.meta{color:#666;font-size:.85em}
"""


def _cell(value: object) -> str:
    if value is None:
        return "<td>–</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        return f'<td class="n">{escape(num(value, 1))}</td>'
    if isinstance(value, list):
        return f"<td>{escape(', '.join(str(v) for v in value))}</td>"
    return f"<td>{escape(str(value))}</td>"


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    report: Report,
    events: Iterable[Event],
    *,
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    rules_profile: Profile | None = None,
    title: str | None = None,
) -> str:
    """The full report page as one string (summary paragraph, patient and episode tables, plots)."""
    heading = title or f"{report.agent} cohort report"
    as_of = report.as_of.isoformat() if report.as_of else "all data"
    patients = _table(
        [
            "Patient",
            "Sex",
            "Age at D1",
            "ITP type",
            "Disease duration (y)",
            "Prior lines",
            "Applications",
            "Cumulative dose (mg)",
            "AEs",
            "Serious infections",
            "Episodes",
        ],
        [
            [
                r.patient,
                r.sex,
                r.age_at_first_dose,
                r.itp_type,
                r.disease_duration_years,
                r.prior_lines,
                r.applications,
                r.cumulative_dose_mg,
                r.adverse_events,
                r.serious_infections,
                len(r.episodes),
            ]
            for r in report.patients
        ],
    )
    episodes = _table(
        [
            "Patient",
            "Episode",
            "D1",
            "Baseline",
            "Re-exposure",
            "Combination",
            "Best response",
            "Response onset",
            "TTR (days)",
            "TTR (weeks)",
            "Relapse onset",
            "Duration (days)",
            "Ongoing",
            "Sustained remission",
        ],
        [
            [
                r.patient,
                e.index,
                e.start.isoformat(),
                e.baseline,
                e.reexposure,
                e.combination_with,
                e.best_response,
                e.response_onset.isoformat() if e.response_onset else None,
                e.time_to_response_days,
                None if e.time_to_response_days is None else e.time_to_response_days / 7,
                e.relapse_onset.isoformat() if e.relapse_onset else None,
                e.response_duration_days,
                e.ongoing,
                e.sustained_remission,
            ]
            for r in report.patients
            for e in r.episodes
        ],
    )
    figures = []
    for stem, fig in build_figures(report, events, tz=tz, derivation_set=derivation_set, rules_profile=rules_profile):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        figures.append(
            f'<figure><img alt="{escape(stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(stem.replace('_', ' '))}</figcaption></figure>"
        )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(heading)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(heading)}</h1>"
        f'<p class="meta">Agent {escape(report.agent)} · profile {escape(report.profile)} '
        f"{escape(report.profile_version)} · data cut {escape(as_of)}</p>"
        f'<h2>Summary</h2><p class="summary">{escape(summary_paragraph(report))}</p>'
        f"<h2>Patients</h2>{patients}<h2>Episodes</h2>{episodes}"
        f"<h2>Plots</h2>{''.join(figures)}</body></html>\n"
    )


def write_html(
    report: Report,
    events: Iterable[Event],
    path: Path,
    *,
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    rules_profile: Profile | None = None,
) -> Path:
    """Write the self-contained report page to `path` (UTF-8) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(report, events, tz=tz, derivation_set=derivation_set, rules_profile=rules_profile)
    path.write_text(html, encoding="utf-8")
    return path
