"""CDS Hooks 2.0 endpoints: discovery and the patient-view service, with CORS for browser-based EHRs.

GET  /cds-services                            discovery (public: it describes the service, no patient data)
POST /cds-services/itpwatch-patient-view      {"cards": [...]} for the patient in context.patientId
Errors are the JSON error of engine/api/errors.py: 400 malformed request, 401 bad or missing JWT,
404 unknown service, 412 the patient cannot be identified (no prefetch, no link, no FHIR access).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import BodyTooLarge, read_body
from engine.api.errors import json_error
from engine.app import App
from engine.cds.auth import CdsAuthError, CdsConfigError, Verifier, load_clients
from engine.cds.cards import patient_cards
from engine.cds.patient import PREFETCH_KEY, Mapped, PreconditionFailed, from_fhir_server, map_known
from engine.logs import get_logger

SERVICE_ID = "itpwatch-patient-view"
HOOK = "patient-view"
MAX_REQUEST = 4 * 1024 * 1024
"""A patient-view request with its prefetched Patient is a few kB; more is refused with 413."""

log = get_logger("itpwatch.cds")

DISCOVERY: dict[str, Any] = {
    "services": [{
        "hook": HOOK,
        "id": SERVICE_ID,
        "title": "itpwatch: ITP treatment response",
        "description": (
            "Cards for patients tracked by itpwatch whose treatment episode needs attention: relapse "
            "confirmed, possible loss of response, no response by day 84, or an open urgent or critical "
            "alert (platelets below 20 or 10, serious infection). Each card gives the counts and the rule "
            "behind it. Patients with nothing to say get no card."
        ),
        "prefetch": {PREFETCH_KEY: "Patient/{{context.patientId}}"},
        "usageRequirements": "The EHR signs each call with a JWT whose issuer and public keys are "
                             "configured in itpwatch (cds_clients).",
    }]
}


def cds_routes(service: Any) -> list[Route]:
    app: App = service.app
    try:
        verifier = Verifier(load_clients(app.settings.cds_clients))
    except CdsConfigError as exc:
        raise SystemExit(f"itpwatch serve: {exc}") from exc
    cors = [Middleware(CORSMiddleware, allow_origins=app.settings.cds_cors_origins,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"],
                       max_age=600)]

    def endpoint(request: Request) -> str:
        base = app.settings.public_base_url or str(request.base_url)
        return f"{base.rstrip('/')}{request.url.path}"

    async def discovery(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204)
        return JSONResponse(DISCOVERY)

    async def patient_view(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204)
        try:
            await asyncio.to_thread(verifier.verify, request.headers.get("authorization"), endpoint(request))
        except CdsAuthError as exc:
            log.info("cds call refused", reason=type(exc).__name__)
            return json_error(401, "login", str(exc), headers={"WWW-Authenticate": "Bearer"})
        try:
            body = await read_body(request, MAX_REQUEST)
        except BodyTooLarge:
            return json_error(413, "too-costly", f"request larger than {MAX_REQUEST} bytes")
        hook_request = _parse(body)
        if isinstance(hook_request, Response):
            return hook_request
        try:
            mapped: Mapped | None = await service.run(map_known, hook_request, service.patients, app.mapping)
            if mapped is None:
                mapped = await from_fhir_server(hook_request, app.mapping)
        except PreconditionFailed as exc:
            return json_error(412, "precondition-failed", str(exc))
        cards: list[dict[str, Any]] = []
        if mapped.mrn is not None:
            cards = await service.run(cards_for, app, mapped.mrn)
        log.info("cds cards", how=mapped.how, cards=len(cards))
        return JSONResponse({"cards": cards})

    return [
        Route("/cds-services", discovery, methods=["GET", "OPTIONS"], middleware=cors),
        Route(f"/cds-services/{SERVICE_ID}", patient_view, methods=["POST", "OPTIONS"], middleware=cors),
    ]


def _parse(body: bytes) -> Mapping[str, Any] | Response:
    """The hook request, or the 400 that names what is wrong with it."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "structure", "the request body is not JSON")
    if not isinstance(doc, dict):
        return json_error(400, "structure", "the request body is not a JSON object")
    if doc.get("hook") != HOOK:
        return json_error(400, "invalid", f"hook must be {HOOK!r} for this service")
    if not isinstance(doc.get("hookInstance"), str) or not doc["hookInstance"]:
        return json_error(400, "required", "hookInstance is required")
    context = doc.get("context")
    if not isinstance(context, dict) or not isinstance(context.get("patientId"), str) or not context["patientId"]:
        return json_error(400, "required", "context.patientId is required")
    prefetch = doc.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        return json_error(400, "structure", "prefetch must be an object")
    patient = (prefetch or {}).get(PREFETCH_KEY)
    if isinstance(patient, dict) and patient.get("resourceType") == "Patient" and \
            patient.get("id") not in (None, context["patientId"]):
        return json_error(400, "invalid", "the prefetched Patient is not context.patientId")
    if doc.get("fhirAuthorization") is not None and not isinstance(doc.get("fhirServer"), str):
        return json_error(400, "required", "fhirServer is required with fhirAuthorization")
    return doc


def cards_for(app: App, patient: str) -> list[dict[str, Any]]:
    """The cards of one patient (on the storage thread): their streams, alerts and derived events."""
    from sqlalchemy import select

    from engine.projections import update as update_projections
    from engine.projections.patients import merged_streams
    from engine.store.schema import alerts

    update_projections(app.store, app.projections)
    with app.store.engine.connect() as conn:
        merged = merged_streams(conn)
        patient = merged.get(patient, patient)
        rows = conn.execute(select(alerts).where(alerts.c.patient == patient)).mappings().all()
    streams = [patient, *sorted(s for s, into in merged.items() if into == patient)]
    events = [s.event for stream in streams for s in app.store.read_stream(stream)]
    return patient_cards(patient, events, rows, app.profile, app.tzinfo, app.settings.public_base_url)
