"""The three pictures clinicians expect (docs/clinical-decisions.md, "What clinicians read"): swimmer plot,
Kaplan–Meier of response duration, platelet timelines.

Figures are built on explicit `Figure` objects with the Agg canvas, never through pyplot's global state,
so plotting is safe in a server thread and leaves nothing behind. Episode states come from the report
(the derived events); only raw counts, doses and rescues come from the events. The only patient label
ever drawn is the stream key, the pseudonymous MRN of the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter
from matplotlib.transforms import blended_transform_factory

from engine.reporting.facts import Facts, collect_facts
from engine.reporting.model import MONTH_DAYS, Episode, PatientRow, Report
from events.base import CANONICAL_SET, Event
from rules import Profile

COLOURS = {
    "assessing": "#c9c9c9",
    "R": "#5aae61",
    "CR": "#1b7837",
    "NR": "#f4a582",
    "relapse": "#d6604d",
    "dose": "#404040",
    "reexposure": "#762a83",
}
RESCUE_MARKERS = {"ivig": "v", "anti-d": "s", "transfusion": "P", "steroid-pulse": "D", "other": "X"}
RESCUE_LABELS = {
    "ivig": "IVIG",
    "anti-d": "anti-D",
    "transfusion": "platelet transfusion",
    "steroid-pulse": "steroid pulse",
    "other": "other rescue",
}
THRESHOLDS = ((30.0, "#e08214", "30"), (50.0, "#1b7837", "50"), (100.0, "#2166ac", "100"))
_SVG_METADATA: dict[str, str | None] = {"Date": None}
_PNG_DPI = 120
_LOG_TICKS = (1, 2, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000)


def _dnum(day: date | datetime) -> float:
    """Matplotlib's date number; the typed Axes API wants floats, not dates."""
    return float(mdates.date2num(day))  # type: ignore[no-untyped-call]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _months(start: date, day: date) -> float:
    return (day - start).days / MONTH_DAYS


def _follow_up_end(row: PatientRow, facts: Facts, agent: str) -> date:
    """The last day the patient was observed: last eligible count, dose or derived date up to the cut."""
    days: list[date] = [a.on for a in facts.agent_administrations(row.patient, agent)]
    last = facts.last_eligible_count(row.patient)
    if last is not None:
        days.append(last)
    for ep in row.episodes:
        days.extend(d for d in (ep.start, ep.response_onset, ep.relapse_onset) if d is not None)
    return max(days)


def _episode_end(row: PatientRow, i: int, end: date) -> date:
    return row.episodes[i + 1].start if i + 1 < len(row.episodes) else end


def swimmer_figure(report: Report, facts: Facts) -> Figure:
    """One lane per patient from the first D1: state bars, dose ticks, onset/relapse/re-exposure markers."""
    rows = [r for r in report.patients if r.episodes or r.applications]
    ends = {r.patient: _follow_up_end(r, facts, report.agent) for r in rows}
    starts = {
        r.patient: (
            r.episodes[0].start if r.episodes else facts.agent_administrations(r.patient, report.agent)[0].on
        )
        for r in rows
    }
    rows.sort(key=lambda r: (ends[r.patient] - starts[r.patient]).days)
    fig = _figure(11, 1.0 + 0.55 * max(len(rows), 1) + 1.2)
    ax = fig.add_subplot()
    height = 0.5
    max_x = 1.0
    for lane, row in enumerate(rows):
        d0, end = starts[row.patient], ends[row.patient]
        max_x = max(max_x, _months(d0, end))
        for i, ep in enumerate(row.episodes):
            ep_end = _episode_end(row, i, end)
            for a, b, state in _segments(ep, ep_end):
                ax.broken_barh(
                    [(_months(d0, a), max(_months(d0, b) - _months(d0, a), 0.05))],
                    (lane - height / 2, height),
                    facecolors=COLOURS[state],
                    edgecolor="white",
                    linewidth=0.5,
                )
            if ep.reexposure:
                ax.plot(_months(d0, ep.start), lane + 0.42, marker="v", color=COLOURS["reexposure"], ms=8)
                if ep.combination_with:
                    ax.annotate(
                        "+ " + ", ".join(ep.combination_with),
                        (_months(d0, ep.start), lane + 0.42),
                        xytext=(6, 0),
                        textcoords="offset points",
                        va="center",
                        fontsize=8,
                        color=COLOURS["reexposure"],
                    )
            if ep.response_onset is not None:
                ax.plot(_months(d0, ep.response_onset), lane, marker="o", color="black", ms=5, zorder=3)
            if ep.relapse_onset is not None:
                ax.plot(_months(d0, ep.relapse_onset), lane, marker="X", color="#67001f", ms=8, zorder=3)
        doses = [_months(d0, a.on) for a in facts.agent_administrations(row.patient, report.agent)]
        ax.plot(doses, [lane - 0.36] * len(doses), linestyle="none", marker="|", color=COLOURS["dose"], ms=6)
        if row.episodes and row.episodes[-1].ongoing:
            x_end = _months(d0, end)
            ax.annotate(
                "",
                xy=(x_end + 1.8, lane),
                xytext=(x_end + 0.2, lane),
                arrowprops={"arrowstyle": "-|>", "color": COLOURS[row.episodes[-1].best_response], "lw": 2},
            )
    ax.set_yticks(range(len(rows)), [r.patient for r in rows])
    ax.set_ylim(-0.8, len(rows) - 0.2 if rows else 0.8)
    ax.set_xlim(-0.5, max_x + 3)
    ax.set_xlabel(f"Months since first {report.agent} dose (D1)")
    ax.set_ylabel("Patient (stream key)")
    ax.set_title(f"Swimmer plot — {report.agent}, profile {report.profile} {report.profile_version}")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    handles = [
        Patch(color=COLOURS["assessing"], label="assessing"),
        Patch(color=COLOURS["R"], label="response"),
        Patch(color=COLOURS["CR"], label="complete response"),
        Patch(color=COLOURS["NR"], label="no response"),
        Patch(color=COLOURS["relapse"], label="after relapse"),
        Line2D([], [], marker="o", color="black", linestyle="none", label="response onset"),
        Line2D([], [], marker="X", color="#67001f", linestyle="none", label="relapse"),
        Line2D([], [], marker="v", color=COLOURS["reexposure"], linestyle="none", label="re-exposure"),
        Line2D([], [], marker="|", color=COLOURS["dose"], linestyle="none", label=f"{report.agent} dose"),
        Line2D([], [], marker=">", color=COLOURS["R"], linestyle="-", label="ongoing response"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize=8, frameon=False)
    return fig


def _segments(ep: Episode, end: date) -> list[tuple[date, date, str]]:
    """Coloured spans of one episode: assessing → response (R/CR) → after relapse; NR as one span."""
    end = max(end, ep.start)
    if ep.best_response == "NR":
        return [(ep.start, end, "NR")]
    if ep.response_onset is None:
        return [(ep.start, end, "assessing")]
    out = [(ep.start, ep.response_onset, "assessing")] if ep.response_onset > ep.start else []
    stop = ep.relapse_onset or end
    out.append((ep.response_onset, max(stop, ep.response_onset), ep.best_response))
    if ep.relapse_onset is not None and end > ep.relapse_onset:
        out.append((ep.relapse_onset, end, "relapse"))
    return out


def km_figure(report: Report) -> Figure:
    """Kaplan–Meier of the first response of each responder: event = relapse, else censored at last count."""
    durations: list[float] = []
    observed: list[bool] = []
    for row in report.patients:
        first = next((e for e in row.episodes if e.response_onset is not None), None)
        if first is None or first.response_duration_days is None:
            continue
        durations.append(first.response_duration_days / MONTH_DAYS)
        observed.append(first.relapse_onset is not None)
    fig = _figure(8, 5.5)
    ax = fig.add_subplot()
    ax.set_title(f"Duration of response — {report.agent} (Kaplan–Meier, n = {len(durations)})")
    ax.set_xlabel("Months since response onset")
    ax.set_ylabel("Probability of remaining in response")
    if not durations:
        ax.text(0.5, 0.5, "no responders", ha="center", va="center", transform=ax.transAxes)
        return fig
    kmf = KaplanMeierFitter(label="response duration")
    kmf.fit(durations, event_observed=observed)
    kmf.plot_survival_function(ax=ax, show_censors=True, ci_show=True, censor_styles={"ms": 8, "marker": "|"})
    ax.set_xlabel("Months since response onset (tick = censored at last eligible count)")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, max(durations) * 1.05 + 1)
    median = kmf.median_survival_time_
    note = "median not reached" if median == float("inf") else f"median {median:.1f} months"
    ax.text(0.98, 0.95, note, ha="right", va="top", transform=ax.transAxes, fontsize=9)
    ax.grid(color="#eeeeee")
    add_at_risk_counts(kmf, ax=ax, fig=fig, rows_to_show=["At risk", "Events", "Censored"])
    return fig


def platelet_figure(report: Report, facts: Facts, row: PatientRow) -> Figure:
    """One patient's counts on a log axis with the 30/50/100 lines, baselines, doses and rescues."""
    fig = _figure(11, 4.5)
    ax = fig.add_subplot()
    counts = facts.counts.get(row.patient, [])
    eligible = [c for c in counts if c.eligible]
    blocked = [c for c in counts if not c.eligible]
    if eligible:
        ax.plot(
            [_dnum(c.at) for c in eligible],
            [max(c.value, 1.0) for c in eligible],
            marker="o",
            ms=3,
            color="#2d004b",
            lw=1,
            label="eligible count",
        )
    if blocked:
        ax.plot(
            [_dnum(c.at) for c in blocked],
            [max(c.value, 1.0) for c in blocked],
            linestyle="none",
            marker="o",
            ms=4,
            mfc="none",
            color="#8073ac",
            label="count in rescue window",
        )
    ax.set_yscale("log")
    top = max([c.value for c in counts] + [150.0]) * 1.6
    bottom = max(1.0, min([c.value for c in counts] + [10.0]) / 1.6)
    ax.set_ylim(bottom, top)
    for value, colour, label in THRESHOLDS:
        ax.axhline(value, color=colour, linestyle="--", lw=0.9)
        ax.annotate(
            label,
            (1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=colour,
        )
    bottom_strip = blended_transform_factory(ax.transData, ax.transAxes)
    doses = facts.agent_administrations(row.patient, report.agent)
    ax.plot(
        [_dnum(a.at) for a in doses],
        [0.03] * len(doses),
        transform=bottom_strip,
        linestyle="none",
        marker="|",
        ms=10,
        color=COLOURS["dose"],
        label=f"{report.agent} dose",
    )
    combo = sorted({name for ep in row.episodes for name in ep.combination_with})
    others = [a for a in facts.administrations.get(row.patient, []) if a.agent in combo]
    if others:
        ax.plot(
            [_dnum(a.at) for a in others],
            [0.09] * len(others),
            transform=bottom_strip,
            linestyle="none",
            marker="|",
            ms=8,
            color=COLOURS["reexposure"],
            label=", ".join(combo) + " dose",
        )
    for kind in RESCUE_MARKERS:
        days = [r.on for r in facts.rescues.get(row.patient, []) if r.kind == kind]
        if days:
            ax.plot(
                [_dnum(d) for d in days],
                [0.93] * len(days),
                transform=bottom_strip,
                linestyle="none",
                marker=RESCUE_MARKERS[kind],
                ms=7,
                color="#b2182b",
                label=RESCUE_LABELS[kind],
            )
    for i, ep in enumerate(row.episodes):
        span_end = _episode_end(row, i, ep.start + timedelta(days=1))
        if ep.baseline is not None:
            ax.hlines(
                max(ep.baseline, 1.0),
                _dnum(ep.start - timedelta(days=14)),
                _dnum(max(span_end, ep.start + timedelta(days=28))),
                colors="#878787",
                linestyles=":",
                lw=1.2,
                label="baseline" if i == 0 else "_nolegend_",
            )
        ax.axvline(
            _dnum(ep.start), color=COLOURS["reexposure"] if ep.reexposure else "#4d4d4d", lw=0.8, alpha=0.6
        )
        if ep.response_onset is not None:
            ax.axvline(_dnum(ep.response_onset), color=COLOURS["R"], lw=1.2, alpha=0.8)
        if ep.relapse_onset is not None:
            ax.axvline(_dnum(ep.relapse_onset), color=COLOURS["relapse"], lw=1.2, alpha=0.8)
    ax.set_yticks([t for t in _LOG_TICKS if bottom <= t <= top])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_ylabel("Platelets (×10⁹/L, log scale)")
    ax.set_title(f"{row.patient} — platelet counts under {report.agent}")
    ax.grid(axis="y", which="major", color="#eeeeee")
    handles, _labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="#4d4d4d", lw=0.8, label="episode D1"),
        Line2D([], [], color=COLOURS["R"], lw=1.2, label="response onset"),
        Line2D([], [], color=COLOURS["relapse"], lw=1.2, label="relapse onset"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1.0), fontsize=8, frameon=False)
    return fig


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key) or "patient"


def build_figures(
    report: Report,
    events: Iterable[Event],
    *,
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    rules_profile: Profile | None = None,
) -> list[tuple[str, Figure]]:
    """(file stem, figure) for the swimmer plot, the KM curve and one timeline per patient."""
    facts = collect_facts(
        events,
        agent=report.agent,
        profile=report.profile,
        as_of=report.as_of,
        tz=tz,
        derivation_set=derivation_set,
        rules_profile=rules_profile,
    )
    figures: list[tuple[str, Figure]] = [
        ("swimmer", swimmer_figure(report, facts)),
        ("km_response_duration", km_figure(report)),
    ]
    for row in report.patients:
        figures.append((f"platelets_{_safe_name(row.patient)}", platelet_figure(report, facts, row)))
    return figures


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write the figure in each format; SVG without a date so that reruns give identical files."""
    out: list[Path] = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "svg":
            with matplotlib.rc_context({"svg.hashsalt": "itpwatch"}):
                fig.savefig(path, format="svg", metadata=_SVG_METADATA)
        else:
            fig.savefig(path, format=fmt, dpi=_PNG_DPI)
        out.append(path)
    return out


def write_plots(
    report: Report,
    events: Iterable[Event],
    out_dir: Path,
    *,
    tz: str = "Europe/Berlin",
    derivation_set: str = CANONICAL_SET,
    rules_profile: Profile | None = None,
) -> list[Path]:
    """Write PNG and SVG of every figure into `out_dir` (created if missing); returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for stem, fig in build_figures(report, events, tz=tz, derivation_set=derivation_set, rules_profile=rules_profile):
        paths.extend(save_figure(fig, out_dir / stem))
    return paths
