"""The transactional outbox: one row per alert notice and sink, written in the derivation's transaction.

Only the live processor writes here. Replays, rebuilds, what-if runs and verify derive in memory or into
other derivation sets and never call these functions, so they can never deliver anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select

from engine.store.schema import alert_outbox
from engine.store.timestamps import to_db
from events import AlertRaised

Notice = Literal["raised", "withdrawn"]


def alert_body(alert: AlertRaised, notice: Notice, *, reason: str | None = None) -> dict[str, Any]:
    """The documented JSON body of a notice (docs/alerts.md). The patient key is the site MRN."""
    return {
        "notice": notice,
        "alert_id": str(alert.event_id),
        "alert": alert.alert,
        "severity": alert.severity,
        "message": alert.message if notice == "raised" else f"withdrawn: {alert.message}",
        "patient": alert.stream,
        "episode": alert.episode,
        "agent": alert.agent,
        "occurred_at": alert.occurred_at.isoformat(),
        "rule_id": alert.rule_id,
        "profile": alert.profile,
        "profile_version": alert.profile_version,
        "inputs": [str(i) for i in alert.causation_ids],
        "reason": reason,
    }


def enqueue(conn: Connection, alert: AlertRaised, notice: Notice, sinks: Sequence[str], now: datetime,
            *, reason: str | None = None) -> int:
    dialect = conn.dialect.name
    body = json.dumps(alert_body(alert, notice, reason=reason), sort_keys=True)
    rows = [
        {
            "alert_event_id": str(alert.event_id),
            "notice": notice,
            "sink": sink,
            "idempotency_key": f"{alert.event_id}:{notice}:{sink}",
            "body": body,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": to_db(now, dialect),
            "created_at": to_db(now, dialect),
        }
        for sink in sinks
    ]
    if rows:
        conn.execute(insert(alert_outbox), rows)
    return len(rows)


def sinks_notified(conn: Connection, alert_event_id: str) -> list[str]:
    """Sinks that got (or are about to get) the alert: each of them must hear that it was withdrawn."""
    rows = conn.execute(
        select(alert_outbox.c.sink).where(
            alert_outbox.c.alert_event_id == alert_event_id, alert_outbox.c.notice == "raised"
        )
    )
    return sorted({r[0] for r in rows})
