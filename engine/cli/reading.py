"""Reading the log: patient status, timelines, the cohort report, replay as of a recorded time, explain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli.base import FormatOption, OutputFormat, app, app_of, console, err, parse_ts, print_json
from engine.cli.output import styled

if TYPE_CHECKING:
    from engine.app import App


def _update_projections(application: App) -> None:
    from engine.projections import update

    update(application.store, application.projections)


@app.command()
def status(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="One patient (MRN).")] = None,
    fmt: FormatOption = OutputFormat.text,
) -> None:
    """Current episode and state of each patient under the canonical profile."""
    from rich.table import Table
    from sqlalchemy import select

    from engine.store.schema import patient_status

    application = app_of(ctx)
    _update_projections(application)
    query = select(patient_status).order_by(patient_status.c.patient)
    if patient is not None:
        query = query.where(patient_status.c.patient == patient)
    with application.store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    if patient is not None and not rows:
        err.print(f"no patient {patient}", markup=False)
        raise typer.Exit(code=1)
    if fmt is OutputFormat.json:
        from engine.store.timestamps import from_db

        print_json({
            "profile": application.profile.name, "profile_version": application.profile.version,
            "patients": [{
                "patient": r["patient"], "agent": r["agent"], "episode": r["episode"], "state": r["state"],
                "since": r["since"].isoformat() if r["since"] else None, "last_count": r["last_count"],
                "last_count_at": from_db(r["last_count_at"]).isoformat() if r["last_count_at"] else None,
                "open_alerts": r["open_alerts"]} for r in rows],
            "cohorts": _cohort_statistics(application) if patient is None else [],
        })
        return
    table = Table(title=f"patient status ({application.profile.name} {application.profile.version})")
    for col in ("patient", "agent", "episode", "state", "since", "last count", "last count at", "open alerts"):
        table.add_column(col)
    for r in rows:
        last = "-" if r["last_count"] is None else f"{r['last_count']:g}"
        at = "-" if r["last_count_at"] is None else str(r["last_count_at"])[:16]
        table.add_row(r["patient"], r["agent"] or "-", str(r["episode"] or "-"), r["state"],
                      str(r["since"] or "-"), last, at, str(r["open_alerts"]))
    console.print(table)
    if patient is None:
        for data in _cohort_statistics(application):
            rate = data.get("response_rate") or {}
            console.print(f"{data['agent']}: {data['patients']} patients, {data['responders']} responders "
                          f"({rate.get('percent', '-')} %), {data['complete_responders']} complete, "
                          f"{data['non_responders']} non-responders, {data['pending']} pending")


def _cohort_statistics(application: App) -> list[dict[str, Any]]:
    """The stored cohort summary of each agent (the projection's JSON), with the agent's name."""
    import json as json_module

    from sqlalchemy import select

    from engine.store.schema import cohort_statistics

    with application.store.engine.connect() as conn:
        rows = conn.execute(select(cohort_statistics.c.agent, cohort_statistics.c.summary)
                            .order_by(cohort_statistics.c.agent)).all()
    return [{"agent": agent, **json_module.loads(summary)} for agent, summary in rows]


@app.command()
def timeline(ctx: typer.Context, patient: str, fmt: FormatOption = OutputFormat.text) -> None:
    """Every event of a patient by valid time, with recorded time and source; derived ones interleaved."""
    from rich.table import Table

    from engine.audit import describe, superseded_ids
    from events import DerivedEvent

    application = app_of(ctx)
    events = [s.event for s in application.store.read_stream(patient)]
    if not events:
        err.print(f"no events for patient {patient}", markup=False)
        raise typer.Exit(code=1)
    gone = superseded_ids(events)
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.stream_version))
    if fmt is OutputFormat.json:
        print_json({"patient": patient, "events": [
            {"valid_time": e.occurred_at.isoformat(), "recorded_at": e.recorded_at.isoformat(),
             "type": e.type, "derived": isinstance(e, DerivedEvent), "revised": str(e.event_id) in gone,
             "detail": describe(e), "event": e.model_dump(mode="json")} for e in ordered]})
        return
    table = Table(title=f"timeline of {patient}")
    for col in ("valid time", "recorded", "event", "detail", "source", "id"):
        table.add_column(col, overflow="fold")
    for e in ordered:
        kind = styled(e.type, "cyan") if isinstance(e, DerivedEvent) else styled(e.type)
        if str(e.event_id) in gone:
            kind = styled(e.type, "strike") + " (revised)"
        source = f"rule {e.rule_id}" if isinstance(e, DerivedEvent) else f"{e.source.feed} {e.source.message_id or ''}"
        table.add_row(e.occurred_at.isoformat(timespec="minutes"), e.recorded_at.isoformat(timespec="seconds"),
                      kind, describe(e), source, str(e.event_id)[:8])
    console.print(table)


REPORT_FORMATS = ("json", "text", "html", "docx")


def _check_report_paths(fmt: str, out: Path | None, plots: Path | None, pseudonymize: bool,
                        key: Path | None) -> None:
    """Refuse, before any work, what would write the wrong file or put the key next to the report."""
    if fmt not in REPORT_FORMATS:
        raise typer.BadParameter(f"--format is one of {', '.join(REPORT_FORMATS)}, not {fmt!r}")
    if fmt == "docx" and out is None:
        raise typer.BadParameter("--format docx writes a file: add --out report.docx")
    if key is None:
        return
    if not pseudonymize:
        raise typer.BadParameter("--pseudonym-key only goes with --pseudonymize")
    resolved = key.resolve()
    if out is not None and resolved == out.resolve():
        raise typer.BadParameter("--pseudonym-key must not be the report file")
    if plots is not None and resolved.is_relative_to(plots.resolve()):
        raise typer.BadParameter("keep the pseudonym key out of the --plots folder you are going to share")


def _emit_report(cohort: Any, fmt: str, out: Path | None, plots: Path | None, key: Path | None = None) -> None:
    from engine.reporting import summary_paragraph

    report = cohort.report
    figures = None
    if plots is not None or fmt in ("html", "docx"):
        from engine.reporting.plots import build_figures

        figures = build_figures(cohort)
    if fmt == "docx":
        from engine.reporting.word import write_docx

        assert out is not None
        write_docx(cohort, out, figures=figures)
        console.print(f"report written to {out}")
    else:
        if fmt == "json":
            text = report.model_dump_json(indent=2)
        elif fmt == "text":
            text = summary_paragraph(report)
        else:
            from engine.reporting.html import render_html

            text = render_html(cohort, figures=figures)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            console.print(f"report written to {out}")
        else:
            print(text)
    if plots is not None and figures is not None:
        from engine.reporting.plots import write_plots

        written = write_plots(cohort, plots, figures=figures)
        console.print(f"{len(written)} plot files written to {plots}")
    if report.pseudonymized:
        if key is not None:
            from engine.reporting.pseudonyms import write_key

            write_key(cohort.key, key)
            console.print(f"pseudonym key written to {key}: keep it inside the hospital, never send it with "
                          "the report")
        elif out is not None or plots is not None:
            console.print("patients pseudonymised as P1..Pn; no key was written (--pseudonym-key FILE keeps one)")


ReportFormatOption = Annotated[str, typer.Option("--format", help="json, text, html or docx (Word; needs --out).")]


@app.command()
def report(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option("--agent", help="Cohort agent, e.g. daratumumab.")] = "daratumumab",
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Data cut in valid time (ISO timestamp); default: the latest valid time in the log.")] = None,
    fmt: ReportFormatOption = "text",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
    plots: Annotated[Path | None, typer.Option(
        "--plots", help="Write every figure as PNG (300 dpi), PDF and SVG, with captions.txt, to this folder.")] = None,
    profile_name: Annotated[str | None, typer.Option(
        "--profile", help="Report under this profile (site, iwg2009 or a path); default: the configured one.")] = None,
    pseudonymize: Annotated[bool, typer.Option(
        "--pseudonymize", help="Label patients P1..Pn (by first dose) instead of MRNs, in every format and plot.")]
        = False,
    pseudonym_key: Annotated[Path | None, typer.Option(
        "--pseudonym-key", help="With --pseudonymize: also write the key (pseudonym,mrn CSV) to this file.")] = None,
) -> None:
    """The cohort report of an agent: the abstract's figures from the log, as JSON, text, HTML or Word.

    Under the configured profile the stored (canonical) derivations are reported; under another profile the
    cohort is derived in memory by a separate rule engine (nothing is stored, nothing is delivered).
    """
    from engine.cohort_report import cohort_under

    _check_report_paths(fmt, out, plots, pseudonymize, pseudonym_key)
    application = app_of(ctx)
    events: list[Any] = [s.event for s in application.store.read_all()]
    cohort = cohort_under(application, events, agent=agent, as_of=parse_ts(as_of, ctx), profile_name=profile_name,
                          pseudonymize=pseudonymize)
    _emit_report(cohort, fmt, out, plots, pseudonym_key)


@app.command()
def replay(
    ctx: typer.Context,
    as_of_recorded: Annotated[str, typer.Option("--as-of-recorded", help="Transaction time (ISO timestamp).")],
    agent: Annotated[str, typer.Option("--agent")] = "daratumumab",
    fmt: ReportFormatOption = "text",
) -> None:
    """What itpwatch knew and had derived at a recorded time (later corrections invisible), and its report."""
    from rich.table import Table

    from engine.audit import known_at
    from engine.cohort_report import cohort_for
    from engine.projections.status import status_row

    if fmt not in ("json", "text", "html"):
        raise typer.BadParameter("replay prints its report: --format json, text or html")
    application = app_of(ctx)
    cut = parse_ts(as_of_recorded, ctx)
    assert cut is not None
    events = known_at(application, cut)
    patients = sorted({e.stream for e in events if not e.stream.startswith("$") and "::" not in e.stream})
    rows = [row for patient in patients
            if (row := status_row(patient, [e for e in events if e.stream == patient]))["state"] != "untracked"]
    cohort = cohort_for(application, events, agent=agent, as_of=cut)
    if fmt == "json":
        import json

        print_json({"as_of_recorded": cut.isoformat(), "events": len(events),
                    "status": [{k: row[k] for k in ("patient", "agent", "episode", "state", "since")} for row in rows],
                    "report": json.loads(cohort.report.model_dump_json())})
        return
    console.print(f"as recorded up to {cut.isoformat()}: {len(events)} events")
    if not events:
        first = _first_recorded(application)
        console.print("nothing had been recorded by then; " + (
            f"the first event was recorded at {first.isoformat()}" if first else "the log is empty"), markup=False)
        return
    table = Table(title="status as then known")
    for col in ("patient", "agent", "episode", "state", "since"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["patient"], row["agent"] or "-", str(row["episode"]), row["state"], str(row["since"]))
    console.print(table)
    _emit_report(cohort, fmt, None, None)


def _first_recorded(application: App) -> Any:
    from sqlalchemy import func, select

    from engine.store.schema import events
    from engine.store.timestamps import from_db

    with application.store.engine.connect() as conn:
        first = conn.execute(select(func.min(events.c.recorded_at))).scalar()
    return None if first is None else from_db(first)


@app.command()
def explain(
    ctx: typer.Context,
    patient: str,
    transition: Annotated[str | None, typer.Option("--transition", help="A derived event id.")] = None,
    fmt: FormatOption = OutputFormat.text,
) -> None:
    """The chain behind each transition: rule and statement, profile version, inputs with times and sources."""
    from engine.audit import describe
    from engine.audit import explain as explain_chain

    application = app_of(ctx)
    found = explain_chain(application, patient, transition)
    if not found:
        err.print("no derived events found")
        raise typer.Exit(code=1)
    if fmt is OutputFormat.json:
        print_json({"patient": patient, "transitions": [{
            "type": item.event.type, "detail": describe(item.event), "rule_id": item.event.rule_id,
            "statement": item.statement, "profile": item.event.profile,
            "profile_version": item.event.profile_version, "derivation_set": item.event.derivation_set,
            "superseded": item.superseded, "event": item.event.model_dump(mode="json"),
            "inputs": [{"type": i.type, "detail": describe(i), "event": i.model_dump(mode="json")}
                       for i in item.inputs],
            "missing_inputs": item.missing_inputs} for item in found]})
        return
    for item in found:
        e = item.event
        mark = styled(" (superseded by a revision)", "red") if item.superseded else ""
        console.print(styled(e.type, "bold") + f" {describe(e)}" + mark)
        console.print(f"  id {e.event_id}  valid {e.occurred_at.isoformat()}  recorded {e.recorded_at.isoformat()}")
        console.print(f"  rule {e.rule_id}: {item.statement}")
        console.print(f"  profile {e.profile} version {e.profile_version}  set {e.derivation_set}")
        for inp in item.inputs:
            console.print(f"    <- {inp.type} valid {inp.occurred_at.isoformat()} {describe(inp)}  "
                          f"[{inp.source.feed} {inp.source.sender or ''} {inp.source.message_id or ''}]")
        for missing in item.missing_inputs:
            console.print(f"    <- {missing} (not in the log)")
