"""Listing and acknowledging alerts; shared by the CLI and the HTTP endpoints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.app import App
from engine.projections import update as update_projections
from engine.store.schema import alerts
from engine.store.timestamps import from_db
from events import AlertAcknowledged, Source, new_event_id


def list_alerts(app: App, open_only: bool = False) -> list[dict[str, Any]]:
    update_projections(app.store, app.projections)
    query = select(alerts).order_by(alerts.c.occurred_at, alerts.c.alert_event_id)
    if open_only:
        query = query.where(alerts.c.state == "open")
    with app.store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for r in rows:
        out.append({
            "id": r["alert_event_id"], "patient": r["patient"], "alert": r["alert"], "severity": r["severity"],
            "message": r["message"], "rule_id": r["rule_id"], "occurred_at": from_db(r["occurred_at"]).isoformat(),
            "raised_at": from_db(r["raised_at"]).isoformat(), "state": r["state"],
            "acknowledged_by": r["acknowledged_by"],
            "acknowledged_at": from_db(r["acknowledged_at"]).isoformat() if r["acknowledged_at"] else None,
            "note": r["note"],
        })
    return out


def alerts_as_json(app: App, open_only: bool) -> dict[str, Any]:
    return {"alerts": list_alerts(app, open_only)}


def acknowledge(app: App, alert_id: str, by: str, note: str | None) -> dict[str, Any]:
    """Acknowledgement is an event in the patient's stream; raises KeyError for an unknown alert id."""
    update_projections(app.store, app.projections)
    with app.store.engine.connect() as conn:
        row = conn.execute(select(alerts.c.patient, alerts.c.state).where(alerts.c.alert_event_id == alert_id)).first()
    if row is None:
        raise KeyError(alert_id)
    if row[1] != "open":
        return {"id": alert_id, "state": row[1], "changed": False}
    now = app.clock.now()
    event = AlertAcknowledged(
        event_id=new_event_id(), stream=row[0], occurred_at=now, recorded_at=now,
        source=Source(feed="cli", sender=f"ack:{by}", message_id=alert_id),
        alert_event_id=alert_id, by=by, note=note,
    )
    app.store.append([event])
    update_projections(app.store, app.projections)
    return {"id": alert_id, "state": "acknowledged", "changed": True}
