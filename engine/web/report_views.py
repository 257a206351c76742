"""The cohort report page: a report of an agent under a chosen profile and data cut, its plots, downloads,
and the IWG 2009 comparison. Built by engine.cohort_report / engine.reporting / engine.whatif: this module
only chooses, caches and serialises.

A report of the whole log takes seconds (an in-memory derivation for another profile, matplotlib for the
plots), so results are kept per (log head, agent, profile, cut): a new event makes the next request
rebuild, and the plot images of a page reuse the report the page was built from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from engine.app import App
from engine.cohort_report import cohort_under
from rules.profile import BUILTIN_PROFILES

CACHE_SIZE = 8
SCREEN_DPI = 96
"""The report files are 300 dpi for print; the page shows them at screen resolution."""


@dataclass(frozen=True)
class ReportKey:
    head: int
    agent: str
    profile: str
    as_of: date | None


@dataclass
class ReportRun:
    key: ReportKey
    cohort: Any
    """engine.reporting.Cohort: the report with the facts and profile its figures are drawn from."""
    figures: dict[str, Any] | None = None
    """File stem -> ReportFigure, drawn on the first plot request; PNGs rendered one by one."""

    @property
    def report(self) -> Any:
        return self.cohort.report

    @property
    def profile(self) -> Any:
        return self.cohort.profile


@dataclass(frozen=True)
class Comparison:
    first: ReportRun
    second: ReportRun
    lines: list[str]


class ReportCache:
    def __init__(self) -> None:
        self._runs: OrderedDict[ReportKey, ReportRun] = OrderedDict()
        self._compare: OrderedDict[tuple[ReportKey, str], list[str]] = OrderedDict()
        self._lock = threading.Lock()
        self._plot_lock = threading.Lock()

    def run(self, app: App, agent: str, profile: str, as_of: date | None) -> ReportRun:
        key = ReportKey(app.store.head(), agent, profile, as_of)
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
        events = [s.event for s in app.store.read_all()]
        run = ReportRun(key, cohort_under(app, events, agent=agent, as_of=cut_of(as_of, app), profile_name=profile))
        with self._lock:
            self._runs[key] = run
            while len(self._runs) > CACHE_SIZE:
                self._runs.popitem(last=False)
        return run

    def comparison(self, app: App, agent: str, first: str, second: str, as_of: date | None) -> Comparison:
        from engine.whatif import compare_profiles

        a = self.run(app, agent, first, as_of)
        b = self.run(app, agent, second, as_of)
        ckey = (a.key, second)
        with self._lock:
            lines = self._compare.get(ckey)
        if lines is None:
            lines = compare_profiles(app, first, second, agent)
            with self._lock:
                self._compare[ckey] = lines
                while len(self._compare) > CACHE_SIZE:
                    self._compare.popitem(last=False)
        return Comparison(a, b, lines)

    def plot(self, run: ReportRun, name: str) -> bytes | None:
        """One plot of the run as PNG (screen resolution), rendered on its first request."""
        from engine.reporting.plots import build_figures, figure_bytes

        with self._plot_lock:  # matplotlib is not safe to drive from two threads at once
            if run.figures is None:
                run.figures = {item.stem: item for item in build_figures(run.cohort)}
            item = run.figures.get(name)
            return None if item is None else figure_bytes(item, "png", dpi=SCREEN_DPI)


def figure_captions(run: ReportRun) -> list[Any]:
    """The numbered captions of the report's figures, without drawing them."""
    from engine.reporting.plots import captions

    return captions(run.cohort)


def profile_choices(app: App) -> list[str]:
    configured = app.settings.profile
    return list(dict.fromkeys([configured, *BUILTIN_PROFILES]))


def agent_choices(app: App) -> list[str]:
    return list(dict.fromkeys(app.profile.tracked_agents))


def cut_of(as_of: date | None, app: App) -> datetime | None:
    """A data cut given as a day includes the whole day in the site time zone."""
    if as_of is None:
        return None
    return datetime.combine(as_of, time(23, 59, 59, 999999), app.tzinfo)


def download(run: ReportRun, fmt: str) -> tuple[bytes, str, str]:
    """(body, media type, file name) of the report as JSON or as the self-contained HTML page."""
    name = f"itpwatch-report-{run.key.agent}-{run.profile.name}-{run.key.as_of or 'all-data'}"
    if fmt == "json":
        return run.report.model_dump_json(indent=2).encode(), "application/json", f"{name}.json"
    from engine.reporting.html import render_html

    return render_html(run.cohort).encode(), "text/html; charset=utf-8", f"{name}.html"
