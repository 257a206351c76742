"""Alerts as people see them: open, acknowledged or withdrawn (a revision removed the finding)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select, update

from engine.store import StoredEvent
from engine.store.schema import alerts
from engine.store.timestamps import to_db
from events import CANONICAL_SET, AlertAcknowledged, AlertRaised, DerivationRevised


class AlertsProjection:
    name = "alerts"
    types = ("AlertRaised", "DerivationRevised", "AlertAcknowledged")
    """The only event types it reads: a rebuild scans just these."""

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        dialect = conn.dialect.name
        for stored in batch:
            event = stored.event
            if isinstance(event, AlertRaised) and event.derivation_set == CANONICAL_SET:
                conn.execute(
                    insert(alerts).values(
                        alert_event_id=str(event.event_id), patient=event.stream, alert=event.alert,
                        severity=event.severity, message=event.message, rule_id=event.rule_id,
                        occurred_at=to_db(event.occurred_at, dialect), raised_at=to_db(event.recorded_at, dialect),
                        state="open",
                    )
                )
            elif isinstance(event, DerivationRevised) and event.derivation_set == CANONICAL_SET:
                conn.execute(
                    update(alerts).where(alerts.c.alert_event_id.in_(list(event.supersedes))).values(state="withdrawn")
                )
            elif isinstance(event, AlertAcknowledged):
                row = conn.execute(
                    select(alerts.c.state).where(alerts.c.alert_event_id == event.alert_event_id)
                ).first()
                if row is not None and row[0] == "open":
                    conn.execute(
                        update(alerts).where(alerts.c.alert_event_id == event.alert_event_id).values(
                            state="acknowledged", acknowledged_by=event.by,
                            acknowledged_at=to_db(event.occurred_at, dialect), note=event.note,
                        )
                    )

    def reset(self, conn: Connection) -> None:
        conn.execute(delete(alerts))
