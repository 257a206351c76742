"""The three pictures clinicians expect (swimmer plot, Kaplan–Meier of response duration, platelet
timelines), drawn for print: Okabe–Ito colours that stay apart under every colour-vision deficiency,
with hatches and marker shapes so that no state depends on colour alone.

Figures are built on explicit `Figure` objects with the Agg canvas, never through pyplot's global state,
so plotting is safe in a server thread and leaves nothing behind. Episode states come from the report
(the derived events); only raw counts, doses and rescues come from the facts, which carry the same
labels as the report (pseudonyms included). A legend lists only what is drawn on its own plot; titles
are short, and the numbered caption (engine.reporting.captions) carries n, data cut, profile, version and
the threshold definitions, in the document and in each file's metadata.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter
from matplotlib.transforms import blended_transform_factory

from engine.reporting.captions import Caption, first_response, km_caption, platelet_caption, swimmer_caption
from engine.reporting.cohort import Cohort
from engine.reporting.facts import Facts
from engine.reporting.model import MONTH_DAYS, Episode, PatientRow, Report
from engine.reporting.text import num

# Okabe & Ito (2008), "Color Universal Design": distinguishable with protan, deutan and tritan vision.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#BBBBBB"

STATES: dict[str, tuple[str, str, str]] = {
    "assessing": ("#E4E4E4", "", "assessing"),
    "R": (SKY_BLUE, "", "response"),
    "CR": (BLUE, "///", "complete response"),
    "NR": (ORANGE, "xxx", "no response"),
    "relapse": (VERMILLION, "\\\\\\", "after relapse"),
}
"""State -> (fill, hatch, legend label). Fill lightness and hatch differ as well as hue."""

RESCUE_MARKERS = {"ivig": "v", "anti-d": "s", "transfusion": "P", "steroid-pulse": "D", "other": "X"}
RESCUE_LABELS = {
    "ivig": "IVIG (rescue)",
    "anti-d": "anti-D (rescue)",
    "transfusion": "platelet transfusion (rescue)",
    "steroid-pulse": "steroid pulse (rescue)",
    "other": "other rescue",
}
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300
_LOG_TICKS = (1, 2, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000)


@contextmanager
def _style() -> Iterator[None]:
    """Print settings for drawing and saving, scoped so that nothing leaks into other matplotlib users."""
    with matplotlib.rc_context({
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "svg.fonttype": "none",  # SVG text stays text: editable in Illustrator/Inkscape, searchable
        "svg.hashsalt": "itpwatch",  # stable element ids: reruns give identical files
        "pdf.fonttype": 42,  # TrueType, not Type 3: what journal submission systems accept
        "hatch.linewidth": 0.8,
        "hatch.color": "white",
    }):
        yield


@dataclass(frozen=True)
class ReportFigure:
    """A figure with its numbered caption (stem = file name without suffix)."""

    caption: Caption
    figure: Figure
    rendered: dict[tuple[str, int], bytes] = field(default_factory=dict, compare=False, repr=False)
    """Files already rendered, by (format, dpi): the HTML page reuses the PNG written for --plots."""

    @property
    def stem(self) -> str:
        return self.caption.stem


def _dnum(day: date | datetime) -> float:
    """Matplotlib's date number; the typed Axes API wants floats, not dates."""
    return float(mdates.date2num(day))  # type: ignore[no-untyped-call]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _months(start: date, day: date) -> float:
    return (day - start).days / MONTH_DAYS


class _Legend:
    """Legend entries, each added only when its mark is actually drawn; listed in `order`, then as added."""

    def __init__(self, order: Sequence[str] = ()) -> None:
        self._handles: dict[str, Artist] = {}
        self._order = {key: i for i, key in enumerate(order)}

    def add(self, key: str, handle: Artist) -> None:
        self._handles.setdefault(key, handle)

    def handles(self) -> list[Artist]:
        last = len(self._order)
        keys = sorted(self._handles, key=lambda k: self._order.get(k, self._order.get(k.split(" ")[0], last)))
        return [self._handles[k] for k in keys]


_SWIMMER_ORDER = (
    "assessing", "response", "complete response", "no response", "after relapse",
    "onset", "relapse", "nr", "re-exposure", "dose", "combo", "ongoing", "censored",
)


def _marker(marker: str, colour: str, label: str, **kw: Any) -> Line2D:
    return Line2D([], [], marker=marker, color=colour, linestyle="none", label=label, **kw)


def _line(colour: str, label: str, **kw: Any) -> Line2D:
    return Line2D([], [], color=colour, label=label, **kw)


def _nr_day(facts: Facts, patient: str, index: int) -> date | None:
    ep = facts.episodes.get(patient, {}).get(index)
    return ep.non_response.assessed_on if ep is not None and ep.non_response is not None else None


def _follow_up_end(row: PatientRow, facts: Facts, agent: str) -> date:
    """The last day the patient was observed: last eligible count, dose or derived date up to the cut."""
    days: list[date] = [a.on for a in facts.agent_administrations(row.patient, agent)]
    if row.last_follow_up is not None:
        days.append(row.last_follow_up)
    for ep in row.episodes:
        days.extend(d for d in (ep.start, ep.response_onset, ep.relapse_onset) if d is not None)
        days.extend(d for d in [_nr_day(facts, row.patient, ep.index)] if d is not None)
    return max(days)


def _episode_end(row: PatientRow, i: int, end: date) -> date:
    return row.episodes[i + 1].start if i + 1 < len(row.episodes) else end


def _segments(ep: Episode, end: date, nr_day: date | None) -> list[tuple[date, date, str]]:
    """State spans of one episode: assessing -> response (R/CR) -> after relapse; NR from its declaration."""
    end = max(end, ep.start)
    if ep.best_response == "NR":
        declared = min(max(nr_day or ep.start, ep.start), end)
        spans = [(ep.start, declared, "assessing")] if declared > ep.start else []
        return [*spans, (declared, end, "NR")]
    if ep.response_onset is None:
        return [(ep.start, end, "assessing")]
    out = [(ep.start, ep.response_onset, "assessing")] if ep.response_onset > ep.start else []
    stop = ep.relapse_onset or end
    out.append((ep.response_onset, max(stop, ep.response_onset), ep.best_response))
    if ep.relapse_onset is not None and end > ep.relapse_onset:
        out.append((ep.relapse_onset, end, "relapse"))
    return out


def _patient_axis_label(report: Report) -> str:
    return "Patient (pseudonym)" if report.pseudonymized else "Patient (MRN)"


def swimmer_figure(cohort: Cohort, caption: Caption) -> Figure:
    """One lane per patient from the first D1: state bars, dose ticks, onset/relapse/NR/re-exposure marks."""
    report, facts = cohort.report, cohort.facts
    rows = [r for r in report.patients if r.episodes or r.applications]
    ends = {r.patient: _follow_up_end(r, facts, report.agent) for r in rows}
    starts = {
        r.patient: (
            r.episodes[0].start if r.episodes else facts.agent_administrations(r.patient, report.agent)[0].on
        )
        for r in rows
    }
    rows.sort(key=lambda r: (ends[r.patient] - starts[r.patient]).days)
    fig = _figure(7.2, 1.6 + 0.42 * max(len(rows), 1) + 0.9)
    ax = fig.add_subplot()
    legend = _Legend(_SWIMMER_ORDER)
    height = 0.5
    max_x = 1.0
    for lane, row in enumerate(rows):
        d0, end = starts[row.patient], ends[row.patient]
        max_x = max(max_x, _months(d0, end))
        for i, ep in enumerate(row.episodes):
            ep_end = _episode_end(row, i, end)
            nr_day = _nr_day(facts, row.patient, ep.index)
            for a, b, state in _segments(ep, ep_end, nr_day):
                colour, hatch, label = STATES[state]
                ax.broken_barh(
                    [(_months(d0, a), max(_months(d0, b) - _months(d0, a), 0.05))],
                    (lane - height / 2, height),
                    facecolors=colour,
                    edgecolor="white",
                    hatch=hatch,
                    linewidth=0.5,
                )
                legend.add(label, Patch(facecolor=colour, hatch=hatch, edgecolor="white", label=label))
            if ep.reexposure:
                x = _months(d0, ep.start)
                ax.plot(x, lane, marker="D", color=PURPLE, mec=BLACK, mew=0.6, ms=6, zorder=4)
                text = "re-exposure" + (f" + {', '.join(ep.combination_with)}" if ep.combination_with else "")
                ax.annotate(text, (x, lane + height / 2), xytext=(0, 7), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7)
                legend.add("re-exposure", _marker("D", PURPLE, "re-exposure (new episode)", mec=BLACK, mew=0.6))
            if ep.response_onset is not None:
                ax.plot(_months(d0, ep.response_onset), lane, marker="o", color=BLACK, mec="white", ms=5, zorder=4)
                legend.add("onset", _marker("o", BLACK, "response onset", mec="white"))
            if ep.relapse_onset is not None:
                ax.plot(_months(d0, ep.relapse_onset), lane, marker="X", color=BLACK, mec="white", ms=7, zorder=4)
                legend.add("relapse", _marker("X", BLACK, "relapse onset", mec="white"))
            if ep.best_response == "NR" and nr_day is not None:
                ax.plot(_months(d0, nr_day), lane, marker="s", color=ORANGE, mec=BLACK, mew=0.8, ms=5, zorder=4)
                legend.add("nr", _marker("s", ORANGE, "non-response declared", mec=BLACK, mew=0.8))
        doses = [_months(d0, a.on) for a in facts.agent_administrations(row.patient, report.agent)]
        ax.plot(doses, [lane - 0.36] * len(doses), linestyle="none", marker="|", color=BLACK, ms=4, mew=0.8)
        legend.add("dose", _marker("|", BLACK, f"{report.agent} dose", ms=4, mew=0.8))
        combos = sorted({name for ep in row.episodes for name in ep.combination_with})
        for agent in combos:
            days = [_months(d0, a.on) for a in facts.agent_administrations(row.patient, agent)]
            ax.plot(days, [lane + 0.36] * len(days), linestyle="none", marker="|", color=PURPLE, ms=4, mew=1.0)
            legend.add(f"combo {agent}", _marker("|", PURPLE, f"{agent} dose (combination)", ms=4, mew=1.0))
        last = row.episodes[-1] if row.episodes else None
        x_end = _months(d0, end)
        if last is not None and last.response_status == "ongoing":
            ax.annotate("", xy=(x_end + 0.06 * max_x + 1.2, lane), xytext=(x_end + 0.2, lane),
                        arrowprops={"arrowstyle": "-|>", "color": BLACK, "lw": 1.4})
            legend.add("ongoing", Line2D([], [], color=BLACK, marker=">", lw=1.4, label="response ongoing at data cut"))
        elif last is not None and last.response_status == "censored":
            ax.plot(x_end, lane, marker="|", color=BLACK, ms=13, mew=2.2, zorder=5)
            legend.add("censored", _marker("|", BLACK, "censored at last follow-up", ms=10, mew=2.2))
    ax.set_yticks(range(len(rows)), [r.patient for r in rows])
    ax.set_ylim(-0.8, len(rows) - 0.2 if rows else 0.8)
    ax.set_xlim(-0.5, max_x * 1.08 + 2)
    ax.set_xlabel(f"Months since first {report.agent} dose (D1)")
    ax.set_ylabel(_patient_axis_label(report))
    ax.set_title(caption.title)
    ax.grid(axis="x", color="#EEEEEE")
    ax.set_axisbelow(True)
    fig.legend(handles=legend.handles(), loc="outside lower center", ncols=3, fontsize=7, frameon=False)
    return fig


def km_figure(cohort: Cohort, caption: Caption) -> Figure:
    """Kaplan–Meier of the first response of each responder: event = relapse, else censored at last count."""
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    report = cohort.report
    firsts = [e for e in (first_response(row) for row in report.patients) if e is not None]
    firsts = [e for e in firsts if e.response_duration_days is not None]
    fig = _figure(7.2, 5.0)
    ax = fig.add_subplot()
    ax.set_title(caption.title)
    if not firsts:
        ax.text(0.5, 0.5, "no responders", ha="center", va="center", transform=ax.transAxes)
        return fig
    durations = [(e.response_duration_days or 0) / MONTH_DAYS for e in firsts]
    observed = [e.response_status == "relapsed" for e in firsts]
    kmf = KaplanMeierFitter(label="Responders")
    kmf.fit(durations, event_observed=observed)
    kmf.plot_survival_function(ax=ax, show_censors=False, ci_show=True, color=BLUE, legend=False)
    handles: list[Artist] = [
        _line(BLUE, "Kaplan–Meier estimate (step = relapse)", lw=1.5),
        Patch(facecolor=BLUE, alpha=0.25, label="95 % confidence band"),
    ]
    marks = (("ongoing", ">", "censored: response ongoing at data cut"),
             ("censored", "|", "censored at last follow-up"))
    for status, marker, label in marks:
        times = [d for d, e in zip(durations, firsts, strict=True) if e.response_status == status]
        if times:
            at = [float(v) for v in kmf.survival_function_at_times(times).to_numpy()]
            ax.plot(times, at, linestyle="none", marker=marker, color=BLACK, ms=7, mew=1.6, zorder=4)
            handles.append(_marker(marker, BLACK, label, ms=7, mew=1.6))
    ax.set_xlabel("Months since response onset")
    ax.set_ylabel("Probability of remaining in response")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, max(durations) * 1.05 + 1)
    median = kmf.median_survival_time_
    note = "median not reached" if median == float("inf") else f"median {num(median)} months"
    ax.text(0.98, 0.04, note, ha="right", va="bottom", transform=ax.transAxes, fontsize=8)
    ax.grid(color="#EEEEEE")
    ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9, edgecolor="none")
    add_at_risk_counts(kmf, ax=ax, fig=fig, rows_to_show=["At risk", "Events", "Censored"])
    return fig


def platelet_figure(cohort: Cohort, row: PatientRow, caption: Caption) -> Figure:
    """One patient's counts on a log axis with the profile's thresholds, baselines, doses and rescues."""
    report, facts, profile = cohort.report, cohort.facts, cohort.profile
    fig = _figure(7.2, 3.6)
    ax = fig.add_subplot()
    legend = _Legend()
    counts = facts.counts.get(row.patient, [])
    eligible = [c for c in counts if c.eligible]
    blocked = [c for c in counts if not c.eligible]
    if eligible:
        ax.plot([_dnum(c.at) for c in eligible], [max(c.value, 1.0) for c in eligible], marker="o", ms=3,
                color=BLACK, lw=0.9)
        legend.add("eligible", _line(BLACK, "eligible count", marker="o", ms=3, lw=0.9))
    if blocked:
        ax.plot([_dnum(c.at) for c in blocked], [max(c.value, 1.0) for c in blocked], linestyle="none",
                marker="o", ms=4, mfc="white", color=BLACK, mew=0.8)
        legend.add("blocked", _marker("o", BLACK, "count in rescue window (not eligible)", mfc="white", mew=0.8))
    ax.set_yscale("log")
    top = max([c.value for c in counts] + [150.0]) * 1.6
    bottom = max(1.0, min([c.value for c in counts] + [10.0]) / 1.6)
    ax.set_ylim(bottom, top)
    thresholds = profile.response
    lines: list[tuple[float, str, Any, str]] = [
        (thresholds.response, GREEN, (0, (8, 3)), f"response threshold ({num(thresholds.response)})"),
        (thresholds.complete, BLUE, (0, (6, 2, 1, 2)), f"complete response threshold ({num(thresholds.complete)})"),
    ]
    if thresholds.relapse_below != thresholds.response:
        lines.append((thresholds.relapse_below, VERMILLION, (0, (1, 1.5)),
                      f"relapse below ({num(thresholds.relapse_below)})"))
    for value, colour, dash, label in lines:
        ax.axhline(value, color=colour, linestyle=dash, lw=1.0)
        legend.add(label, _line(colour, label, linestyle=dash, lw=1.0))
    strip = blended_transform_factory(ax.transData, ax.transAxes)
    doses = facts.agent_administrations(row.patient, report.agent)
    ax.plot([_dnum(a.at) for a in doses], [0.03] * len(doses), transform=strip, linestyle="none", marker="|",
            ms=9, color=BLACK)
    legend.add("dose", _marker("|", BLACK, f"{report.agent} dose", ms=9))
    for agent in sorted({name for ep in row.episodes for name in ep.combination_with}):
        given = facts.agent_administrations(row.patient, agent)
        ax.plot([_dnum(a.at) for a in given], [0.09] * len(given), transform=strip, linestyle="none",
                marker="|", ms=7, color=PURPLE, mew=1.2)
        legend.add(f"combo {agent}", _marker("|", PURPLE, f"{agent} dose (combination)", ms=7, mew=1.2))
    for kind, marker in RESCUE_MARKERS.items():
        days = [r.on for r in facts.rescues.get(row.patient, []) if r.kind == kind]
        if days:
            ax.plot([_dnum(d) for d in days], [0.93] * len(days), transform=strip, linestyle="none",
                    marker=marker, ms=6, color=ORANGE, mec=BLACK, mew=0.6)
            legend.add(kind, _marker(marker, ORANGE, RESCUE_LABELS[kind], mec=BLACK, mew=0.6))
    last_day = max([c.on for c in counts] + [a.on for a in doses])
    for i, ep in enumerate(row.episodes):
        span_end = _episode_end(row, i, max(last_day, ep.start + timedelta(days=28)))
        if ep.baseline is not None:
            x0, x1 = _dnum(ep.start - timedelta(days=14)), _dnum(span_end)
            ax.hlines(max(ep.baseline, 1.0), x0, x1, colors="#666666", linestyles=(0, (1, 2)), lw=1.2)
            legend.add("baseline", _line("#666666", "episode baseline", linestyle=(0, (1, 2)), lw=1.2))
            if thresholds.doubling_of_baseline:
                ax.hlines(max(2 * ep.baseline, 1.0), x0, x1, colors=GREEN, linestyles=(0, (1, 2)), lw=1.2)
                legend.add("double", _line(GREEN, "2 × baseline", linestyle=(0, (1, 2)), lw=1.2))
        if ep.reexposure:
            ax.axvline(_dnum(ep.start), color=PURPLE, lw=1.6)
            label = "re-exposure D1" + (f" (+ {', '.join(ep.combination_with)})" if ep.combination_with else "")
            legend.add(label, _line(PURPLE, label, lw=1.6))
        else:
            ax.axvline(_dnum(ep.start), color=BLACK, lw=0.8)
            legend.add("d1", _line(BLACK, "episode start (D1)", lw=0.8))
        if ep.response_onset is not None:
            ax.axvline(_dnum(ep.response_onset), color=GREEN, lw=1.3)
            legend.add("onset", _line(GREEN, "response onset", lw=1.3))
        if ep.relapse_onset is not None:
            ax.axvline(_dnum(ep.relapse_onset), color=VERMILLION, lw=1.6, linestyle=(0, (1, 1)))
            legend.add("relapse", _line(VERMILLION, "relapse onset", lw=1.6, linestyle=(0, (1, 1))))
        nr_day = _nr_day(facts, row.patient, ep.index)
        if ep.best_response == "NR" and nr_day is not None:
            ax.axvline(_dnum(nr_day), color=ORANGE, lw=1.6, linestyle=(0, (4, 1, 1, 1)))
            legend.add("nr", _line(ORANGE, "non-response declared", lw=1.6, linestyle=(0, (4, 1, 1, 1))))
    last = row.episodes[-1] if row.episodes else None
    if last is not None and last.response_status in ("ongoing", "censored") and report.data_cut is not None:
        cut = report.data_cut.date()
        window = report.follow_up_window_days or 0
        ax.axvspan(_dnum(cut - timedelta(days=window)), _dnum(cut), color="#EEEEEE", lw=0, zorder=0)
        legend.add("window", Patch(facecolor="#EEEEEE", label=f"{window} days before the data cut"))
        ax.axvline(_dnum(cut), color=BLACK, lw=1.0, linestyle=(0, (6, 2, 1, 2, 1, 2)))
        label = "data cut (response ongoing)" if last.response_status == "ongoing" else "data cut (response censored)"
        legend.add("cut", _line(BLACK, label, lw=1.0, linestyle=(0, (6, 2, 1, 2, 1, 2))))
    _date_axis(ax)
    ax.set_yticks([t for t in _LOG_TICKS if bottom <= t <= top])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("Platelets (× 10⁹/L, log scale)")
    ax.set_title(caption.title)
    ax.grid(axis="y", which="major", color="#EEEEEE")
    ax.legend(handles=legend.handles(), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6.5,
              frameon=False)
    return fig


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key) or "patient"


def captions(cohort: Cohort) -> list[Caption]:
    """The numbered captions of every figure, in document order (no drawing)."""
    report = cohort.report
    out = [swimmer_caption(report, cohort.profile, 1), km_caption(report, 2)]
    for i, row in enumerate(report.patients, start=3):
        out.append(platelet_caption(report, cohort.profile, row, f"platelets_{safe_name(row.patient)}", i))
    return out


def build_figures(cohort: Cohort) -> list[ReportFigure]:
    """Swimmer plot, Kaplan–Meier curve and one timeline per patient, each with its numbered caption."""
    built: list[ReportFigure] = []
    rows = {f"platelets_{safe_name(r.patient)}": r for r in cohort.report.patients}
    with _style():
        for caption in captions(cohort):
            if caption.stem == "swimmer":
                fig = swimmer_figure(cohort, caption)
            elif caption.stem == "km_response_duration":
                fig = km_figure(cohort, caption)
            else:
                fig = platelet_figure(cohort, rows[caption.stem], caption)
            built.append(ReportFigure(caption, fig))
    return built


def _metadata(fmt: str, caption: Caption) -> dict[str, str | None]:
    """Title and caption in the file itself; no creation date, so reruns give identical files."""
    if fmt == "png":
        return {"Title": caption.title, "Description": caption.full(), "Software": "itpwatch"}
    if fmt == "pdf":
        return {"Title": caption.title, "Subject": caption.full(), "Creator": "itpwatch", "CreationDate": None}
    if fmt == "svg":
        return {"Title": caption.title, "Description": caption.full(), "Creator": "itpwatch", "Date": None}
    return {}


def figure_bytes(item: ReportFigure, fmt: str, *, dpi: int = PNG_DPI) -> bytes:
    """One figure in one format, with its metadata (for embedding in HTML or Word); rendered once."""
    if (fmt, dpi) not in item.rendered:
        buf = io.BytesIO()
        with _style():
            item.figure.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(fmt, item.caption))
        item.rendered[(fmt, dpi)] = buf.getvalue()
    return item.rendered[(fmt, dpi)]


def save_figure(item: ReportFigure, out_dir: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the figure in each format (PNG at 300 dpi, PDF with TrueType text, SVG with real text)."""
    out: list[Path] = []
    for fmt in formats:
        path = out_dir / f"{item.stem}.{fmt}"
        path.write_bytes(figure_bytes(item, fmt))
        out.append(path)
    return out


def write_plots(cohort: Cohort, out_dir: Path, formats: Sequence[str] = FORMATS, *,
                figures: Sequence[ReportFigure] | None = None) -> list[Path]:
    """Every figure in every format, plus captions.txt (the numbered captions); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    figures = build_figures(cohort) if figures is None else figures
    for item in figures:
        paths.extend(save_figure(item, out_dir, formats))
    captions_file = out_dir / "captions.txt"
    captions_file.write_text(
        "".join(f"{item.caption.full()}\n  files: {item.stem}.{{{','.join(formats)}}}\n\n" for item in figures),
        encoding="utf-8",
    )
    paths.append(captions_file)
    return paths
