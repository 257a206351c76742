"""The doors of `serve`: what the MLLP port accepts, MLLP over TLS with client certificates, HTTPS.

Certificates are made in the test (trustme): one CA signs the server's certificate and two senders'.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from server_support import CR, FS, IO_TIMEOUT, VT, Server, ack_code, lab_message, parse_acks
from sqlalchemy import create_engine, text

FHIR_OBSERVATION = json.dumps({
    "resourceType": "Observation", "id": "o1", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
    "subject": {"identifier": {"value": "900777"}}, "effectiveDateTime": "2024-03-05T08:00:00+01:00",
    "valueQuantity": {"value": 42, "unit": "10*9/L", "system": "http://unitsofmeasure.org", "code": "10*9/L"},
}).encode()
ENROLMENT_CSV = b"patient_id,diagnosis_date,itp_type,prior_lines\n900778,2020-01-01,primary,3\n"


def stored(server: Server) -> tuple[int, int]:
    engine = create_engine(server.url)
    with engine.connect() as conn:
        counts = (int(conn.execute(text("SELECT count(*) FROM events")).scalar() or 0),
                  int(conn.execute(text("SELECT count(*) FROM dead_letters")).scalar() or 0))
    engine.dispose()
    return counts


def exchange(sock: socket.socket, message: bytes) -> bytes:
    sock.sendall(VT + message + FS + CR)
    data = b""
    while FS + CR not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the ACK")
        data += chunk
    return parse_acks(data)[0][2]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("policy") / "x.db").start(http=False)
    yield srv
    srv.kill()


@pytest.mark.parametrize("body", [FHIR_OBSERVATION, ENROLMENT_CSV], ids=["fhir", "csv"])
def test_mllp_takes_hl7_only_by_default(plain: Server, body: bytes) -> None:
    """FHIR and CSV over MLLP bypassed the HTTP token; now they are refused with AR and nothing is stored."""
    before = stored(plain)
    with socket.create_connection(("127.0.0.1", plain.mllp_port), timeout=IO_TIMEOUT) as sock:
        ack = exchange(sock, body)
        assert ack_code(ack) == "AR" and b"not accepted over MLLP" in ack
        assert ack_code(exchange(sock, lab_message(f"POLICY-{len(body)}"))) == "AA"
    events, dead = stored(plain)
    assert dead == before[1] and events > before[0]


def test_other_formats_over_mllp_only_when_enabled(tmp_path: Path) -> None:
    srv = Server(tmp_path / "x.db", environ={"ITPWATCH_MLLP_FORMATS": '["hl7", "fhir"]'}).start(http=False)
    try:
        with socket.create_connection(("127.0.0.1", srv.mllp_port), timeout=IO_TIMEOUT) as sock:
            assert ack_code(exchange(sock, FHIR_OBSERVATION)) == "AA"
            assert ack_code(exchange(sock, ENROLMENT_CSV)) == "AR"
    finally:
        srv.kill()


# -- TLS -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("pki")
    paths = {"ca": folder / "ca.pem", "server": folder / "server.pem", "lab": folder / "lab.pem",
             "pharm": folder / "pharm.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(paths["server"]))
    server.private_key_pem.write_to_path(str(folder / "server.key"))
    paths["server_key"] = folder / "server.key"
    for name in ("lab", "pharm"):
        ca.issue_cert(f"{name}.example").private_key_and_cert_chain_pem.write_to_path(str(paths[name]))
    return paths


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("tls") / "x.db", environ={
        "ITPWATCH_TLS_CERT": str(pki["server"]), "ITPWATCH_TLS_KEY": str(pki["server_key"]),
        "ITPWATCH_MLLP_CLIENT_CA": str(pki["ca"]),
        "ITPWATCH_MLLP_SENDERS": json.dumps({"lab.example": ["LAB_LIS^UKX"], "pharm.example": ["PHARM^*"]}),
    }).start()
    yield srv
    srv.kill()


def tls_client(pki: dict[str, Path], sender: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if sender is not None:
        context.load_cert_chain(str(pki[sender]))
    return context


def test_mllp_over_tls_names_the_sender_by_its_certificate(tls_server: Server, pki: dict[str, Path]) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.mllp_port), timeout=IO_TIMEOUT) as raw, \
            tls_client(pki, "lab").wrap_socket(raw, server_hostname="localhost") as sock:
        assert ack_code(exchange(sock, lab_message("TLS-1"))) == "AA"
        pretending = lab_message("TLS-2").replace(b"|LAB_LIS|UKX|", b"|PHARM|UKX|", 1)
        ack = exchange(sock, pretending)
        assert ack_code(ack) == "AR" and b"not allowed for this client certificate" in ack
    with socket.create_connection(("127.0.0.1", tls_server.mllp_port), timeout=IO_TIMEOUT) as raw, \
            tls_client(pki, "pharm").wrap_socket(raw, server_hostname="localhost") as sock:
        assert ack_code(exchange(sock, lab_message("TLS-3"))) == "AR", "pharm may not send as the lab"


def test_mllp_over_tls_refuses_a_sender_without_a_certificate(tls_server: Server, pki: dict[str, Path]) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)), \
            socket.create_connection(("127.0.0.1", tls_server.mllp_port), timeout=IO_TIMEOUT) as raw, \
            tls_client(pki, None).wrap_socket(raw, server_hostname="localhost") as sock:
        exchange(sock, lab_message("TLS-4"))


def test_https_with_the_same_certificate(tls_server: Server, pki: dict[str, Path]) -> None:
    base = f"https://localhost:{tls_server.ports['http']}"
    with httpx.Client(verify=tls_client(pki, None), timeout=IO_TIMEOUT) as client:
        assert client.get(f"{base}/alerts").status_code == 401
        assert client.get(f"{base}/alerts", headers={"Authorization": "Bearer secret"}).status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.ports['http']}/alerts", timeout=IO_TIMEOUT)


def test_half_configured_tls_does_not_start(tmp_path: Path, pki: dict[str, Path]) -> None:
    srv = Server(tmp_path / "x.db", environ={"ITPWATCH_TLS_CERT": str(pki["server"])})
    with pytest.raises(AssertionError, match="set both tls_cert and tls_key"):
        srv.start(http=False)


def test_serve_writes_signed_checkpoints_at_its_interval(tmp_path: Path) -> None:
    from engine.checkpoints import generate_key, load_checkpoints, load_private_key

    key = tmp_path / "checkpoint.pem"
    generate_key(key)
    directory = tmp_path / "checkpoints"
    srv = Server(tmp_path / "x.db", environ={
        "ITPWATCH_CHECKPOINT_KEY": str(key), "ITPWATCH_CHECKPOINT_DIR": str(directory),
        "ITPWATCH_CHECKPOINT_INTERVAL": "0.3"}).start(http=False)
    try:
        with socket.create_connection(("127.0.0.1", srv.mllp_port), timeout=IO_TIMEOUT) as sock:
            assert ack_code(exchange(sock, lab_message("CP-1"))) == "AA"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(directory.glob("checkpoint-*.json")):
            time.sleep(0.1)
    finally:
        assert srv.terminate() == 0
    anchors, problems = load_checkpoints(directory, [load_private_key(key).public_key()])
    assert problems == [] and max(a.length for a in anchors["events"]) >= 1
    assert len(list(directory.glob("checkpoint-*.json"))) <= 3, "an unchanged log is not checkpointed again"
