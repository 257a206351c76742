"""The patient's platelet chart as SVG geometry: counts on a log axis, doses per agent, rescue windows,
the active profile's thresholds and the episode marks (D1, response, CR, relapse, re-exposure, ...).

Drawn on the server so that the page needs no charting library and shows the chart without JavaScript;
app.js only adds the hover/keyboard read-out of each point. Shapes and dash patterns, not colour alone,
tell the series apart (Okabe-Ito colours, safe for red-green colour blindness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 980, 420
LEFT, RIGHT_PAD, TOP = 64, 150, 44
DOSE_ROW = 18
AXIS_SPACE = 34
Y_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
AGENT_COLOURS = ("#0072B2", "#CC79A7", "#E69F00", "#009E73", "#56B4E9", "#D55E00")
MARK_STYLE = {
    "d1": ("#444444", "2 0"),
    "reexposure": ("#CC79A7", "6 3"),
    "response": ("#009E73", "2 0"),
    "complete": ("#009E73", "8 3 2 3"),
    "complete-lost": ("#E69F00", "8 3 2 3"),
    "relapse": ("#D55E00", "6 3"),
    "sustained": ("#0072B2", "2 3"),
    "non-response": ("#666666", "2 3"),
}
THRESHOLD_DASH = {"response": "6 4", "complete": "2 4", "relapse": "10 3 2 3"}


@dataclass(frozen=True)
class CountIn:
    at: datetime
    value: float
    censored: str | None
    eligible: bool
    tip: str


@dataclass(frozen=True)
class DoseIn:
    at: datetime
    agent: str
    tip: str


@dataclass(frozen=True)
class MarkIn:
    on: date
    kind: str
    label: str
    tip: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    eligible: bool
    tip: str
    label: str


@dataclass(frozen=True)
class Dose:
    x: float
    y: float
    colour: str
    tip: str


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    tip: str


@dataclass(frozen=True)
class HLine:
    y: float
    label: str
    dash: str


@dataclass(frozen=True)
class Mark:
    x: float
    label: str
    label_y: float
    colour: str
    dash: str
    tip: str


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = WIDTH - RIGHT_PAD
    top: float = TOP
    bottom: float = HEIGHT - AXIS_SPACE
    points: list[Point] = field(default_factory=list)
    line: str = ""
    doses: list[Dose] = field(default_factory=list)
    dose_rows: list[tuple[str, float, str]] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    thresholds: list[HLine] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    empty: bool = True


def build_chart(counts: list[CountIn], doses: list[DoseIn], rescues: list[tuple[date, str]], rescue_days: int,
                thresholds: list[tuple[str, float, str]], marks: list[MarkIn], tz: ZoneInfo) -> Chart:
    """thresholds: (kind, value, label) with kind response/complete/relapse; rescues: (day, kind)."""
    agents = list(dict.fromkeys(d.agent for d in doses))
    chart = Chart()
    chart.bottom = HEIGHT - AXIS_SPACE - DOSE_ROW * len(agents)
    times = [c.at for c in counts] + [d.at for d in doses] + [_noon(m.on, tz) for m in marks]
    if not times:
        return chart
    chart.empty = False
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 86400.0 * 14)
    pad = timedelta(seconds=span * 0.03)
    t0, t1 = start - pad, end + pad

    def x_of(ts: datetime) -> float:
        return chart.left + (ts - t0).total_seconds() / (t1 - t0).total_seconds() * (chart.right - chart.left)

    top_value = max([c.value for c in counts] + [v for _, v, _ in thresholds] + [150.0]) * 1.4
    low_value = max(1.0, min([c.value for c in counts] + [10.0]) / 1.6)
    y_lo, y_hi = math.log10(low_value), math.log10(top_value)

    def y_of(value: float) -> float:
        v = math.log10(max(value, low_value))
        return chart.bottom - (v - y_lo) / (y_hi - y_lo) * (chart.bottom - chart.top)

    chart.y_ticks = [Tick(y_of(t), f"{t:g}") for t in Y_TICKS if low_value <= t <= top_value]
    chart.x_ticks = _time_ticks(t0, t1, tz, x_of)
    for day, kind in rescues:
        x0 = x_of(_midnight(day, tz))
        x1 = x_of(_midnight(day + timedelta(days=rescue_days), tz))
        chart.bands.append(Band(x0, max(x1 - x0, 1.0), f"{kind} on {day.isoformat()}: counts of the next "
                                                        f"{rescue_days} days are not used for response"))
    for kind, value, label in thresholds:
        chart.thresholds.append(HLine(y_of(value), label, THRESHOLD_DASH.get(kind, "4 4")))
    ordered = sorted(counts, key=lambda c: c.at)
    for c in ordered:
        chart.points.append(Point(x_of(c.at), y_of(c.value), c.eligible, c.tip, f"{c.censored or ''}{c.value:g}"))
    eligible = [p for p in chart.points if p.eligible]
    chart.line = " ".join(f"{p.x:.1f},{p.y:.1f}" for p in eligible)
    for i, agent in enumerate(agents):
        colour = AGENT_COLOURS[i % len(AGENT_COLOURS)]
        row_y = chart.bottom + 12 + DOSE_ROW * i
        chart.dose_rows.append((agent, row_y, colour))
        chart.doses += [Dose(x_of(d.at), row_y, colour, d.tip) for d in doses if d.agent == agent]
    last_x: list[float] = []
    for m in sorted(marks, key=lambda m: m.on):
        x = x_of(_noon(m.on, tz))
        level = 0
        while level < len(last_x) and x - last_x[level] < 70:
            level += 1
        if level == len(last_x):
            last_x.append(x)
        else:
            last_x[level] = x
        colour, dash = MARK_STYLE.get(m.kind, ("#444444", "2 2"))
        chart.marks.append(Mark(x, m.label, chart.top - 8 - 13 * (level % 3), colour, dash, m.tip))
    return chart


def _noon(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(12), tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _time_ticks(t0: datetime, t1: datetime, tz: ZoneInfo, x_of: object) -> list[Tick]:
    """Month starts, every 1, 3 or 12 months depending on the span; labelled 'Mar 2021' or '2021'."""
    span_days = (t1 - t0).days
    step = 1 if span_days <= 240 else 3 if span_days <= 3 * 365 else 12
    local = t0.astimezone(tz)
    year, month = local.year, local.month
    ticks: list[Tick] = []
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (month - 1) % step:
            continue
        at = datetime(year, month, 1, tzinfo=tz)
        if at.astimezone(UTC) > t1:
            break
        label = str(year) if step == 12 else at.strftime("%b %Y")
        ticks.append(Tick(x_of(at), label))  # type: ignore[operator]
    return ticks
