"""The HTTP side of `serve`: FHIR R4 in, alerts out. Every route needs the configured bearer token.

POST /fhir/{type}   one resource: 201 stored, 200 duplicate or not relevant, 422 rejected (dead-lettered),
                    400 not a resource of that type; the body is an OperationOutcome.
POST /fhir          a Bundle: 200 with a batch-response Bundle, one entry (status and outcome) per entry,
                    each stored in its own transaction; a single resource is answered as on /fhir/{type}.
GET  /alerts        alerts as JSON (?open=1 for open ones only).
POST /alerts/{id}/ack  {"by": ..., "note": ...}.
GET  /health        liveness.

The clinician web app (engine/web) adds its pages (/, /patients, /report, ...) with session log-in.
"""

from __future__ import annotations

import hmac
import json
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import Accepted, Rejected, Skipped
from engine.logs import get_logger
from engine.web import web_routes

FHIR_JSON = "application/fhir+json"
MAX_BODY = 32 * 1024 * 1024
"""Largest request body read; larger ones get 413 before anything is stored."""

log = get_logger("itpwatch.http")


def operation_outcome(severity: str, code: str, text: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _outcome_response(status: int, code: str, text: str, expression: str | None = None,
                      headers: dict[str, str] | None = None) -> Response:
    severity = "error" if status >= 400 else "information"
    return JSONResponse(operation_outcome(severity, code, text, expression), status_code=status, headers=headers,
                        media_type=FHIR_JSON)


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def make_http_app(service: Any) -> Starlette:
    token: str | None = service.app.settings.http_token or None  # an empty token is no token

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if token is None or header[:7].lower() != "bearer ":
            return False
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())

    def unauthorised() -> Response:
        return _outcome_response(401, "login", "a valid bearer token is required",
                                 headers={"WWW-Authenticate": "Bearer"})

    async def post_resource(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        try:
            body = await _read_body(request)
        except BodyTooLarge:
            return _outcome_response(413, "too-costly", f"body larger than {MAX_BODY} bytes")
        kind = request.path_params.get("resource_type")
        try:
            doc = json.loads(body.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            return _outcome_response(400, "structure", f"body is not JSON: {exc}")
        declared = doc.get("resourceType") if isinstance(doc, dict) else None
        if not isinstance(declared, str):
            return _outcome_response(400, "structure", "body is not a FHIR resource (no resourceType)",
                                     "resourceType")
        if kind is not None and declared != kind:
            return _outcome_response(400, "invalid", f"body is a {declared}, not a {kind} resource", "resourceType")
        results = await service.run(service.store_fhir, body)
        if declared == "Bundle":
            return _bundle_response(results)
        return _single_response(results)

    async def list_alerts(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        from engine.alerts.queries import alerts_as_json

        open_only = request.query_params.get("open", "").lower() in ("1", "true", "yes")
        return JSONResponse(await service.run(alerts_as_json, service.app, open_only))

    async def ack_alert(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        from engine.alerts.queries import acknowledge

        try:
            payload = await request.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        by = str(payload.get("by") or "")
        if not by:
            return JSONResponse({"error": "'by' (who acknowledges) is required"}, status_code=400)
        note = payload.get("note")
        try:
            result = await service.run(acknowledge, service.app, request.path_params["alert_id"], by,
                                       None if note is None else str(note))
        except KeyError:
            return JSONResponse({"error": "no such alert"}, status_code=404)
        return JSONResponse(result, status_code=200)

    async def health(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405) and not authorised(request):
            return unauthorised()  # unknown paths tell an unauthenticated caller nothing
        return _outcome_response(exc.status_code, "not-supported" if exc.status_code in (404, 405) else "processing",
                                 str(exc.detail))

    async def server_error(_request: Request, exc: Exception) -> Response:
        # Nothing was committed for the failing message (its transaction rolled back); the client may retry.
        log.error("http request failed", exc_type=type(exc).__name__)
        return _outcome_response(500, "exception", f"internal error ({type(exc).__name__}); nothing stored for "
                                 "the failing resource, retry later")

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/fhir", post_resource, methods=["POST"]),
            Route("/fhir/{resource_type}", post_resource, methods=["POST"]),
            Route("/alerts", list_alerts, methods=["GET"]),
            Route("/alerts/{alert_id}/ack", ack_alert, methods=["POST"]),
            *web_routes(service),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


def _status_of(message: Any, result: Any) -> tuple[int, dict[str, Any]]:
    outcome = message.outcome
    if isinstance(outcome, Rejected):
        status = 400 if outcome.ack_code == "AR" else 422
        if result.duplicate:
            return status, operation_outcome("error", "processing", f"rejected before: {outcome.reason}",
                                             outcome.field)
        return status, operation_outcome("error", "processing", outcome.reason, outcome.field)
    if isinstance(outcome, Skipped):
        return 200, operation_outcome("information", "informational", f"not relevant: {outcome.reason}")
    assert isinstance(outcome, Accepted)
    if result.duplicate:
        return 200, operation_outcome("information", "duplicate", "already stored; nothing new appended")
    return 201, operation_outcome("information", "informational", f"stored {len(outcome.events)} events")


def _single_response(results: list[tuple[Any, Any]]) -> Response:
    if not results:
        return _outcome_response(400, "invalid", "empty body")
    status, body = _status_of(*results[0])
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def _bundle_response(results: list[tuple[Any, Any]]) -> Response:
    if len(results) == 1 and _envelope_rejected(results[0][0].outcome):
        # The envelope itself was rejected (no entry was read): answer for the whole Bundle.
        status, body = _status_of(*results[0])
        return JSONResponse(body, status_code=status, media_type=FHIR_JSON)
    out = []
    for message, result in results:
        status, body = _status_of(message, result)
        out.append({"response": {"status": f"{status} {HTTPStatus(status).phrase}", "outcome": body}})
    bundle = {"resourceType": "Bundle", "type": "batch-response", "entry": out}
    return JSONResponse(bundle, status_code=200, media_type=FHIR_JSON)


def _envelope_rejected(outcome: Any) -> bool:
    return isinstance(outcome, Rejected) and outcome.field in ("Bundle", "Bundle.type", "Bundle.entry")
