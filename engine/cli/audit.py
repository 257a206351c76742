"""Checking and comparing: verify, what-if derivation sets, profile comparison, read-model rebuilds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.base import app, app_of, console, err, projections_app
from engine.cli.output import styled


@app.command()
def verify(
    ctx: typer.Context,
    checkpoints: Annotated[Path | None, typer.Option(
        "--checkpoints", help="Directory of signed checkpoints to hold the log against (default: checkpoint_dir).")]
    = None,
    public_key: Annotated[list[Path] | None, typer.Option(
        "--public-key", help="Public key (PEM) the checkpoints were signed with; repeatable.")] = None,
) -> None:
    """Check the hash chains (and checkpoints), re-derive, rebuild the read models; exit 1 on any difference."""
    import getpass

    from rich.console import Console

    from engine.checkpoints import CheckpointError
    from engine.verification import verify_all
    from engine.web.audit_views import record_verify

    application = app_of(ctx)
    directory = checkpoints or application.settings.checkpoint_dir
    started = application.clock.now()
    recording = Console(record=True, width=console.width)  # prints as before, and keeps the text for the record
    try:
        ok = verify_all(application, recording, checkpoints=directory, public_keys=public_key or [])
    except CheckpointError as exc:
        err.print(styled("verify: ", "red"), str(exc))
        raise typer.Exit(code=2) from None
    record_verify(application, started=started, ok=ok, summary=recording.export_text(), by=f"cli:{getpass.getuser()}")
    raise typer.Exit(code=0 if ok else 1)


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Verify the chains, then sign their heads (checkpoint_key) into checkpoint_dir and the checkpoint sink."""
    from engine.checkpoints import CheckpointError, checkpoint_now

    try:
        result = checkpoint_now(app_of(ctx))
    except CheckpointError as exc:
        err.print(styled("checkpoint: ", "red"), str(exc))
        raise typer.Exit(code=2) from None
    if result.findings:
        err.print(styled("checkpoint refused: the log does not verify against the earlier checkpoints", "red"))
        for finding in result.findings[:50]:
            err.print(f"  {finding}")
        raise typer.Exit(code=1)
    assert result.path is not None and result.body is not None
    console.print(f"checkpoint written to {result.path} (events up to position "
                  f"{result.body['chains']['events']['length']})")


@app.command("checkpoint-key")
def checkpoint_key(path: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).")]
                   ) -> None:
    """Create an Ed25519 signing key for checkpoints, and its public key beside it (PATH.pub)."""
    from engine.checkpoints import CheckpointError, generate_key

    try:
        public = generate_key(path)
    except CheckpointError as exc:
        err.print(styled("checkpoint-key: ", "red"), str(exc))
        raise typer.Exit(code=2) from None
    console.print(f"private key {path} (keep it off the database host), public key {public}")


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
