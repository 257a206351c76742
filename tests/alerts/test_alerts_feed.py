"""The bundled example feed through the CLI, then real delivery to a real webhook and a real SMTP server."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import logs
from engine.alerts.dispatch import LEASE_MARGIN_SECONDS, _claim, dispatch_once, dispatch_until_idle
from engine.alerts.queries import list_alerts
from engine.alerts.sinks import message_id
from engine.store.schema import alert_outbox
from tests.alerts.alert_helpers import (
    SmtpReceiver,
    WebhookReceiver,
    itp,
    make_app,
    utcnow,
    write_sinks,
)


@pytest.fixture(autouse=True)
def _logs() -> None:
    logs.configure("json")


def outbox_rows(db: str, sinks: Path) -> list[dict[str, object]]:
    app = make_app(db, sinks)
    try:
        with app.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(alert_outbox).order_by(alert_outbox.c.id)).mappings()]
    finally:
        app.close()


def test_each_alert_reaches_webhook_and_mail_exactly_once(feed_db: str, tmp_path: Path, webhook: WebhookReceiver,
                                                          smtp: SmtpReceiver) -> None:
    sinks = write_sinks(tmp_path / "sinks.yaml", webhook, smtp)
    out = itp(feed_db, sinks, "alerts", "dispatch")
    assert "failed 0" in out

    app = make_app(feed_db, sinks)
    alerts = list_alerts(app)
    app.close()
    all_ids = {a["id"] for a in alerts}
    open_ids = {a["id"] for a in alerts if a["state"] == "open"}
    withdrawn_ids = {a["id"] for a in alerts if a["state"] == "withdrawn"}
    assert len(open_ids) >= 20 and withdrawn_ids, "the example feed raises alerts and withdraws some"

    got = webhook.acknowledged()
    assert len(got) == webhook.count() == len(all_ids) + len(withdrawn_ids)
    raised = Counter(r.body["alert_id"] for r in got if r.body["notice"] == "raised")
    assert set(raised) == all_ids and set(raised.values()) == {1}, "every alert exactly once"
    assert open_ids <= set(raised)
    assert sorted(r.body["alert_id"] for r in got if r.body["notice"] == "withdrawn") == sorted(withdrawn_ids)
    for r in got:
        assert r.headers["content-type"] == "application/json"
        assert r.headers["idempotency-key"] == f"{r.body['alert_id']}:{r.body['notice']}:hook"
        assert r.path == "/alerts"
        assert {"patient", "occurred_at", "rule_id", "severity", "message", "inputs"} <= set(r.body)
    # a receiver hears of an alert before it hears that it was withdrawn
    order = [(r.body["alert_id"], r.body["notice"]) for r in got]
    for alert_id in withdrawn_ids:
        assert order.index((alert_id, "raised")) < order.index((alert_id, "withdrawn"))

    assert len(smtp.mails) == len(got)
    ids = [m.message["Message-ID"] for m in smtp.mails]
    assert len(set(ids)) == len(ids)
    expected_ids = {message_id(f"{r.body['alert_id']}:{r.body['notice']}:mail", "itpwatch@hospital.example")
                    for r in got}
    assert set(ids) == expected_ids, "the Message-ID is derived from the idempotency key"
    assert all(m.recipients == ["haematology@hospital.example"] for m in smtp.mails)

    rows = outbox_rows(feed_db, sinks)
    assert {r["state"] for r in rows} == {"delivered"}
    assert all(r["delivered_at"] is not None and r["attempts"] == 1 for r in rows)

    # a delivered row is never sent again
    out = itp(feed_db, sinks, "alerts", "dispatch")
    assert "delivered 0" in out
    assert webhook.count() == len(got) and len(smtp.mails) == len(got)


def test_webhook_500_twice_then_200_is_retried_with_backoff_and_delivered_once(
    feed_db: str, tmp_path: Path, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    sinks = write_sinks(tmp_path / "sinks.yaml", webhook, smtp)
    webhook.script = [500, 500]
    app = make_app(feed_db, sinks)
    t0 = utcnow()
    first = dispatch_once(app, now=t0, limit=1000)
    assert webhook.count() == 1
    assert first.retried == 1 and first.failed == 0
    assert first.deferred > 0, "the rest of the failing sink's rows wait instead of hammering it"
    assert len(smtp.mails) > 0, "a failing webhook does not hold back the other sinks"

    assert dispatch_once(app, now=t0 + timedelta(seconds=1.9), limit=1000).retried == 0
    assert webhook.count() == 1, "no attempt before the backoff (2 s) ran out"
    second = dispatch_once(app, now=t0 + timedelta(seconds=2), limit=1000)
    assert second.retried == 1 and webhook.count() == 2
    dispatch_once(app, now=t0 + timedelta(seconds=5.9), limit=1000)
    assert webhook.count() == 2, "the second wait is 4 s"
    total = dispatch_until_idle(app, now=t0 + timedelta(seconds=6))
    assert total.failed == 0 and total.retried == 0
    app.close()

    acknowledged = Counter(r.headers["idempotency-key"] for r in webhook.acknowledged())
    assert set(acknowledged.values()) == {1}, "delivered once"
    assert webhook.count() == len(acknowledged) + 2
    failing_key = webhook.requests[0].headers["idempotency-key"]
    assert [r.status for r in webhook.requests if r.headers["idempotency-key"] == failing_key] == [500, 500, 200]
    row = next(r for r in outbox_rows(feed_db, sinks) if r["idempotency_key"] == failing_key)
    assert row["state"] == "delivered" and row["attempts"] == 3 and row["last_error"] is None
    assert {r["state"] for r in outbox_rows(feed_db, sinks)} == {"delivered"}


def test_a_sink_that_keeps_failing_is_given_up_after_max_attempts(feed_db: str, tmp_path: Path,
                                                                    webhook: WebhookReceiver,
                                                                    smtp: SmtpReceiver) -> None:
    sinks = write_sinks(tmp_path / "sinks.yaml", webhook, smtp, max_attempts=3)
    webhook.script = [503] * 1000
    app = make_app(feed_db, sinks)
    t0 = utcnow()
    results = [dispatch_once(app, now=t0 + timedelta(seconds=s), limit=1000) for s in (0, 2, 6)]
    app.close()
    assert [r.retried for r in results] == [1, 1, 1]
    assert results[2].failed == 1
    first_key = webhook.requests[0].headers["idempotency-key"]
    row = next(r for r in outbox_rows(feed_db, sinks) if r["idempotency_key"] == first_key)
    assert row["state"] == "failed" and row["attempts"] == 3
    assert "HTTP 503" in str(row["last_error"])
    assert webhook.count() == 4, "three attempts of the first row, then the next row's first"


def test_a_row_claimed_before_a_crash_is_delivered_after_restart(feed_db: str, tmp_path: Path,
                                                                 webhook: WebhookReceiver,
                                                                 smtp: SmtpReceiver) -> None:
    sinks = write_sinks(tmp_path / "sinks.yaml", webhook, smtp)
    before = make_app(feed_db, sinks)
    t0 = utcnow()
    claimed = _claim(before.store.engine, t0, 5, before.sinks)  # committed claim, then the process dies
    before.close()
    assert len(claimed) == 5

    after = make_app(feed_db, sinks)  # restart
    lease = timedelta(seconds=2 + LEASE_MARGIN_SECONDS)
    dispatch_until_idle(after, now=t0 + timedelta(seconds=1))
    assert not any(r.headers["idempotency-key"] in {c.idempotency_key for c in claimed} for r in webhook.requests), \
        "a leased row is left alone while its delivery might still be running"
    dispatch_until_idle(after, now=t0 + 5 * lease)
    after.close()
    keys = Counter(r.headers["idempotency-key"] for r in webhook.requests)
    assert set(keys.values()) == {1}
    assert {c.idempotency_key for c in claimed if c.sink == "hook"} <= set(keys)
    assert {r["state"] for r in outbox_rows(feed_db, sinks)} == {"delivered"}


def test_replays_rebuilds_what_if_and_verify_never_deliver(feed_db: str, tmp_path: Path, webhook: WebhookReceiver,
                                                           smtp: SmtpReceiver) -> None:
    sinks = write_sinks(tmp_path / "sinks.yaml", webhook, smtp)
    itp(feed_db, sinks, "alerts", "dispatch")
    requests, mails, rows = webhook.count(), len(smtp.mails), len(outbox_rows(feed_db, sinks))
    assert requests > 0

    itp(feed_db, sinks, "verify")
    itp(feed_db, sinks, "replay", "--as-of-recorded", utcnow().isoformat())
    itp(feed_db, sinks, "rederive", "--profile", "iwg2009")
    itp(feed_db, sinks, "compare", "site", "iwg2009")
    itp(feed_db, sinks, "projections", "rebuild")
    out = itp(feed_db, sinks, "alerts", "dispatch")

    assert "delivered 0" in out
    assert webhook.count() == requests and len(smtp.mails) == mails
    assert len(outbox_rows(feed_db, sinks)) == rows, "no new outbox rows"


def test_the_log_sink_writes_no_patient_identifier_or_value(feed_db: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text("sinks:\n  - {name: log, kind: log}\n", encoding="utf-8")
    app = make_app(feed_db, sinks)
    with app.store.engine.connect() as conn:
        bodies = [json.loads(b) for (b,) in conn.execute(
            select(alert_outbox.c.body).where(alert_outbox.c.sink == "log"))]
        log_rows = conn.execute(select(func.count()).where(alert_outbox.c.sink == "log")).scalar()
    capsys.readouterr()
    logs.configure("json")
    result = dispatch_until_idle(app, now=utcnow() + timedelta(hours=1))
    app.close()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    logs.configure("json")
    assert result.delivered == log_rows
    notices = [line for line in lines if line.get("sink") == "log" and line["event"].startswith("alert ")]
    assert len(notices) == log_rows
    assert {line["event"].split()[-1] for line in notices} == {b["alert_id"] for b in bodies}
    patients = {b["patient"] for b in bodies}
    text = "\n".join(json.dumps(line) for line in lines)
    assert not any(p in text for p in patients), "no patient identifier in a log line"
    assert all(set(line) <= logs.SAFE_KEYS for line in lines)
    assert all("patient" not in line and "value" not in line for line in lines)
