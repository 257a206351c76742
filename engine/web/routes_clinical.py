"""The clinical pages: the worklist (with acknowledgement), the patient list and the patient page."""

from __future__ import annotations

from functools import partial

from starlette.responses import RedirectResponse, Response

from engine.web import alert_views, patient_views
from engine.web.framework import Ctx, PageError, secure

MRN_MAX = 64


async def worklist(ctx: Ctx) -> Response:
    state = ctx.param("state", "open", max_len=20)
    kind = ctx.param("kind", max_len=80)
    patient = ctx.param("patient", max_len=MRN_MAX)
    if state not in (*alert_views.STATES, "all"):
        raise PageError(400, "Unknown state", f"The state filter is one of {', '.join(alert_views.STATES)} or all.")
    found = await ctx.write(partial(alert_views.worklist, ctx.web.app, state=state, kind=kind, patient=patient))
    done = ctx.param("done", max_len=10)
    return ctx.render("worklist.html", wl=found, state=state, kind=kind, patient=patient,
                      done=int(done) if done.isdigit() else None)


async def acknowledge(ctx: Ctx) -> Response:
    assert ctx.form is not None
    one = ctx.field("one", max_len=64)
    ids = [one] if one else [str(v) for v in ctx.form.getlist("alert") if isinstance(v, str)][:500]
    if not ids:
        raise PageError(400, "Nothing selected", "Tick the alerts to acknowledge, or use the button of one alert.")
    note = ctx.field("note", max_len=1000) or None
    try:
        results = await ctx.write(alert_views.acknowledge_many, ctx.web.app, ids, ctx.user, note)
    except KeyError as exc:
        raise PageError(404, "Unknown alert", f"No alert with id {exc.args[0]!s:.64}; reload the worklist.") from exc
    changed = 0
    for alert_id, patient, did in results:
        changed += did
        await ctx.audit("acknowledge", patient=patient, target=alert_id, detail=note)
    back = ctx.field("back", "/", max_len=500)
    back = back if back.startswith("/") and not back.startswith("//") else "/"
    sep = "&" if "?" in back else "?"
    return secure(RedirectResponse(f"{back}{sep}done={changed}", status_code=303), ctx.request)


async def patients(ctx: Ctx) -> Response:
    query = ctx.param("q", max_len=MRN_MAX)
    agent = ctx.param("agent", max_len=60)
    state = ctx.param("state", max_len=40)
    sort = ctx.param("sort", "patient", max_len=20)
    order = ctx.param("dir", "asc", max_len=4)
    if sort not in patient_views.SORTABLE or order not in ("asc", "desc"):
        raise PageError(400, "Unknown sort order", "Sort by one of the column headings.")
    listing = await ctx.write(partial(patient_views.patient_list, ctx.web.app, query=query, agent=agent,
                                      state=state, sort=sort, descending=order == "desc"))
    if query and len(listing.rows) == 1 and listing.rows[0].patient == query:
        return secure(RedirectResponse(f"/patients/{query}", status_code=303), ctx.request)
    return ctx.render("patients.html", listing=listing, q=query, agent=agent, state=state, sort=sort, order=order)


async def patient(ctx: Ctx) -> Response:
    mrn = ctx.request.path_params["mrn"]
    if len(mrn) > MRN_MAX:
        raise PageError(400, "MRN too long", f"An MRN has at most {MRN_MAX} characters.")
    page = await ctx.read(patient_views.patient_page, ctx.web.app, mrn)
    if page is None:
        return ctx.web.error_page(ctx.request, 404, "No such patient",
                                  f"itpwatch has no events for MRN {mrn}. Check the number, or search the patient "
                                  "list.", ctx.session)
    await ctx.audit("view-patient", patient=mrn)
    return ctx.render("patient.html", p=page)
