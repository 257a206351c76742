"""CDS Hooks 2.0 against a real `itpwatch serve`: discovery, the patient-view service, cards, JWTs, CORS.

The EHR is played by the test: it makes its own key pairs, lists the public keys in the server's
cds_clients file (inline, and one behind a jku URL served by a local HTTP server that also plays the EHR's
FHIR server), and signs each call. Nothing is mocked: the server is the installed console script.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from server_support import Server

from tests.fhir_resources import bundle, dumps, patient, relapse_course

BASE = "https://itpwatch.test"
SERVICE = f"{BASE}/cds-services/itpwatch-patient-view"
EHR = "https://ehr.test/"
JKU_EHR = "https://jku-ehr.test/"
MRN = "777001"
PATIENT_ID = "pat-777"


class Ehr(BaseHTTPRequestHandler):
    """The EHR's web side: its JWK Set (for jku) and its FHIR server (Patient reads with a bearer token)."""

    jwks: ClassVar[dict[str, Any]] = {}
    patients: ClassVar[dict[str, dict[str, Any]]] = {}

    def do_GET(self) -> None:
        if self.path == "/jwks":
            self._send(200, self.jwks)
        elif self.path.startswith("/fhir/Patient/") and self.headers.get("Authorization") == "Bearer ehr-token":
            found = self.patients.get(self.path.rsplit("/", 1)[1])
            self._send(200 if found else 404, found or {"resourceType": "OperationOutcome", "issue": []})
        else:
            self._send(401, {})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def ehr_web() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ehr)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"ec": ec.generate_private_key(ec.SECP384R1()), "rsa": rsa.generate_private_key(65537, 2048),
            "jku": ec.generate_private_key(ec.SECP256R1()), "other": ec.generate_private_key(ec.SECP384R1())}


def jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    out: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**out, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any], ehr_web: str) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("cds")
    (folder / "ehr-jwks.json").write_text(json.dumps({"keys": [jwk(keys["ec"], "ehr-ec", "ES384"),
                                                               jwk(keys["rsa"], "ehr-rsa", "RS384")]}))
    Ehr.jwks = {"keys": [jwk(keys["jku"], "jku-1", "ES256")]}
    (folder / "cds-clients.yaml").write_text(yaml.safe_dump({"clients": [
        {"iss": EHR, "jwks_file": "ehr-jwks.json"},
        {"iss": JKU_EHR, "jku": [f"{ehr_web}/jwks"]},
    ]}))
    srv = Server(folder / "cds.db", environ={"ITPWATCH_CDS_CLIENTS": str(folder / "cds-clients.yaml"),
                                             "ITPWATCH_PUBLIC_BASE_URL": BASE}).start(mllp=False)
    course = bundle(patient(PATIENT_ID, MRN), *relapse_course(MRN), kind="transaction")
    r = httpx.post(f"{srv.http_base}/fhir", content=dumps(course), timeout=30,
                   headers={"Authorization": "Bearer secret", "Content-Type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    yield srv
    srv.kill()


def token(keys: dict[str, Any], *, key: str = "ec", kid: str = "ehr-ec", alg: str = "ES384", iss: str = EHR,
          aud: str = SERVICE, exp: float | None = None, jti: str | None = None, **header: Any) -> str:
    now = time.time()
    claims = {"iss": iss, "aud": aud, "iat": int(now), "exp": int(exp if exp is not None else now + 300),
              "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, keys[key], algorithm=alg, headers={"kid": kid, "typ": "JWT", **header})


def hook(patient_id: str = PATIENT_ID, prefetch: Any = "default", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                            "context": {"userId": "Practitioner/dr-1", "patientId": patient_id}, **extra}
    if prefetch == "default":
        body["prefetch"] = {"patient": patient(patient_id, MRN)}
    elif prefetch is not None:
        body["prefetch"] = prefetch
    return body


def call(cds: Server, keys: dict[str, Any], body: Any, jwt_token: str | None = None) -> httpx.Response:
    auth = {"Authorization": f"Bearer {jwt_token or token(keys)}"}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{cds.http_base}/cds-services/itpwatch-patient-view", content=content,
                      headers={**auth, "Content-Type": "application/json"}, timeout=10)


def assert_card_shape(card: dict[str, Any]) -> None:
    """The CDS Hooks 2.0 Card: summary < 140 chars, indicator, source.label, links of type absolute|smart."""
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    uuid.UUID(card["uuid"])
    assert isinstance(card["detail"], str)
    for link in card.get("links", []):
        assert {"label", "url", "type"} <= set(link) and link["type"] in ("absolute", "smart")


def test_discovery(cds: Server) -> None:
    r = httpx.get(f"{cds.http_base}/cds-services", timeout=10)
    assert r.status_code == 200
    (service,) = r.json()["services"]
    assert service["hook"] == "patient-view" and service["id"] == "itpwatch-patient-view"
    assert service["description"] and service["title"]
    assert service["prefetch"] == {"patient": "Patient/{{context.patientId}}"}


def test_cors_preflight_and_response_headers(cds: Server, keys: dict[str, Any]) -> None:
    origin = {"Origin": "https://ehr-ui.test"}
    pre = httpx.options(f"{cds.http_base}/cds-services/itpwatch-patient-view", timeout=10, headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] in ("*", "https://ehr-ui.test")
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    r = httpx.get(f"{cds.http_base}/cds-services", headers=origin, timeout=10)
    assert r.headers["access-control-allow-origin"] in ("*", "https://ehr-ui.test")


def test_relapse_card_with_its_evidence(cds: Server, keys: dict[str, Any]) -> None:
    r = call(cds, keys, hook())
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    assert_card_shape(card)
    assert card["summary"] == ("daratumumab: relapse confirmed 2024-03-18, platelets 18 x10^9/L "
                               "(onset 2024-03-11, episode 1)")
    assert card["indicator"] == "warning"
    assert "profile site" in card["source"]["label"]
    assert card["links"] == [{"label": "Open the patient in itpwatch", "type": "absolute",
                              "url": f"{BASE}/patients/{MRN}"}]
    detail = card["detail"]
    assert "relapse confirmed" in detail and "platelets below 20" in detail  # the open urgent alert too
    assert "platelets 23" in detail and "platelets 18" in detail  # the two failing counts of the chain
    assert "Rule `site.relapse" in detail, detail


def test_patient_found_through_ids_seen_in_fhir_feeds(cds: Server, keys: dict[str, Any]) -> None:
    r = call(cds, keys, hook(prefetch=None))
    assert r.status_code == 200 and len(r.json()["cards"]) == 1


def test_patient_found_through_the_ehr_fhir_server(cds: Server, keys: dict[str, Any], ehr_web: str) -> None:
    Ehr.patients["ehr-only-9"] = patient("ehr-only-9", MRN)
    body = hook("ehr-only-9", prefetch=None, fhirServer=f"{ehr_web}/fhir", fhirAuthorization={
        "access_token": "ehr-token", "token_type": "Bearer", "expires_in": 300, "scope": "user/Patient.read",
        "subject": "itpwatch"})
    r = call(cds, keys, body)
    assert r.status_code == 200 and len(r.json()["cards"]) == 1


def test_patients_with_nothing_to_say_get_no_cards(cds: Server, keys: dict[str, Any]) -> None:
    assert call(cds, keys, hook("someone-else", prefetch={"patient": patient("someone-else", "999999")})
                ).json() == {"cards": []}
    assert call(cds, keys, hook("nobody", prefetch={"patient": None})).json() == {"cards": []}


def test_unidentifiable_patient_is_412(cds: Server, keys: dict[str, Any]) -> None:
    r = call(cds, keys, hook("never-seen", prefetch=None))
    assert r.status_code == 412 and "prefetch" in r.json()["error"]["message"]


@pytest.mark.parametrize("body", [
    b"{not json",
    {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}},
    {"hook": "patient-view", "hookInstance": "x", "context": {}},
    {"hook": "patient-view", "context": {"patientId": "p"}},
    {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": PATIENT_ID},
     "prefetch": {"patient": {"resourceType": "Patient", "id": "another"}}},
])
def test_malformed_requests_are_400(cds: Server, keys: dict[str, Any], body: Any) -> None:
    r = call(cds, keys, body)
    assert r.status_code == 400 and r.json()["error"]["status"] == 400


def test_bad_jwts_are_refused(cds: Server, keys: dict[str, Any]) -> None:
    now = time.time()
    bad = {
        "expired": token(keys, exp=now - 600),
        "wrong audience": token(keys, aud=f"{BASE}/cds-services/other"),
        "unknown issuer": token(keys, iss="https://stranger.test/"),
        "unknown kid": token(keys, kid="nope"),
        "wrong key": token(keys, key="other"),
        "hmac": jwt.encode({"iss": EHR, "aud": SERVICE, "iat": int(now), "exp": int(now) + 60, "jti": "h"},
                           "secret" * 8, algorithm="HS256", headers={"kid": "ehr-ec"}),
        "none": jwt.encode({"iss": EHR, "aud": SERVICE, "iat": int(now), "exp": int(now) + 60, "jti": "n"},
                           None, algorithm="none", headers={"kid": "ehr-ec"}),
        "not a jwt": "abc.def",
        "foreign jku": token(keys, key="jku", kid="jku-1", alg="ES256", iss=JKU_EHR, jku="https://evil.test/jwks"),
    }
    for name, jwt_token in bad.items():
        r = call(cds, keys, hook(), jwt_token)
        assert r.status_code == 401, name
        assert r.json()["error"]["code"] == "login", name
    r = httpx.post(f"{cds.http_base}/cds-services/itpwatch-patient-view", json=hook(), timeout=10)
    assert r.status_code == 401


def test_a_jti_is_used_once(cds: Server, keys: dict[str, Any]) -> None:
    once = token(keys, jti="only-once")
    assert call(cds, keys, hook(), once).status_code == 200
    assert call(cds, keys, hook(), once).status_code == 401


def test_rsa_and_jku_keys_are_accepted(cds: Server, keys: dict[str, Any], ehr_web: str) -> None:
    assert call(cds, keys, hook(), token(keys, key="rsa", kid="ehr-rsa", alg="RS384")).status_code == 200
    via_jku = token(keys, key="jku", kid="jku-1", alg="ES256", iss=JKU_EHR, jku=f"{ehr_web}/jwks")
    assert call(cds, keys, hook(), via_jku).status_code == 200


def test_unknown_service_is_404(cds: Server, keys: dict[str, Any]) -> None:
    r = httpx.post(f"{cds.http_base}/cds-services/no-such-service", json=hook(), timeout=10,
                   headers={"Authorization": f"Bearer {token(keys)}"})
    assert r.status_code == 404 and r.json()["error"]["status"] == 404


def test_bad_clients_file_stops_serve_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "clients.yaml").write_text("clients:\n  - jku: []\n")
    srv = Server(tmp_path / "x.db", environ={"ITPWATCH_CDS_CLIENTS": str(tmp_path / "clients.yaml")})
    with pytest.raises(AssertionError, match="iss"):
        srv.start(mllp=False)
    assert "Traceback" not in srv.stderr_text()
