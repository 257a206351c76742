"""The HTTP side of `serve`: FHIR R4 in, alerts out, CDS Hooks for the EHR.

/fhir/...           the FHIR facade (engine/api/fhir.py); bearer token; every error an OperationOutcome.
GET  /alerts        alerts as JSON (?open=1 for open ones only); bearer token.
POST /alerts/{id}/ack  {"by": ..., "note": ...}; bearer token.
/cds-services/...   CDS Hooks 2.0 (engine/cds/): JWTs signed by the EHR instead of the bearer token.
Without a token (for load balancers, orchestrators and Prometheus; they reveal no patient data):
GET  /health/live   200 while the process answers.
GET  /health/ready  200 when every readiness check passes, else 503; the checks in the body
                    (engine/observability/health.py).
GET  /metrics       Prometheus text format (engine/observability/metrics.py).
Errors outside /fhir are the JSON error of engine/api/errors.py (documented in docs/ehr.md).
The clinician web app (engine/web) adds its pages (/, /patients, /report, ...) with session log-in.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.errors import json_error, outcome_response
from engine.api.fhir import fhir_routes
from engine.logs import get_logger
from engine.web import web_routes

log = get_logger("itpwatch.http")


def _is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


def make_http_app(service: Any) -> Starlette:
    token: str | None = service.app.settings.http_token or None  # an empty token is no token

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if token is None or header[:7].lower() != "bearer ":
            return False
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())

    def unauthorised() -> Response:
        return outcome_response(401, "login", "a valid bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})

    def unauthorised_json() -> Response:
        return json_error(401, "login", "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    async def list_alerts(request: Request) -> Response:
        if not authorised(request):
            return unauthorised_json()
        from engine.alerts.queries import alerts_as_json

        open_only = request.query_params.get("open", "").lower() in ("1", "true", "yes")
        return JSONResponse(await service.run(alerts_as_json, service.app, open_only))

    async def ack_alert(request: Request) -> Response:
        if not authorised(request):
            return unauthorised_json()
        from engine.alerts.queries import acknowledge

        try:
            payload = await request.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        by = str(payload.get("by") or "")
        if not by:
            return json_error(400, "required", "'by' (who acknowledges) is required")
        note = payload.get("note")
        try:
            result = await service.run(acknowledge, service.app, request.path_params["alert_id"], by,
                                       None if note is None else str(note))
        except KeyError:
            return json_error(404, "not-found", "no such alert")
        return JSONResponse(result, status_code=200)

    async def live(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(_request: Request) -> Response:
        is_ready, body = await service.readiness.report()
        return JSONResponse(body, status_code=200 if is_ready else 503)

    async def metrics(_request: Request) -> Response:
        import asyncio

        from engine.observability.metrics import CONTENT_TYPE

        body = await asyncio.to_thread(service.metrics.exposition)  # the outbox gauges query the database
        return Response(body, media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        fhir = _is_fhir(request)
        if exc.status_code in (404, 405) and not authorised(request) and not request.url.path.startswith(
                "/cds-services"):
            return unauthorised() if fhir else unauthorised_json()  # unknown paths tell a stranger nothing
        code = "not-supported" if exc.status_code in (404, 405) else "processing"
        if fhir:
            return outcome_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
        return json_error(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    async def server_error(request: Request, exc: Exception) -> Response:
        # Nothing was committed for the failing message (its transaction rolled back); the client may retry.
        log.error("http request failed", exc_type=type(exc).__name__)
        text = f"internal error ({type(exc).__name__}); nothing stored for the failing resource, retry later"
        return outcome_response(500, "exception", text) if _is_fhir(request) else json_error(500, "exception", text)

    from engine.cds.routes import cds_routes

    public_base = service.app.settings.public_base_url
    return Starlette(
        routes=[
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *fhir_routes(service, authorised, unauthorised, public_base),
            Route("/alerts", list_alerts, methods=["GET"]),
            Route("/alerts/{alert_id}/ack", ack_alert, methods=["POST"]),
            *cds_routes(service),
            *web_routes(service),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
