"""The cohort report page, its plot images and its JSON/HTML downloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.responses import Response

from engine.reporting import summary_paragraph
from engine.web.framework import Ctx, PageError, secure
from engine.web.report_views import ReportCache, agent_choices, download, figure_captions, profile_choices

CACHE = ReportCache()


@dataclass(frozen=True)
class Choice:
    agent: str
    profile: str
    as_of: date | None
    other: str

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({"agent": self.agent, "profile": self.profile,
                          "as_of": self.as_of.isoformat() if self.as_of else ""})


def _choice(ctx: Ctx) -> Choice:
    app = ctx.web.app
    agents, profiles = agent_choices(app), profile_choices(app)
    agent = ctx.param("agent", agents[0], max_len=60) or agents[0]
    profile = ctx.param("profile", profiles[0], max_len=200) or profiles[0]
    if agent not in agents:
        raise PageError(400, "Unknown agent", f"Choose one of: {', '.join(agents)}.")
    if profile not in profiles:
        raise PageError(400, "Unknown profile", f"Choose one of: {', '.join(profiles)}.")
    raw = ctx.param("as_of", max_len=10)
    try:
        as_of = date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise PageError(400, "Data cut not understood", "Give the data cut as a date (YYYY-MM-DD) or leave it "
                        "empty for all data.") from exc
    other = "iwg2009" if profile != "iwg2009" else profiles[0] if profiles[0] != "iwg2009" else "site"
    return Choice(agent, profile, as_of, other)


def figures(report: Any) -> list[tuple[str, str]]:
    """(label, value) of the figures a results section states, for the side-by-side table."""
    s = report.summary
    rate = s.response_rate
    ci = "" if rate.ci_low_percent is None else f" (95 % CI {rate.ci_low_percent:.1f}–{rate.ci_high_percent:.1f} %)"
    ttr = s.time_to_response_weeks
    ttr_text = "–" if ttr.median is None else f"{ttr.median:g} weeks (range {ttr.min:g}–{ttr.max:g}, n = {ttr.n})"
    return [
        ("Patients", str(s.patients)),
        ("Responders (≥ response threshold)", f"{s.responders} of {s.patients}"
         + ("" if rate.percent is None else f" = {rate.percent:g} %{ci}")),
        ("Complete responders", str(s.complete_responders)),
        ("Non-responders", str(s.non_responders)),
        ("Still being assessed", str(s.pending)),
        ("Time to response, median", ttr_text),
        ("Relapses",
         "; ".join(f"{r.patient} after {r.months_after_response:.1f} months" for r in s.relapses) or "none"),
        ("Re-exposures", "; ".join(f"{r.patient} → {r.outcome}" for r in s.reexposures) or "none"),
        ("Ongoing remissions", "; ".join(f"{r.patient} {r.months:.1f} months" for r in s.ongoing_remissions) or "none"),
        ("Serious infections", str(s.serious_infections)),
    ]


async def report_page(ctx: Ctx) -> Response:
    choice = _choice(ctx)
    app = ctx.web.app
    comparison = await ctx.read(CACHE.comparison, app, choice.agent, choice.profile, choice.other, choice.as_of)
    run = comparison.first
    first, second = figures(run.report), figures(comparison.second.report)
    side = [(label, a, b) for (label, a), (_, b) in zip(first, second, strict=True)]
    await ctx.audit("view-report", target=f"{choice.agent} {choice.profile} {choice.as_of or 'all data'}")
    return ctx.render("report.html", choice=choice, run=run, other=comparison.second, side=side,
                      lines=comparison.lines, paragraph=summary_paragraph(run.report),
                      agents=agent_choices(app), profiles=profile_choices(app), captions=figure_captions(run))


async def report_plot(ctx: Ctx) -> Response:
    choice = _choice(ctx)
    name = ctx.request.path_params["name"]
    run = await ctx.read(CACHE.run, ctx.web.app, choice.agent, choice.profile, choice.as_of)
    png = await ctx.read(CACHE.plot, run, name)
    if png is None:
        raise PageError(404, "No such plot", "This plot is not part of the report.")
    response = Response(png, media_type="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


async def report_download(ctx: Ctx) -> Response:
    choice = _choice(ctx)
    fmt = ctx.request.path_params["fmt"]
    if fmt not in ("json", "html"):
        raise PageError(404, "Unknown format", "The report downloads as JSON or HTML.")
    run = await ctx.read(CACHE.run, ctx.web.app, choice.agent, choice.profile, choice.as_of)
    body, media, filename = await ctx.read(download, run, fmt)
    await ctx.audit("export-report", target=f"{choice.agent} {choice.profile} {choice.as_of or 'all data'}",
                    detail=f"{fmt} {filename}")
    response = Response(body, media_type=media)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return secure(response, ctx.request)
