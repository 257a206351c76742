"""The FHIR facade's conventions over a real `itpwatch serve`: metadata, Location, transactions, 422, $validate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from server_support import Server, query

from tests.fhir_resources import bundle, observation, patient

AUTH = {"Authorization": "Bearer secret", "Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_base, timeout=10.0) as client:
        yield client


def post(http: httpx.Client, path: str, body: Any) -> httpx.Response:
    return http.post(path, content=json.dumps(body).encode(), headers=AUTH)


def count(server: Server, sql: str, **params: Any) -> int:
    ((n,),) = query(server.db, sql, **params)
    return int(n)


def test_metadata_is_a_capability_statement(http: httpx.Client) -> None:
    r = http.get("/fhir/metadata")  # no token: it says how to authenticate
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    statement = CapabilityStatement.model_validate(r.json())
    assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
    rest = r.json()["rest"][0]
    types = {res["type"]: res for res in rest["resource"]}
    assert {"Observation", "MedicationAdministration", "Patient", "Bundle"} <= set(types)
    assert {"code": "create"} in types["Observation"]["interaction"]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    assert "validate" in {o["name"] for o in rest["operation"]}


def test_transaction_is_all_or_nothing(http: httpx.Client, server: Server) -> None:
    good = observation("tx-ok-1", "930001", "2024-03-05T08:00", 40)
    bad = observation("tx-bad-1", "930001", "2024-03-06T08:00", 41)
    bad["status"] = "bogus"
    r = post(http, "/fhir", bundle(patient("tx-pat-1", "930001"), good, bad, kind="transaction"))
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2].resource.status"]
    assert "bogus" in outcome["issue"][0]["diagnostics"]
    assert count(server, "SELECT count(*) FROM events WHERE stream = '930001'") == 0
    # the same Bundle again: the same answer, one dead letter only
    again = post(http, "/fhir", bundle(patient("tx-pat-1", "930001"), good, bad, kind="transaction"))
    assert again.status_code == 422 and "rejected before" in again.json()["issue"][0]["diagnostics"]
    assert count(server, "SELECT count(*) FROM dead_letters WHERE message_key LIKE 'fhir-transaction|%'") == 1
    fixed = bundle(patient("tx-pat-1", "930001"), good, kind="transaction")
    ok = post(http, "/fhir", fixed)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    assert body["entry"][1]["response"]["location"].endswith("/fhir/Observation/tx-ok-1/_history/1")
    assert count(server, "SELECT count(*) FROM events WHERE stream = '930001'") == 3  # link, demographics, count


def test_batch_is_answered_entry_by_entry(http: httpx.Client, server: Server) -> None:
    good = observation("bt-ok-1", "930002", "2024-03-05T08:00", 40)
    bad = observation("bt-bad-1", "930002", "2024-03-06T08:00", 41)
    del bad["code"]
    r = post(http, "/fhir", bundle(good, bad, kind="batch"))
    assert r.status_code == 200 and r.json()["type"] == "batch-response"
    first, second = (e["response"] for e in r.json()["entry"])
    assert first["status"] == "201 Created" and first["location"].endswith("Observation/bt-ok-1/_history/1")
    assert second["status"] == "422 Unprocessable Entity"
    assert second["outcome"]["issue"][0]["expression"] == ["Observation.code"]
    assert count(server, "SELECT count(*) FROM events WHERE stream = '930002'") == 1


@pytest.mark.parametrize(("drop", "expression"), [("code", "Observation.code"), ("status", "Observation.status"),
                                                  ("subject", "Observation.subject")])
def test_missing_required_element_is_422_naming_it(http: httpx.Client, drop: str, expression: str) -> None:
    resource = observation(f"req-{drop}", "930003", "2024-03-05T08:00", 40)
    del resource[drop]
    r = post(http, "/fhir/Observation", resource)
    assert r.status_code == 422, r.text
    found = r.json()["issue"][0]
    assert found["severity"] == "error" and found["expression"] == [expression]
    assert found["code"] == "required"


def test_validate_stores_nothing(http: httpx.Client, server: Server) -> None:
    resource = observation("val-1", "930004", "2024-03-05T08:00", 40)
    r = post(http, "/fhir/Observation/$validate", resource)
    assert r.status_code == 200 and r.json()["issue"][0]["severity"] == "information"
    broken = {**resource, "status": "bogus"}
    r = post(http, "/fhir/$validate", {"resourceType": "Parameters",
                                       "parameter": [{"name": "resource", "resource": broken}]})
    assert r.status_code == 200
    assert r.json()["issue"][0]["severity"] == "error" and r.json()["issue"][0]["expression"] == ["Observation.status"]
    assert post(http, "/fhir/Patient/$validate", resource).status_code == 400
    assert count(server, "SELECT count(*) FROM events WHERE stream = '930004'") == 0
    assert count(server, "SELECT count(*) FROM dead_letters WHERE message_key LIKE '%val-1%'") == 0


def test_every_error_is_an_outcome_on_fhir_routes_and_a_json_error_elsewhere(http: httpx.Client) -> None:
    r = http.get("/fhir/Observation", headers=AUTH)
    assert r.status_code == 405 and r.json()["resourceType"] == "OperationOutcome"
    r = http.get("/fhir/Observation")
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    r = http.post("/alerts/none/ack", json={"by": "dr-x"}, headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not-found"
    r = http.get("/alerts")
    assert r.status_code == 401 and r.json()["error"]["status"] == 401
    r = http.get("/no/such/path", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()
