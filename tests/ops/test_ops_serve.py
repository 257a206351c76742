"""Health, readiness and metrics of a real `itpwatch serve`, scraped over HTTP (issue 12, items 4 and 5).

The server is the installed console script; MLLP messages go over a socket; /metrics is parsed with
prometheus-client's own parser.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.observability.health import Readiness
from tests.server.server_support import ADMIN_FILE, LAB_FILE, MllpClient, Server, ack_code, lab_message, messages_of

AUTH = {"Authorization": "Bearer secret"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("ops-serve") / "x.db").start()
    yield srv
    srv.kill()


def test_probes_need_no_token_and_readiness_names_its_checks(server: Server) -> None:
    with httpx.Client(base_url=server.http_base, timeout=10) as http:
        assert http.get("/health/live").json() == {"status": "alive"}
        ready = http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert {c["name"] for c in body["checks"]} == {"database", "migrations", "dispatcher", "outbox"}
        assert all(c["ok"] for c in body["checks"])
        assert http.get("/alerts").status_code == 401, "the machine APIs still need the token"


def test_metrics_count_what_the_feeds_sent(server: Server) -> None:
    patient = b"|100007^^^UKX^MR"  # baseline 7: a count below 10 in a tracked episode raises an alert
    admins = [m for m in messages_of(ADMIN_FILE) if patient in m]
    labs = [m for m in messages_of(LAB_FILE) if patient in m]
    with MllpClient(server.mllp_port) as client:
        for message in [*admins, *labs]:
            assert ack_code(client.exchange(message)) == "AA"
        assert ack_code(client.exchange(labs[0])) == "AA"  # a resend: a duplicate
        assert ack_code(client.exchange(lab_message("OPS-UNIT-1", unit=b"furlongs"))) == "AE"
    with httpx.Client(base_url=server.http_base, timeout=60) as http:  # the first list catches up the read models
        listed = http.get("/alerts", headers=AUTH)
        assert listed.status_code == 200, server.stderr_text()[-3000:]
        response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    scraped = samples(response.text)
    sent = len(admins) + len(labs) + 2
    by_ack = {a: sum(v for (n, labels), v in scraped.items() if n == "itpwatch_messages_total"
                     and dict(labels)["ack"] == a and dict(labels)["feed"] == "mllp") for a in ("AA", "AE")}
    assert by_ack == {"AA": sent - 1, "AE": 1}, by_ack
    assert value(scraped, "itpwatch_messages_total", feed="mllp", type="RAS^O17", ack="AA") == len(admins)
    assert value(scraped, "itpwatch_duplicates_total", feed="mllp") == 1
    assert value(scraped, "itpwatch_dead_letters_total", feed="mllp") == 1
    assert value(scraped, "itpwatch_events_appended_total", kind="fact") > len(labs)
    assert value(scraped, "itpwatch_events_appended_total", kind="derived") > 0
    assert value(scraped, "itpwatch_alerts_raised_total", kind="platelets-below-10") >= 1
    assert value(scraped, "itpwatch_ack_latency_seconds_count", listener="mllp") == sent
    assert value(scraped, "itpwatch_derivation_seconds_count") > 0
    assert ("itpwatch_outbox_notices", (("sink", "log"), ("state", "failed"))) in scraped
    assert value(scraped, "itpwatch_http_request_seconds_count", method="GET", route="/alerts", status="200") == 1
    assert not any("100007" in str(labels) for (_, labels) in scraped), "no patient in a label"


def test_access_log_has_route_templates_and_no_identifiers(server: Server) -> None:
    with httpx.Client(base_url=server.http_base, timeout=10) as http:
        http.post("/alerts/100007-not-an-alert/ack", json={"by": "x"}, headers=AUTH)
        http.get("/alerts", headers={"Authorization": "Bearer wrong"})
    deadline = time.monotonic() + 5
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in server.stderr_text().splitlines() if line.startswith("{")]
        if sum(1 for line in lines if line.get("event") == "http request") >= 2:
            break
        time.sleep(0.1)
    access = [line for line in lines if line.get("event") == "http request"]
    assert {"method": "POST", "path": "/alerts/{alert_id}/ack", "status": 404} in [
        {k: line[k] for k in ("method", "path", "status")} for line in access]
    assert any(line["path"] == "/alerts" and line["status"] == 401 for line in access)
    assert all(isinstance(line["elapsed_ms"], float) for line in access)
    assert not any(line.get("path", "").startswith("/health") for line in access), "probes only at debug"
    assert "100007" not in server.stderr_text()


def test_a_failing_or_hanging_check_makes_the_server_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.observability import health

    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.2)
    readiness = Readiness()
    readiness.add("fine", lambda: (True, "ok"))
    readiness.add("write path", lambda: (False, "no commit for 120 s"))
    readiness.add("broken", lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    readiness.add("slow", lambda: (time.sleep(1), (True, "late"))[1])  # type: ignore[func-returns-value]
    ready, body = asyncio.run(readiness.report())
    assert not ready and body["status"] == "not ready"
    assert [(c["name"], c["ok"]) for c in body["checks"]] == [
        ("fine", True), ("write path", False), ("broken", False), ("slow", False)]
    assert body["checks"][2]["detail"] == "ZeroDivisionError"
