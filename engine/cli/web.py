"""Accounts of the web app and its access log: `itpwatch users ...`, `itpwatch access-log`."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer

from engine.cli.base import app, app_of, console, err, parse_ts

users_app = typer.Typer(no_args_is_help=True, help="Web app accounts: add, list, disable.")
app.add_typer(users_app, name="users")


def _who() -> str:
    return f"cli:{getpass.getuser()}"


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: str,
    role: Annotated[str, typer.Option("--role", help="clinician, nurse, integration, auditor or admin.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input (for scripts).")] = False,
) -> None:
    """Create an account. The password is prompted twice (or read from stdin) and stored as an argon2 hash."""
    from engine.web import access_log
    from engine.web.accounts import AccountError, add_user

    application = app_of(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = add_user(application.store, name, role, password, application.clock.now())
    except AccountError as exc:
        err.print(f"itpwatch users add: {exc}")
        raise typer.Exit(code=2) from exc
    access_log.record(application.store, at=application.clock.now(), username=_who(), role=None,
                      action="user-added", target=user.username, detail=f"role {user.role}")
    console.print(f"user {user.username} added with role {user.role}")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """Every account with its role and whether it is active."""
    from rich.table import Table

    from engine.web.accounts import list_users

    application = app_of(ctx)
    table = Table(title="users")
    for col in ("user", "role", "created", "state"):
        table.add_column(col)
    tz = application.tzinfo
    for u in list_users(application.store):
        state = "active" if u.active else f"disabled {u.disabled_at.astimezone(tz).isoformat(timespec='minutes')}" \
            if u.disabled_at else "disabled"
        table.add_row(u.username, u.role, u.created_at.astimezone(tz).isoformat(timespec="minutes"), state)
    console.print(table)


@users_app.command("disable")
def users_disable(ctx: typer.Context, name: str) -> None:
    """Disable an account: its sessions end at once; the account stays in the access log."""
    from engine.web import access_log
    from engine.web.accounts import AccountError, disable_user

    application = app_of(ctx)
    try:
        changed = disable_user(application.store, name, application.clock.now())
    except AccountError as exc:
        err.print(f"itpwatch users disable: {exc}")
        raise typer.Exit(code=2) from exc
    if changed:
        access_log.record(application.store, at=application.clock.now(), username=_who(), role=None,
                          action="user-disabled", target=name)
    console.print(f"user {name} {'disabled' if changed else 'was already disabled'}")


@app.command("access-log")
def access_log_command(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient (MRN).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action, e.g. view-patient.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this time on (ISO timestamp).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries, newest first.")] = 200,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Who looked at which patient and what they did in the web app (append-only), newest first."""
    from rich.table import Table
    from rich.text import Text

    from engine.web import access_log

    application = app_of(ctx)
    rows = access_log.read(application.store, patient=patient, username=user, action=action,
                           since=parse_ts(since, ctx), limit=limit)
    tz = application.tzinfo
    if fmt == "json":
        for r in rows:
            print(json.dumps({"id": r.id, "at": r.at.astimezone(tz).isoformat(), "user": r.username, "role": r.role,
                              "action": r.action, "patient": r.patient, "target": r.target, "detail": r.detail,
                              "client": r.client}, ensure_ascii=False))
        return
    if fmt != "table":
        raise typer.BadParameter("--format is table or json")
    table = Table(title="access log")
    for col in ("when", "user", "role", "action", "patient", "target", "detail"):
        table.add_column(col, overflow="fold")
    for r in rows:  # Text(): names and notes are data, never console markup
        table.add_row(*(Text(v) for v in (r.at.astimezone(tz).isoformat(timespec="seconds"), r.username,
                                          r.role or "-", r.action, r.patient or "-", r.target or "-", r.detail or "")))
    console.print(table)
