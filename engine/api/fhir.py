"""The FHIR R4 facade's routes: resources in, OperationOutcomes and Bundles of responses out.

GET  /fhir/metadata                 the CapabilityStatement (no token needed: it says how to authenticate)
POST /fhir/{type}                   one resource: 201 + Location (stored), 200 + the same Location (the same
                                    version again), 200 not relevant, 422 rejected (dead-lettered) with the
                                    element as `expression`, 400 not a resource of that type
POST /fhir, /fhir/Bundle            a transaction Bundle: all-or-nothing, 200 transaction-response, or the
                                    failing entry's 4xx OperationOutcome and nothing stored; any other Bundle:
                                    200 batch-response, each entry in its own transaction
POST /fhir/$validate, /fhir/{type}/$validate
                                    200 OperationOutcome saying what storing it would do; nothing stored
Every error of a /fhir route is an OperationOutcome (engine/http.py routes 404/405/500 here too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import Accepted, InboundMessage, Rejected, Skipped
from adapters.fhir import location_of
from engine.api.body import MAX_BODY, BodyTooLarge, read_body
from engine.api.capability import capability_statement
from engine.api.errors import FHIR_JSON, ISSUE_TYPE_OF_0357, issue, operation_outcome, outcome_response
from engine.api.fhir_ingest import TransactionFailed, store_each, store_transaction
from engine.api.fhir_ingest import read_body as read_messages
from engine.ingest import MessageResult

ENVELOPE_FIELDS = ("Bundle", "Bundle.type", "Bundle.entry")


def fhir_routes(service: Any, authorised: Callable[[Request], bool], unauthorised: Callable[[], Response],
                public_base: str | None) -> list[Route]:
    """The routes, bound to the server's Service (storage thread, ingestor, patient index)."""
    started = datetime.now().astimezone()

    def base_of(request: Request) -> str:
        return (public_base or str(request.base_url)).rstrip("/") + "/fhir"

    async def metadata(request: Request) -> Response:
        return JSONResponse(capability_statement(base_of(request), started), media_type=FHIR_JSON)

    async def parsed(request: Request) -> tuple[bytes, dict[str, Any]] | Response:
        """The body and its JSON object, or the 4xx OperationOutcome that refuses it."""
        if not authorised(request):
            return unauthorised()
        try:
            body = await read_body(request)
        except BodyTooLarge:
            return outcome_response(413, "too-costly", f"body larger than {MAX_BODY} bytes")
        try:
            doc = json.loads(body.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            return outcome_response(400, "structure", f"body is not JSON: {exc}")
        declared = doc.get("resourceType") if isinstance(doc, dict) else None
        if not isinstance(declared, str):
            return outcome_response(400, "structure", "body is not a FHIR resource (no resourceType)",
                                    "resourceType")
        kind = request.path_params.get("resource_type")
        if kind is not None and declared != kind:
            return outcome_response(400, "invalid", f"body is a {declared}, not a {kind} resource", "resourceType")
        return body, doc

    async def create(request: Request) -> Response:
        got = await parsed(request)
        if isinstance(got, Response):
            return got
        body, doc = got
        base = base_of(request)
        if doc["resourceType"] != "Bundle":
            results = await service.run(store_each, service.app, service.ingestor, service.patients, body)
            if not results:
                return outcome_response(400, "invalid", "empty body")
            message, result = results[0]
            status, outcome, headers = _answer(message, result, base)
            return JSONResponse(outcome, status_code=status, headers=headers, media_type=FHIR_JSON)
        if doc.get("type") == "transaction":
            stored = await service.run(store_transaction, service.app, service.ingestor, service.patients, body)
            if isinstance(stored, TransactionFailed):
                return _transaction_failed(stored)
            return _bundle_response(stored, base, "transaction-response")
        results = await service.run(store_each, service.app, service.ingestor, service.patients, body)
        return _bundle_response(results, base, "batch-response")

    async def validate(request: Request) -> Response:
        got = await parsed(request)
        if isinstance(got, Response):
            return got
        body, doc = got
        if doc["resourceType"] == "Parameters":  # the operation's formal form: parameter "resource"
            inner = next((p.get("resource") for p in doc.get("parameter") or []
                          if isinstance(p, dict) and p.get("name") == "resource"), None)
            if not isinstance(inner, dict):
                return outcome_response(400, "required", "Parameters without a 'resource' parameter",
                                        "Parameters.parameter")
            body, doc = json.dumps(inner).encode("utf-8"), inner
        messages = await service.run(read_messages, service.app, service.patients, body)
        return JSONResponse(_validation_outcome(doc, messages), media_type=FHIR_JSON)

    return [
        Route("/fhir/metadata", metadata, methods=["GET"]),
        Route("/fhir/$validate", validate, methods=["POST"]),
        Route("/fhir", create, methods=["POST"]),
        Route("/fhir/{resource_type}/$validate", validate, methods=["POST"]),
        Route("/fhir/{resource_type}", create, methods=["POST"]),
    ]


def _rejection_issue(rejection: Rejected, before: bool = False, expression: str | None = None) -> dict[str, Any]:
    text = f"rejected before: {rejection.reason}" if before else rejection.reason
    return issue("error", ISSUE_TYPE_OF_0357.get(rejection.error_code, "processing"), text,
                 expression or rejection.field)


def _answer(message: InboundMessage, result: MessageResult, base: str
            ) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, OperationOutcome and headers for one stored (or refused) resource."""
    outcome = message.outcome
    if isinstance(outcome, Rejected):
        status = 400 if outcome.ack_code == "AR" else 422
        return status, {"resourceType": "OperationOutcome",
                        "issue": [_rejection_issue(outcome, result.duplicate)]}, {}
    if isinstance(outcome, Skipped):
        return 200, operation_outcome("information", "informational", f"not relevant: {outcome.reason}"), {}
    assert isinstance(outcome, Accepted)
    headers: dict[str, str] = {}
    location = location_of(message.message_id)
    if location is not None:
        headers["Location"] = f"{base}/{location}"
        headers["ETag"] = f'W/"{location.rsplit("/", 1)[-1]}"'
    if result.duplicate:
        return 200, operation_outcome("information", "duplicate", "already stored; nothing new appended"), headers
    return 201, operation_outcome("information", "informational", f"stored {len(outcome.events)} events"), headers


def _bundle_response(results: list[tuple[InboundMessage, MessageResult]], base: str, kind: str) -> Response:
    if len(results) == 1 and isinstance(results[0][0].outcome, Rejected) and \
            results[0][0].outcome.field in ENVELOPE_FIELDS:
        # The envelope itself was rejected (no entry was read): answer for the whole Bundle.
        status, body, _ = _answer(results[0][0], results[0][1], base)
        return JSONResponse(body, status_code=status, media_type=FHIR_JSON)
    entries = []
    for message, result in results:
        status, outcome, headers = _answer(message, result, base)
        response: dict[str, Any] = {"status": f"{status} {HTTPStatus(status).phrase}"}
        if "Location" in headers:
            response["location"] = headers["Location"]
            response["etag"] = headers["ETag"]
        response["outcome"] = outcome
        entries.append({"response": response})
    return JSONResponse({"resourceType": "Bundle", "type": kind, "entry": entries}, media_type=FHIR_JSON)


def _transaction_failed(failed: TransactionFailed) -> Response:
    rejection = failed.rejection
    status = 400 if rejection.ack_code == "AR" else 422
    if rejection.field in ENVELOPE_FIELDS:
        return outcome_response(status, ISSUE_TYPE_OF_0357.get(rejection.error_code, "processing"),
                                rejection.reason, rejection.field)
    found = _rejection_issue(rejection, failed.before, failed.expression)
    found["diagnostics"] = f"transaction not stored (nothing of it): entry {failed.entry}: {found['diagnostics']}"
    return JSONResponse({"resourceType": "OperationOutcome", "issue": [found]}, status_code=status,
                        media_type=FHIR_JSON)


def _validation_outcome(doc: dict[str, Any], messages: list[InboundMessage]) -> dict[str, Any]:
    in_bundle = doc.get("resourceType") == "Bundle"
    issues: list[dict[str, Any]] = []
    for n, message in enumerate(messages):
        outcome = message.outcome
        where = f"Bundle.entry[{n}]: " if in_bundle and len(messages) > 1 else ""
        if isinstance(outcome, Rejected):
            expression = outcome.field
            if in_bundle and outcome.field not in ENVELOPE_FIELDS:
                expression = TransactionFailed(n, outcome).expression
            found = _rejection_issue(outcome, expression=expression)
            found["diagnostics"] = where + found["diagnostics"]
            issues.append(found)
        elif isinstance(outcome, Skipped):
            issues.append(issue("information", "informational", f"{where}valid; not relevant: {outcome.reason}"))
        else:
            assert isinstance(outcome, Accepted)
            issues.append(issue("information", "informational",
                                f"{where}valid; would store {len(outcome.events)} events"))
    if not issues:
        issues.append(issue("information", "informational", "nothing to validate"))
    return {"resourceType": "OperationOutcome", "issue": issues}
