"""The itpwatch command line. Each command builds an App from Settings and calls one service."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from engine import logs
from engine.app import App
from engine.config import load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Watch ITP patients from hospital feeds.")
dead_letters_app = typer.Typer(no_args_is_help=True, help="Messages that could not be accepted.")
alerts_app = typer.Typer(no_args_is_help=True, help="Clinical alerts: list, acknowledge, dispatch.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models built from the log.")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(alerts_app, name="alerts")
app.add_typer(projections_app, name="projections")

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (env ITPWATCH_DATABASE_URL).")]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="Rule profile: site, iwg2009 or a path.")]


@app.callback()
def main(
    ctx: typer.Context,
    db: DbOption = None,
    profile: ProfileOption = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Site time zone (default Europe/Berlin).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Site mapping YAML.")] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="json, console or auto.")] = None,
    sinks: Annotated[Path | None, typer.Option("--sinks", help="Alert sink configuration YAML.")] = None,
) -> None:
    settings = load_settings(database_url=db, profile=profile, timezone=tz, mapping=mapping, log_format=log_format,
                             sinks=sinks)
    logs.configure(settings.log_format, settings.log_level)
    ctx.obj = App(settings)
    ctx.call_on_close(ctx.obj.close)


def _app(ctx: typer.Context) -> App:
    obj = ctx.find_root().obj
    assert isinstance(obj, App)
    return obj


def _parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO timestamp: {value!r}") from exc
    if ts.tzinfo is None:
        from zoneinfo import ZoneInfo

        ts = ts.replace(tzinfo=ZoneInfo(load_settings().timezone))
    return ts


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders: HL7 v2, FHIR JSON, enrollment CSV.")],
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Messages per transaction.")] = None,
    no_derive: Annotated[bool, typer.Option("--no-derive", help="Store facts only; derive later.")] = False,
) -> None:
    """Read feed files into the log; print what was read, appended, skipped and dead-lettered."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from adapters.reader import iter_paths, read_bytes
    from engine.ingest import IngestSummary

    application = _app(ctx)
    if batch_size is not None:
        application.settings.batch_size = batch_size
    ingestor = application.ingestor(derive=not no_derive)
    unreadable = [f"{p}: no such file or folder" for p in paths if not p.exists()]
    files = list(iter_paths([p for p in paths if p.exists()]))
    summary = IngestSummary(unreadable=unreadable)
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                  TimeRemainingColumn(), console=err, transient=True, disable=len(files) < 2) as progress:
        task = progress.add_task("files", total=len(files))
        for path in files:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                summary.unreadable.append(f"{path}: {exc.strerror}")
                progress.advance(task)
                continue
            messages = read_bytes(data, origin=str(path), received_at=application.clock.now(),
                                  mapping=application.mapping, tz=application.tzinfo)
            summary.add(ingestor.ingest(messages))
            progress.advance(task)
    _print_summary(summary)
    if summary.unreadable:
        raise typer.Exit(code=2)


def _print_summary(summary: Any) -> None:
    table = Table(title="ingest summary", show_header=False)
    table.add_row("messages read", str(summary.messages))
    table.add_row("messages accepted", str(summary.accepted))
    table.add_row("events appended", str(summary.events))
    table.add_row("derived events appended", str(summary.derived))
    table.add_row("duplicates", str(summary.duplicates))
    table.add_row("messages skipped as not relevant", str(sum(summary.skipped.values())))
    table.add_row("parts skipped (other analytes, other drugs)", str(summary.skipped_parts))
    table.add_row("dead-lettered", str(len(summary.dead_lettered)))
    console.print(table)
    if summary.skipped:
        skipped = Table(title="skipped", show_header=True)
        skipped.add_column("reason")
        skipped.add_column("count", justify="right")
        for reason, n in summary.skipped.most_common():
            skipped.add_row(reason, str(n))
        console.print(skipped)
    if summary.dead_lettered:
        dead = Table(title="dead-lettered", show_header=True)
        for col in ("file", "message", "field", "reason"):
            dead.add_column(col)
        for note in summary.dead_lettered[:50]:
            dead.add_row(Path(note.origin).name, note.message_id or "-", note.field or "-", note.reason)
        if len(summary.dead_lettered) > 50:
            dead.add_row("...", f"{len(summary.dead_lettered) - 50} more", "", "itpwatch dead-letters list")
        console.print(dead)
    for problem in summary.unreadable:
        err.print(f"[red]cannot read[/red] {problem}")


@app.command()
def tick(
    ctx: typer.Context,
    at: Annotated[str | None, typer.Option("--at", help="Event time to advance to (default: now).")] = None,
) -> None:
    """Append a ClockAdvanced event so time-based transitions (day 84, 182 days) are derived. For cron."""
    from engine.ticks import advance_clock

    application = _app(ctx)
    when = _parse_ts(at) or application.clock.now()
    derived = advance_clock(application, when)
    console.print(f"clock advanced to {when.isoformat()}; {derived} derived events appended")


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check the hash chain and re-derive everything; exit 1 on any difference."""
    from engine.verification import verify_all

    ok = verify_all(_app(ctx), console)
    raise typer.Exit(code=0 if ok else 1)


def _update_projections(application: App) -> None:
    from engine.projections import update

    update(application.store, application.projections)


@app.command()
def status(
    ctx: typer.Context, patient: Annotated[str | None, typer.Argument(help="One patient (MRN).")] = None
) -> None:
    """Current episode and state of each patient under the canonical profile."""
    from sqlalchemy import select

    from engine.store.schema import patient_status

    application = _app(ctx)
    _update_projections(application)
    query = select(patient_status).order_by(patient_status.c.patient)
    if patient is not None:
        query = query.where(patient_status.c.patient == patient)
    with application.store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
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
        _print_cohort_lines(application)
    if patient is not None and not rows:
        err.print(f"no patient {patient}")
        raise typer.Exit(code=1)


def _print_cohort_lines(application: App) -> None:
    import json as json_module

    from sqlalchemy import select

    from engine.store.schema import cohort_statistics

    with application.store.engine.connect() as conn:
        for agent, summary in conn.execute(select(cohort_statistics.c.agent, cohort_statistics.c.summary)):
            data = json_module.loads(summary)
            rate = data.get("response_rate") or {}
            console.print(f"{agent}: {data['patients']} patients, {data['responders']} responders "
                          f"({rate.get('percent', '-')} %), {data['complete_responders']} complete, "
                          f"{data['non_responders']} non-responders, {data['pending']} pending")


@app.command()
def timeline(ctx: typer.Context, patient: str) -> None:
    """Every event of a patient by valid time, with recorded time and source; derived ones interleaved."""
    from engine.audit import describe, superseded_ids
    from events import DerivedEvent

    application = _app(ctx)
    events = [s.event for s in application.store.read_stream(patient)]
    if not events:
        err.print(f"no events for patient {patient}")
        raise typer.Exit(code=1)
    gone = superseded_ids(events)
    table = Table(title=f"timeline of {patient}")
    for col in ("valid time", "recorded", "event", "detail", "source", "id"):
        table.add_column(col, overflow="fold")
    for e in sorted(events, key=lambda e: (e.occurred_at, e.stream_version)):
        kind = f"[cyan]{e.type}[/cyan]" if isinstance(e, DerivedEvent) else e.type
        if str(e.event_id) in gone:
            kind = f"[strike]{e.type}[/strike] (revised)"
        source = f"rule {e.rule_id}" if isinstance(e, DerivedEvent) else f"{e.source.feed} {e.source.message_id or ''}"
        table.add_row(e.occurred_at.isoformat(timespec="minutes"), e.recorded_at.isoformat(timespec="seconds"),
                      kind, describe(e), source, str(e.event_id)[:8])
    console.print(table)


def _report(application: App, events: list[Any], *, agent: str, as_of: datetime | None,
            profile: Any = None, derivation_set: str | None = None) -> Any:
    from engine.reporting import build_report
    from events import CANONICAL_SET

    profile = profile or application.profile
    return build_report(
        events, agent=agent, profile=profile.name, profile_version=profile.version, as_of=as_of,
        serious_infection_codes=frozenset(profile.infection.codes), tz=application.settings.timezone,
        derivation_set=derivation_set or CANONICAL_SET, rules_profile=profile,
    )


def _emit_report(application: App, report: Any, events: list[Any], fmt: str, out: Path | None,
                 plots: Path | None, *, profile: Any = None, derivation_set: str | None = None) -> None:
    from engine.reporting import summary_paragraph
    from events import CANONICAL_SET

    profile = profile or application.profile
    dset = derivation_set or CANONICAL_SET

    if fmt == "json":
        text = report.model_dump_json(indent=2)
    elif fmt == "text":
        text = summary_paragraph(report)
    elif fmt == "html":
        from engine.reporting.html import render_html

        text = render_html(report, events, tz=application.settings.timezone, rules_profile=profile,
                           derivation_set=dset)
    else:
        raise typer.BadParameter("--format is json, text or html")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"report written to {out}")
    else:
        print(text)
    if plots is not None:
        from engine.reporting.plots import write_plots

        written = write_plots(report, events, plots, tz=application.settings.timezone,
                              rules_profile=profile, derivation_set=dset)
        console.print(f"{len(written)} plot files written to {plots}")


FormatOption = Annotated[str, typer.Option("--format", help="json, text or html.")]


@app.command()
def report(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option("--agent", help="Cohort agent, e.g. daratumumab.")] = "daratumumab",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Valid-time cut (ISO timestamp).")] = None,
    fmt: FormatOption = "text",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="Write PNG and SVG plots to this folder.")] = None,
    profile_name: Annotated[str | None, typer.Option(
        "--profile", help="Report under this profile (site, iwg2009 or a path); default: the configured one.")] = None,
) -> None:
    """The cohort report of an agent: the abstract's figures from the log, as JSON, text or HTML.

    Under the configured profile the stored (canonical) derivations are reported; under another profile the
    cohort is derived in memory by a separate rule engine (nothing is stored, nothing is delivered).
    """
    from events import DerivedEvent

    application = _app(ctx)
    events: list[Any] = [s.event for s in application.store.read_all()]
    profile = application.profile
    derivation_set = None
    if profile_name is not None:
        from engine.audit import what_if
        from rules import load_profile

        wanted = load_profile(profile_name)
        if (wanted.name, wanted.version) != (profile.name, profile.version):
            facts = [e for e in events if not isinstance(e, DerivedEvent)]
            profile, derived = what_if(application, profile_name, facts)
            events, derivation_set = [*facts, *derived], profile.name
    rep = _report(application, events, agent=agent, as_of=_parse_ts(as_of), profile=profile,
                  derivation_set=derivation_set)
    _emit_report(application, rep, events, fmt, out, plots, profile=profile, derivation_set=derivation_set)


@app.command()
def replay(
    ctx: typer.Context,
    as_of_recorded: Annotated[str, typer.Option("--as-of-recorded", help="Transaction time (ISO timestamp).")],
    agent: Annotated[str, typer.Option("--agent")] = "daratumumab",
    fmt: FormatOption = "text",
) -> None:
    """What itpwatch knew and had derived at a recorded time (later corrections invisible), and its report."""
    from engine.audit import known_at
    from engine.projections.status import status_row

    application = _app(ctx)
    cut = _parse_ts(as_of_recorded)
    assert cut is not None
    events = known_at(application, cut)
    console.print(f"as recorded up to {cut.isoformat()}: {len(events)} events")
    patients = sorted({e.stream for e in events if not e.stream.startswith("$") and "::" not in e.stream})
    table = Table(title="status as then known")
    for col in ("patient", "agent", "episode", "state", "since"):
        table.add_column(col)
    for patient in patients:
        row = status_row(patient, [e for e in events if e.stream == patient])
        if row["state"] != "untracked":
            table.add_row(patient, row["agent"] or "-", str(row["episode"]), row["state"], str(row["since"]))
    console.print(table)
    rep = _report(application, events, agent=agent, as_of=cut)
    _emit_report(application, rep, events, fmt, None, None)


@app.command()
def explain(
    ctx: typer.Context,
    patient: str,
    transition: Annotated[str | None, typer.Option("--transition", help="A derived event id.")] = None,
) -> None:
    """The chain behind each transition: rule and statement, profile version, inputs with times and sources."""
    from engine.audit import describe
    from engine.audit import explain as explain_chain

    application = _app(ctx)
    found = explain_chain(application, patient, transition)
    if not found:
        err.print("no derived events found")
        raise typer.Exit(code=1)
    for item in found:
        e = item.event
        mark = " [red](superseded by a revision)[/red]" if item.superseded else ""
        console.print(f"[bold]{e.type}[/bold] {describe(e)}{mark}")
        console.print(f"  id {e.event_id}  valid {e.occurred_at.isoformat()}  recorded {e.recorded_at.isoformat()}")
        console.print(f"  rule {e.rule_id}: {item.statement}")
        console.print(f"  profile {e.profile} version {e.profile_version}  set {e.derivation_set}")
        for inp in item.inputs:
            console.print(f"    <- {inp.type} valid {inp.occurred_at.isoformat()} {describe(inp)}  "
                          f"[{inp.source.feed} {inp.source.sender or ''} {inp.source.message_id or ''}]", markup=False)
        for missing in item.missing_inputs:
            console.print(f"    <- {missing} (not in the log)")


@app.command()
def rederive(
    ctx: typer.Context,
    profile_name: Annotated[str, typer.Option("--profile", help="Profile of the what-if run.")] = "iwg2009",
    set_name: Annotated[str | None, typer.Option("--set", help="Derivation set name (default: profile name).")]
    = None,
) -> None:
    """Derive the whole cohort under another profile into a separate, named derivation set."""
    from engine.whatif import rederive_into_set

    application = _app(ctx)
    name, count = rederive_into_set(application, profile_name, set_name)
    console.print(f"derivation set '{name}': {count} derived events appended; the canonical set is untouched")


@app.command()
def compare(ctx: typer.Context, first: str, second: str,
            agent: Annotated[str, typer.Option("--agent")] = "daratumumab") -> None:
    """Where two profiles disagree, patient by patient, and why (rules that fired)."""
    from engine.whatif import compare_profiles

    application = _app(ctx)
    lines = compare_profiles(application, first, second, agent)
    for line in lines:
        console.print(line, markup=False)


@projections_app.command("rebuild")
def projections_rebuild(ctx: typer.Context) -> None:
    """Rebuild every read model from the log."""
    from engine.projections import rebuild as rebuild_all

    application = _app(ctx)
    applied = rebuild_all(application.store, application.projections)
    console.print(f"projections rebuilt from {applied} events")


@projections_app.command("update")
def projections_update(ctx: typer.Context) -> None:
    """Bring every read model up to the head of the log."""
    from engine.projections import update

    application = _app(ctx)
    console.print(f"{update(application.store, application.projections)} event applications")


@alerts_app.command("list")
def alerts_list(ctx: typer.Context,
                open_only: Annotated[bool, typer.Option("--open", help="Only open alerts.")] = False) -> None:
    from engine.alerts.queries import list_alerts

    table = Table(title="alerts")
    for col in ("id", "patient", "severity", "alert", "valid time", "state", "by", "message"):
        table.add_column(col, overflow="fold")
    for a in list_alerts(_app(ctx), open_only):
        table.add_row(a["id"][:8], a["patient"], a["severity"], a["alert"], a["occurred_at"][:16], a["state"],
                      a["acknowledged_by"] or "-", a["message"])
    console.print(table)


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    alert_id: str,
    by: Annotated[str, typer.Option("--by", help="Who acknowledges.")],
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Acknowledge an alert (an AlertAcknowledged event). ID may be the first characters of the id."""
    from engine.alerts.queries import acknowledge, list_alerts

    application = _app(ctx)
    matches = [a["id"] for a in list_alerts(application) if a["id"].startswith(alert_id)]
    if len(matches) != 1:
        err.print(f"{len(matches)} alerts match {alert_id!r}")
        raise typer.Exit(code=1)
    result = acknowledge(application, matches[0], by, note)
    console.print(f"alert {matches[0]}: {result['state']}")


@alerts_app.command("dispatch")
def alerts_dispatch(ctx: typer.Context) -> None:
    """Deliver every due alert notice to its sinks, then print the counts. For cron; exit 1 if a notice failed."""
    from engine.alerts.dispatch import dispatch_until_idle, outbox_counts

    application = _app(ctx)
    result = dispatch_until_idle(application)
    counts = outbox_counts(application)
    console.print(f"delivered {result.delivered}, retry later {result.retried + result.deferred}, "
                  f"failed {result.failed}; outbox: {counts.get('pending', 0)} pending, "
                  f"{counts.get('delivered', 0)} delivered, {counts.get('failed', 0)} failed")
    if result.failed:
        raise typer.Exit(code=1)


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context, all_: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False
) -> None:
    table = Table(title="dead letters")
    for col in ("id", "recorded", "feed", "origin", "field", "code", "ack", "reason", "state"):
        table.add_column(col)
    for d in _app(ctx).store.dead_letters(unresolved_only=not all_):
        table.add_row(str(d.id), d.recorded_at.strftime("%Y-%m-%d %H:%M"), d.feed, Path(d.origin).name,
                      d.field or "-", d.error_code, d.ack_code, d.reason, d.resolution or "open")
    console.print(table)


@dead_letters_app.command("show")
def dead_letters_show(ctx: typer.Context, dead_letter_id: int) -> None:
    for d in _app(ctx).store.dead_letters():
        if d.id == dead_letter_id:
            console.print(f"id {d.id}  feed {d.feed}  origin {d.origin}  key {d.message_key}")
            console.print(f"field {d.field}  error {d.error_code}  ack {d.ack_code}  state {d.resolution or 'open'}")
            console.print(f"reason: {d.reason}")
            console.print(d.raw.decode("utf-8", "replace").replace("\r", "\n"), markup=False)
            return
    err.print(f"no dead letter {dead_letter_id}")
    raise typer.Exit(code=1)


@dead_letters_app.command("retry")
def dead_letters_retry(
    ctx: typer.Context,
    dead_letter_id: Annotated[int | None, typer.Argument()] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every open dead letter.")] = False,
) -> None:
    """Parse dead letters again (after a mapping was added); accepted ones are stored and marked resolved."""
    from engine.deadletters import retry

    if dead_letter_id is None and not all_:
        raise typer.BadParameter("give an ID or --all")
    results = retry(_app(ctx), None if all_ else dead_letter_id)
    for dl_id, outcome in results:
        console.print(f"dead letter {dl_id}: {outcome}")


@app.command()
def serve(
    ctx: typer.Context,
    mllp_port: Annotated[int | None, typer.Option("--mllp-port", help="MLLP listener port (0 = any free).")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="HTTP listener port (FHIR, alerts).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Bearer token for HTTP (env ITPWATCH_HTTP_TOKEN).")]
    = None,
) -> None:
    """Listen for HL7 v2 over MLLP and FHIR R4 over HTTP; ACK each message after its commit."""
    import asyncio

    from engine.server import serve as run_server

    application = _app(ctx)
    if token is not None:
        application.settings.http_token = token
    if mllp_port is None and http_port is None:
        raise typer.BadParameter("give --mllp-port and/or --http-port")
    asyncio.run(run_server(application, mllp_port=mllp_port, http_port=http_port,
                           host=host or application.settings.bind_host))


def run() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

