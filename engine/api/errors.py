"""How the HTTP APIs say what went wrong: an OperationOutcome on FHIR routes, a small JSON object elsewhere.

The JSON error of the non-FHIR routes (/alerts, /cds-services, ...) is documented in docs/ehr.md:
`{"error": {"status": 404, "code": "not-found", "message": "no such alert"}}`.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

FHIR_JSON = "application/fhir+json"

ISSUE_TYPE_OF_0357 = {
    "100": "structure",
    "101": "required",
    "102": "value",
    "103": "code-invalid",
    "200": "not-supported",
    "204": "not-found",
    "207": "processing",
}
"""HL7 table 0357 (the code a rejection carries for the ACK) -> FHIR IssueType."""


def issue(severity: str, code: str, text: str, expression: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if expression:
        found["expression"] = [expression]
    return found


def operation_outcome(severity: str, code: str, text: str, expression: str | None = None) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue(severity, code, text, expression)]}


def outcome_response(status: int, code: str, text: str, expression: str | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    severity = "error" if status >= 400 else "information"
    return JSONResponse(operation_outcome(severity, code, text, expression), status_code=status,
                        headers=headers, media_type=FHIR_JSON)


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=status,
                        headers=headers)
