"""Feeds in: ingest files, serve MLLP and HTTP, advance the clock, handle dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from engine.cli.base import (
    FormatOption,
    OutputFormat,
    app,
    app_of,
    console,
    dead_letters_app,
    err,
    parse_ts,
    plain_err,
    print_json,
)
from engine.cli.output import literal


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders: HL7 v2, FHIR JSON, enrollment CSV.")],
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Messages per transaction.")] = None,
    no_derive: Annotated[bool, typer.Option("--no-derive", help="Store facts only; derive later.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a message was dead-lettered.")] = False,
    fmt: FormatOption = OutputFormat.text,
) -> None:
    """Read feed files into the log; print what was read, appended, skipped and dead-lettered.

    The messages of all files share transactions of --batch-size messages. Exit 2 when a path cannot be
    read; with --strict, exit 1 when a message was dead-lettered.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from adapters.reader import iter_paths
    from engine.files.batch import ingest_files, summary_as_json

    application = app_of(ctx, batch_size=batch_size)
    application.validate()
    _ = application.store  # a wrong database is reported before the progress bars start
    missing = [f"{p}: no such file or folder" for p in paths if not p.exists()]
    files = list(iter_paths([p for p in paths if p.exists()]))
    # two bars: files, and the messages of the current file (one large file is a long import too);
    # no bars when stderr is not a terminal
    with Progress(TextColumn("{task.description}", markup=False, style="bold"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        file_task = progress.add_task("files", total=len(files))
        message_task = progress.add_task("messages", total=0, visible=False)

        def on_file(path: Path, messages: int) -> None:
            progress.advance(file_task)
            progress.reset(message_task, total=messages, visible=messages > 1000,
                           description=literal(f"messages of {path.name}"))

        summary = ingest_files(application, files, derive=not no_derive, on_file=on_file,
                               on_message=lambda: progress.advance(message_task))
    summary.unreadable[:0] = missing
    if fmt is OutputFormat.json:
        print_json(summary_as_json(summary, len(files)))
    else:
        _print_summary(summary)
    for problem in summary.unreadable:
        plain_err(f"itpwatch: cannot read {problem}")
    if summary.dead_lettered:
        plain_err(f"itpwatch: {len(summary.dead_lettered)} messages dead-lettered; `itpwatch dead-letters list` "
                  "shows them" + ("" if strict else " (--strict makes this exit 1)"))
    if summary.unreadable:
        raise typer.Exit(code=2)
    if strict and summary.dead_lettered:
        raise typer.Exit(code=1)


def _print_summary(summary: Any) -> None:
    from rich.table import Table

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


@app.command()
def watch(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="The drop folder an interface engine writes files into.")],
    once: Annotated[bool, typer.Option("--once", help="Take what is in the folder now, then exit.")] = False,
    interval: Annotated[float | None, typer.Option(
        "--interval", help="Seconds between looks into the folder (watch_interval_seconds).")] = None,
    stable: Annotated[float | None, typer.Option(
        "--stable-seconds", help="A file is complete when unchanged this long (watch_stable_seconds).")] = None,
    done_suffix: Annotated[str | None, typer.Option(
        "--done-suffix", help="A file is complete when FILE+suffix exists, e.g. .done (watch_done_suffix).")] = None,
    no_dispatch: Annotated[bool, typer.Option(
        "--no-dispatch", help="Do not deliver alert notices (serve or cron does).")] = False,
) -> None:
    """Ingest files dropped into FOLDER once complete; move each to processed/ or error/ (with a reason file).

    Safe to stop and restart at any time: no file is lost, no message stored twice.
    """
    import signal

    from engine.files.batch import ingest_files
    from engine.files.dropfolder import DropFolder, Outcome
    from engine.files.dropfolder import watch as run_watch

    application = app_of(ctx, watch_interval_seconds=interval, watch_stable_seconds=stable,
                         watch_done_suffix=done_suffix)
    settings = application.settings
    application.validate()
    drop = DropFolder(folder, stable_seconds=settings.watch_stable_seconds, done_suffix=settings.watch_done_suffix)
    drop.open()
    stopping: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}

    queued = [application.live_processor.notices_queued]

    def after_round(outcome: Outcome) -> None:
        console.print(f"{len(outcome.processed)} files processed, {len(outcome.failed)} moved to error/ "
                      f"({outcome.summary.events} events, {outcome.summary.duplicates} duplicates, "
                      f"{len(outcome.summary.dead_lettered)} dead-lettered)", markup=False)
        if not no_dispatch and application.live_processor.notices_queued != queued[0]:
            from engine.alerts.dispatch import dispatch_until_idle

            queued[0] = application.live_processor.notices_queued
            dispatch_until_idle(application)

    def sleep(seconds: float) -> None:
        import time

        deadline = time.monotonic() + seconds
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, seconds))

    try:
        run_watch(drop, lambda files: ingest_files(application, files), interval=settings.watch_interval_seconds,
                  once=once, should_stop=lambda: bool(stopping), after_round=after_round, sleep=sleep)
    finally:
        drop.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def tick(
    ctx: typer.Context,
    at: Annotated[str | None, typer.Option("--at", help="Event time to advance to (default: now).")] = None,
) -> None:
    """Append a ClockAdvanced event so time-based transitions (day 84, 182 days) are derived. For cron."""
    from engine.ticks import advance_clock

    application = app_of(ctx)
    when = parse_ts(at, ctx) or application.clock.now()
    derived = advance_clock(application, when)
    console.print(f"clock advanced to {when.isoformat()}; {derived} derived events appended")


@app.command()
def serve(
    ctx: typer.Context,
    mllp_port: Annotated[int | None, typer.Option(
        "--mllp-port", help="MLLP listener port, 0 = any free (mllp_port).")] = None,
    http_port: Annotated[int | None, typer.Option(
        "--http-port", help="HTTP listener port: FHIR, alerts, health, metrics (http_port).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (bind_host, default 127.0.0.1).")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", help="Bearer token for HTTP; visible in the process list, prefer ITPWATCH_HTTP_TOKEN_FILE.")]
    = None,
) -> None:
    """Listen for HL7 v2 over MLLP and FHIR R4 over HTTP; ACK each message after its commit."""
    import asyncio

    from engine.server import serve as run_server

    if token is not None:
        plain_err("itpwatch: warning: --token is visible to every user in the process list; "
                  "use ITPWATCH_HTTP_TOKEN, ITPWATCH_HTTP_TOKEN_FILE or http_token_file in the config file")
    application = app_of(ctx, mllp_port=mllp_port, http_port=http_port, bind_host=host, http_token=token)
    settings = application.settings
    if settings.mllp_port is None and settings.http_port is None:
        raise typer.BadParameter("give --mllp-port and/or --http-port (or mllp_port / http_port in the config file)")
    application.validate()
    asyncio.run(run_server(application, mllp_port=settings.mllp_port, http_port=settings.http_port,
                           host=settings.bind_host))


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
    fmt: FormatOption = OutputFormat.text,
) -> None:
    """Rejected messages with where (field), why (reason) and the ACK code the sender got."""
    from rich.table import Table

    letters = app_of(ctx).store.dead_letters(unresolved_only=not all_)
    if fmt is OutputFormat.json:
        print_json([{"id": d.id, "recorded_at": d.recorded_at.isoformat(), "feed": d.feed, "origin": d.origin,
                     "message_key": d.message_key, "field": d.field, "error_code": d.error_code,
                     "ack_code": d.ack_code, "reason": d.reason, "state": d.resolution or "open"} for d in letters])
        return
    table = Table(title="dead letters")
    for col in ("id", "recorded", "feed", "origin", "field", "code", "ack", "reason", "state"):
        table.add_column(col)
    for d in letters:
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
