"""`itpwatch serve` over HTTP: FHIR R4 in, alerts out, bearer token, loopback binding. Real process, real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import BUNDLE_FILE, Server, query

AUTH = {"Authorization": "Bearer secret"}
FHIR = {"Content-Type": "application/fhir+json"}
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
MRN_SYSTEM = "https://ukx.example.org/fhir/sid/mrn"


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_base, timeout=10.0) as client:
        yield client


def platelet_observation(rid: str, subject: dict[str, Any], *, status: str = "final",
                         value: float = 23) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": subject,
        "effectiveDateTime": "2024-03-05T08:10:00+01:00",
        "issued": "2024-03-05T09:35:00+01:00",
        "valueQuantity": {"value": value, "unit": "10*9/L", "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }


def post(http: httpx.Client, path: str, resource: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post(path, content=json.dumps(resource).encode(), headers={**FHIR, **(AUTH if headers is None
                                                                                   else headers)})


def streams_of(db: Path, resource_key: str) -> set[str]:
    """Streams of the events of every version of a resource (`source|Type/id`)."""
    return {s for (s,) in query(db, "SELECT stream FROM events WHERE message_key LIKE :k",
                                k=f"{resource_key}/_history/%")}


def test_token_required(http: httpx.Client) -> None:
    obs = platelet_observation("obs-auth-1", {"identifier": {"type": MR, "value": "940001"}})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2VjcmV0"},
                    {"Authorization": "Bearer"}, {"Authorization": "Bearer secret2"}, {"Authorization": "secret"}):
        r = post(http, "/fhir/Observation", obs, headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["resourceType"] == "OperationOutcome"
        assert http.get("/alerts", headers=headers).status_code == 401
        assert http.post("/fhir", content=b"{}", headers=headers).status_code == 401
        assert http.post("/alerts/x/ack", json={"by": "me"}, headers=headers).status_code == 401
        assert http.get("/health", headers=headers).status_code == 401
        assert http.get("/no/such/path", headers=headers).status_code == 401
    assert http.get("/health", headers=AUTH).json() == {"status": "ok"}


def test_post_platelet_observation_201_then_duplicate_200(http: httpx.Client, server: Server) -> None:
    obs = platelet_observation("obs-http-1", {"identifier": {"type": MR, "system": MRN_SYSTEM, "value": "940002"}})
    r = post(http, "/fhir/Observation", obs)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["resourceType"] == "OperationOutcome"
    assert streams_of(server.db, "fhir|Observation/obs-http-1") == {"940002"}
    location = r.headers["location"]
    assert location.startswith(server.http_base + "/fhir/Observation/obs-http-1/_history/")
    again = post(http, "/fhir/Observation", obs)
    assert again.status_code == 200
    assert again.json()["issue"][0]["code"] == "duplicate"
    assert again.headers["location"] == location
    (n,), = query(server.db, "SELECT count(*) FROM events WHERE message_key LIKE "
                  "'fhir|Observation/obs-http-1/_history/%'")
    assert n == 1


def test_bad_status_is_rejected_with_an_outcome_naming_the_path(http: httpx.Client, server: Server) -> None:
    obs = platelet_observation("obs-bad-1", {"identifier": {"type": MR, "value": "940003"}}, status="bogus")
    r = post(http, "/fhir/Observation", obs)
    assert r.status_code in (400, 422), r.text
    issue = r.json()["issue"][0]
    assert r.json()["resourceType"] == "OperationOutcome"
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Observation.status"]
    assert "bogus" in issue["diagnostics"]
    assert streams_of(server.db, "fhir|Observation/obs-bad-1") == set()
    (n,), = query(server.db, "SELECT count(*) FROM dead_letters WHERE message_key LIKE "
                  "'fhir|Observation/obs-bad-1/_history/%'")
    assert n == 1


def test_malformed_bodies_get_400_outcomes(http: httpx.Client) -> None:
    r = http.post("/fhir/Observation", content=b"{not json", headers={**FHIR, **AUTH})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    r = post(http, "/fhir/Observation", {"resourceType": "Patient", "id": "p"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["resourceType"]
    r = post(http, "/fhir", ["not", "a", "resource"])
    assert r.status_code == 400
    r = post(http, "/fhir", {"resourceType": "Bundle", "type": "no-such-type", "entry": []})
    assert r.status_code in (400, 422) and r.json()["resourceType"] == "OperationOutcome"


def test_post_example_bundle_gives_batch_response(http: httpx.Client, server: Server) -> None:
    bundle = json.loads(BUNDLE_FILE.read_text("utf-8"))
    r = http.post("/fhir", content=BUNDLE_FILE.read_bytes(), headers={**FHIR, **AUTH})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "batch-response"
    assert len(body["entry"]) == len(bundle["entry"])
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert all(s.startswith(("200", "201")) for s in statuses), statuses
    assert statuses.count("201 Created") >= 20
    # The two platelet Observations of the bundle are in their patients' MRN streams.
    (n,), = query(server.db, "SELECT count(*) FROM events WHERE type = 'PlateletCountRecorded' "
                  "AND message_key LIKE 'fhir|Observation/plt-1%' AND stream LIKE '1000%'")
    assert n == 2
    # The same Bundle through /fhir/Bundle: a batch-response again, every entry a duplicate now.
    again = http.post("/fhir/Bundle", content=BUNDLE_FILE.read_bytes(), headers={**FHIR, **AUTH})
    assert again.status_code == 200 and again.json()["type"] == "batch-response"
    assert {e["response"]["status"] for e in again.json()["entry"]} == {"200 OK"}


def test_subject_by_patient_id_and_by_identifier_resolve_to_the_same_stream(http: httpx.Client,
                                                                            server: Server) -> None:
    patient = {"resourceType": "Patient", "id": "pat-http-7",
               "identifier": [{"type": MR, "system": MRN_SYSTEM, "value": "940007"}],
               "gender": "female", "birthDate": "1970-01-02"}
    assert post(http, "/fhir/Patient", patient).status_code == 201
    by_id = platelet_observation("obs-id-7", {"reference": "Patient/pat-http-7"}, value=40)
    by_url = platelet_observation("obs-url-7", {"reference": "https://ukx.example.org/fhir/Patient/pat-http-7"})
    by_identifier = platelet_observation("obs-mrn-7", {"identifier": {"type": MR, "system": MRN_SYSTEM,
                                                                      "value": "940007"}}, value=45)
    in_bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": platelet_observation("obs-bdl-7", {"reference": "Patient/pat-http-7"}, value=47),
         "request": {"method": "POST", "url": "Observation"}}]}
    for resource in (by_id, by_url, by_identifier):
        r = post(http, "/fhir/Observation", resource)
        assert r.status_code == 201, r.text
    r = post(http, "/fhir", in_bundle)
    assert r.status_code == 200 and r.json()["entry"][0]["response"]["status"] == "201 Created", r.text
    assert streams_of(server.db, "fhir|Patient/pat-http-7") == {"940007"}
    for rid in ("obs-id-7", "obs-url-7", "obs-mrn-7"):
        assert streams_of(server.db, f"fhir|Observation/{rid}") == {"940007"}, rid
    (n,), = query(server.db, "SELECT count(*) FROM events WHERE stream = '940007' AND message_key LIKE "
                  "'fhir|Observation/obs-bdl-7/_history/%'")
    assert n == 1
    # An unknown Patient id stays its own stream: nothing is merged by guesswork.
    r = post(http, "/fhir/Observation", platelet_observation("obs-unk-7", {"reference": "Patient/never-seen"}))
    assert r.status_code == 201
    assert streams_of(server.db, "fhir|Observation/obs-unk-7") == {"Patient/never-seen"}


def test_alerts_as_json(http: httpx.Client) -> None:
    r = http.get("/alerts", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json(), dict | list)
    assert http.get("/alerts?open=1", headers=AUTH).status_code == 200
    assert http.post("/alerts/no-such-alert/ack", json={"by": "dr-x"}, headers=AUTH).status_code == 404
    assert http.post("/alerts/no-such-alert/ack", json=["x"], headers=AUTH).status_code == 400


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(addr)
    return found


def test_listeners_bind_to_loopback_only(server: Server) -> None:
    assert server.hosts == {"mllp": "127.0.0.1", "http": "127.0.0.1"}
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system")
    for port in server.ports.values():
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else (no 0.0.0.0, no ::)
