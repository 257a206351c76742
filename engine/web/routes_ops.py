"""Pages for integration engineers and auditors: dead letters, verify status, recorded-time replay, access log."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from starlette.responses import RedirectResponse, Response

from engine.web import access_log, audit_views, deadletter_views
from engine.web.framework import Ctx, PageError, secure
from engine.web.roles import Permission


def _letter_id(ctx: Ctx) -> int:
    raw = ctx.request.path_params["letter_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise PageError(404, "No such dead letter", "Dead letters are numbered; check the address.")
    return int(raw)


async def dead_letters(ctx: Ctx) -> Response:
    show = ctx.param("show", "open", max_len=10)
    if show not in ("open", "all"):
        raise PageError(400, "Unknown filter", "Show open or all dead letters.")
    rows = await ctx.read(partial(deadletter_views.letters, ctx.web.app, open_only=show == "open"))
    return ctx.render("dead_letters.html", rows=rows, show=show, done=ctx.param("done", max_len=200))


async def dead_letter(ctx: Ctx) -> Response:
    letter_id = _letter_id(ctx)
    view = await ctx.read(deadletter_views.letter, ctx.web.app, letter_id)
    if view is None:
        raise PageError(404, "No such dead letter", f"There is no dead letter {letter_id}.")
    await ctx.audit("view-dead-letter", target=str(letter_id))
    return ctx.render("dead_letter.html", v=view, done=ctx.param("done", max_len=300))


async def dead_letter_action(ctx: Ctx) -> Response:
    letter_id = _letter_id(ctx)
    action = ctx.field("action", max_len=20)
    if action == "retry":
        outcome = await ctx.write(deadletter_views.retry_one, ctx.web.app, letter_id, ctx.user)
        await ctx.audit("retry-dead-letter", target=str(letter_id), detail=outcome[:500])
        message = f"Retry: {outcome}"
    elif action == "discard":
        reason = ctx.field("reason", max_len=1000)
        if not reason:
            raise PageError(400, "A reason is needed", "Say why the message is discarded (e.g. 'test message "
                            "from the lab system'); it is kept with the dead letter.")
        closed = await ctx.write(deadletter_views.discard, ctx.web.app, letter_id, ctx.user, reason)
        await ctx.audit("discard-dead-letter", target=str(letter_id), detail=reason)
        message = "Discarded." if closed else "Not discarded: the message was already accepted or discarded."
    else:
        raise PageError(400, "Unknown action", "Use the Retry or Discard button.")
    from urllib.parse import quote

    return secure(RedirectResponse(f"/dead-letters/{letter_id}?done={quote(message[:250])}", status_code=303),
                  ctx.request)


async def audit_page(ctx: Ctx) -> Response:
    app = ctx.web.app
    runs = await ctx.read(audit_views.verify_history, app) if ctx.can(Permission.VIEW_AUDIT) else []
    mrn = ctx.param("mrn", max_len=64)
    at_text = ctx.param("at", max_len=40)
    replay = None
    cut = None
    if ctx.can(Permission.VIEW_AUDIT) and (mrn or at_text):
        if not mrn or not at_text:
            raise PageError(400, "MRN and time needed", "Give both the MRN and the recorded time to replay.")
        try:
            cut = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise PageError(400, "Time not understood", "Give the time as YYYY-MM-DDTHH:MM (site time).") from exc
        if cut.tzinfo is None:
            cut = cut.replace(tzinfo=app.tzinfo)
        replay = await ctx.read(audit_views.known_at, app, mrn, cut)
        if replay is None:
            raise PageError(404, "No such patient", f"itpwatch has no events for MRN {mrn}.")
        await ctx.audit("replay-patient", patient=mrn, target=cut.isoformat())
    return ctx.render("audit.html", runs=runs, replay=replay, mrn=mrn, at_text=at_text, done=ctx.param("done"))


async def run_verify(ctx: Ctx) -> Response:
    run = await ctx.read(audit_views.run_verify, ctx.web.app, ctx.user)
    await ctx.audit("verify", detail="ok" if run.ok else f"{run.differences} differences")
    return secure(RedirectResponse(f"/audit?done={'verified' if run.ok else 'differences'}", status_code=303),
                  ctx.request)


async def access_page(ctx: Ctx) -> Response:
    patient = ctx.param("patient", max_len=64)
    user = ctx.param("user", max_len=100)
    action = ctx.param("action", max_len=40)
    rows = await ctx.read(partial(access_log.read, ctx.web.app.store, patient=patient or None,
                                  username=user or None, action=action or None, limit=500))
    return ctx.render("access_log.html", rows=rows, patient=patient, user=user, action=action)
