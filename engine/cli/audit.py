"""Checking and comparing: verify, what-if derivation sets, profile comparison, read-model rebuilds."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.base import app, app_of, console, projections_app


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check the hash chain and re-derive everything; exit 1 on any difference."""
    import getpass

    from rich.console import Console

    from engine.verification import verify_all
    from engine.web.audit_views import record_verify

    application = app_of(ctx)
    started = application.clock.now()
    recording = Console(record=True, width=console.width)  # prints as before, and keeps the text for the record
    ok = verify_all(application, recording)
    record_verify(application, started=started, ok=ok, summary=recording.export_text(), by=f"cli:{getpass.getuser()}")
    raise typer.Exit(code=0 if ok else 1)


@app.command()
def rederive(
    ctx: typer.Context,
    profile_name: Annotated[str, typer.Option("--profile", help="Profile of the what-if run.")] = "iwg2009",
    set_name: Annotated[str | None, typer.Option("--set", help="Derivation set name (default: profile name).")]
    = None,
) -> None:
    """Derive the whole cohort under another profile into a separate, named derivation set."""
    from engine.whatif import rederive_into_set

    application = app_of(ctx)
    name, count = rederive_into_set(application, profile_name, set_name)
    console.print(f"derivation set '{name}': {count} derived events appended; the canonical set is untouched")


@app.command()
def compare(ctx: typer.Context, first: str, second: str,
            agent: Annotated[str, typer.Option("--agent")] = "daratumumab") -> None:
    """Where two profiles disagree, patient by patient, and why (rules that fired)."""
    from engine.whatif import compare_profiles

    application = app_of(ctx)
    lines = compare_profiles(application, first, second, agent)
    for line in lines:
        console.print(line, markup=False)


@projections_app.command("rebuild")
def projections_rebuild(ctx: typer.Context) -> None:
    """Rebuild every read model from the log."""
    from engine.projections import rebuild as rebuild_all

    application = app_of(ctx)
    applied = rebuild_all(application.store, application.projections)
    console.print(f"projections rebuilt from {applied} events")


@projections_app.command("update")
def projections_update(ctx: typer.Context) -> None:
    """Bring every read model up to the head of the log."""
    from engine.projections import update

    application = app_of(ctx)
    console.print(f"{update(application.store, application.projections)} event applications")
