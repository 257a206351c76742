"""Feeds in: ingest files, serve MLLP and HTTP, advance the clock, handle dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from engine.cli.base import app, app_of, console, dead_letters_app, err, parse_ts
from engine.cli.output import literal, styled


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

    application = app_of(ctx)
    if batch_size is not None:
        application.settings.batch_size = batch_size
    ingestor = application.ingestor(derive=not no_derive)
    unreadable = [f"{p}: no such file or folder" for p in paths if not p.exists()]
    files = list(iter_paths([p for p in paths if p.exists()]))
    summary = IngestSummary(unreadable=unreadable)
    # two bars: files, and the messages of the current file (one large file is a long import too);
    # rich hides them when stderr is not a terminal
    with Progress(TextColumn("{task.description}", markup=False, style="bold"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as progress:
        file_task = progress.add_task("files", total=len(files))
        message_task = progress.add_task("messages", total=0, visible=False)
        for path in files:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                summary.unreadable.append(f"{path}: {exc.strerror}")
                progress.advance(file_task)
                continue
            messages = read_bytes(data, origin=str(path), received_at=application.clock.now(),
                                  mapping=application.mapping, tz=application.tzinfo)
            progress.reset(message_task, total=len(messages), visible=len(messages) > 1000,
                           description=literal(f"messages of {Path(path).name}"))
            summary.add(ingestor.ingest(messages, on_message=lambda: progress.advance(message_task)))
            progress.advance(file_task)
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
        err.print(styled("cannot read", "red"), problem)


@app.command()
def tick(
    ctx: typer.Context,
    at: Annotated[str | None, typer.Option("--at", help="Event time to advance to (default: now).")] = None,
) -> None:
    """Append a ClockAdvanced event so time-based transitions (day 84, 182 days) are derived. For cron."""
    from engine.ticks import advance_clock

    application = app_of(ctx)
    when = parse_ts(at) or application.clock.now()
    derived = advance_clock(application, when)
    console.print(f"clock advanced to {when.isoformat()}; {derived} derived events appended")


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

    application = app_of(ctx)
    if token is not None:
        application.settings.http_token = token
    if mllp_port is None and http_port is None:
        raise typer.BadParameter("give --mllp-port and/or --http-port")
    asyncio.run(run_server(application, mllp_port=mllp_port, http_port=http_port,
                           host=host or application.settings.bind_host))


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context, all_: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False
) -> None:
    table = Table(title="dead letters")
    for col in ("id", "recorded", "feed", "origin", "field", "code", "ack", "reason", "state"):
        table.add_column(col)
    for d in app_of(ctx).store.dead_letters(unresolved_only=not all_):
        table.add_row(str(d.id), d.recorded_at.strftime("%Y-%m-%d %H:%M"), d.feed, Path(d.origin).name,
                      d.field or "-", d.error_code, d.ack_code, d.reason, d.resolution or "open")
    console.print(table)


@dead_letters_app.command("show")
def dead_letters_show(ctx: typer.Context, dead_letter_id: int) -> None:
    for d in app_of(ctx).store.dead_letters():
        if d.id == dead_letter_id:
            console.print(f"id {d.id}  feed {d.feed}  origin {d.origin}  key {d.message_key}")
            console.print(f"field {d.field}  error {d.error_code}  ack {d.ack_code}  state {d.resolution or 'open'}")
            console.print(f"reason: {d.reason}")
            try:
                raw = app_of(ctx).vault.reveal(d.raw, d.encryption)
            except KeyError as exc:
                err.print(f"raw bytes not shown: {exc.args[0]}")
                return
            if d.encryption is not None and d.encryption != "withheld":
                console.print(f"decrypted with the dead-letter key ({d.encryption}):")
            console.print(raw.decode("utf-8", "replace").replace("\r", "\n"))
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
    results = retry(app_of(ctx), None if all_ else dead_letter_id)
    for dl_id, outcome in results:
        console.print(f"dead letter {dl_id}: {outcome}")
