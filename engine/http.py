"""The HTTP side of `serve`: FHIR R4 in, alerts out. Every route needs the configured bearer token."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import Accepted, Rejected, Skipped


def operation_outcome(severity: str, code: str, text: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def make_http_app(service: Any) -> Starlette:
    token = service.app.settings.http_token

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if token is None or not header.lower().startswith("bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())

    def unauthorised() -> Response:
        return JSONResponse(operation_outcome("error", "login", "a valid bearer token is required"), status_code=401,
                            headers={"WWW-Authenticate": "Bearer"}, media_type="application/fhir+json")

    async def post_resource(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        body = await request.body()
        kind = request.path_params.get("resource_type")
        if kind is not None:
            try:
                declared = json.loads(body.decode("utf-8-sig")).get("resourceType")
            except (ValueError, AttributeError, UnicodeDecodeError):
                declared = None
            if declared != kind:
                return JSONResponse(operation_outcome("error", "invalid",
                                                      f"body is not a {kind} resource", "resourceType"),
                                    status_code=400, media_type="application/fhir+json")
        results = await service.run(service.store_fhir, body)
        if kind is not None or len(results) <= 1:
            return _single_response(results)
        return _bundle_response(results)

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
        by = str(payload.get("by") or "")
        if not by:
            return JSONResponse({"error": "'by' (who acknowledges) is required"}, status_code=400)
        try:
            result = await service.run(acknowledge, service.app, request.path_params["alert_id"], by,
                                       payload.get("note"))
        except KeyError:
            return JSONResponse({"error": "no such alert"}, status_code=404)
        return JSONResponse(result, status_code=200)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/fhir", post_resource, methods=["POST"]),
            Route("/fhir/{resource_type}", post_resource, methods=["POST"]),
            Route("/alerts", list_alerts, methods=["GET"]),
            Route("/alerts/{alert_id}/ack", ack_alert, methods=["POST"]),
        ]
    )


def _status_of(message: Any, result: Any) -> tuple[int, dict[str, Any]]:
    outcome = message.outcome
    if isinstance(outcome, Rejected):
        if result.duplicate:
            return 422, operation_outcome("error", "processing", f"rejected before: {outcome.reason}", outcome.field)
        return 422, operation_outcome("error", "processing", outcome.reason, outcome.field)
    if isinstance(outcome, Skipped):
        return 200, operation_outcome("information", "informational", f"not relevant: {outcome.reason}")
    assert isinstance(outcome, Accepted)
    if result.duplicate:
        return 200, operation_outcome("information", "duplicate", "already stored; nothing new appended")
    return 201, operation_outcome("information", "informational", f"stored {len(outcome.events)} events")


def _single_response(results: list[tuple[Any, Any]]) -> Response:
    if not results:
        return JSONResponse(operation_outcome("error", "invalid", "empty body"), status_code=400,
                            media_type="application/fhir+json")
    status, body = _status_of(*results[0])
    if status == 422 and results[0][0].outcome.ack_code == "AR":
        status = 400
    return JSONResponse(body, status_code=status, media_type="application/fhir+json")


def _bundle_response(results: list[tuple[Any, Any]]) -> Response:
    entries = []
    for message, result in results:
        status, body = _status_of(message, result)
        entries.append({"response": {"status": str(status), "outcome": body}})
    bundle = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
    return JSONResponse(bundle, status_code=200, media_type="application/fhir+json")
