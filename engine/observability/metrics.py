"""Prometheus metrics of `itpwatch serve`, served at /metrics (prometheus-client, text format).

One `Metrics` object per server, with its own registry (so that tests can run several servers in one
process). The ingestor reports each commit to it (`committed`), the MLLP and HTTP handlers their ACK
latency, and the outbox gauges are read from the database at scrape time. Labels are bounded sets
(feed, message type, ACK code, sink, alert kind): never a patient, a value or a message id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from events import AlertRaised, DerivedEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and tell an operator nothing here
_TYPE = re.compile(rb"^[A-Z0-9_]{2,8}(\^[A-Z0-9_]{2,8})?$")
_RESOURCE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]{1,40})"')


def message_type(message: Any) -> str:
    """HL7 MSH-9 (event type and trigger, 'ORU^R01'), the FHIR resourceType, 'csv' or 'unknown'."""
    raw: bytes = message.raw
    if raw[:3] == b"MSH" and len(raw) > 8:
        field_sep, component_sep = raw[3:4], raw[4:5]
        fields = raw.split(b"\r", 1)[0].split(b"\n", 1)[0].split(field_sep)
        if len(fields) > 8:
            code = component_sep.join(fields[8].split(component_sep)[:2]).replace(component_sep, b"^")
            return code.decode("ascii") if _TYPE.match(code) else "other"
        return "other"
    if message.feed.startswith("fhir"):
        found = _RESOURCE.search(raw[:4096])
        return found.group(1).decode("ascii") if found else "other"
    return "csv" if message.feed == "csv" else "unknown"


class Metrics:
    """The server's metrics; `committed` is the ingestor's observer (engine/ingest.py)."""

    def __init__(self, app: Any | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.messages = Counter("itpwatch_messages", "Messages stored or answered, by feed, type and ACK code.",
                                ["feed", "type", "ack"], registry=r)
        self.dead_letters = Counter("itpwatch_dead_letters", "Messages dead-lettered, by feed.", ["feed"], registry=r)
        self.duplicates = Counter("itpwatch_duplicates", "Messages seen before (nothing appended), by feed.",
                                  ["feed"], registry=r)
        self.events = Counter("itpwatch_events_appended", "Events appended to the log, facts and derived.",
                              ["kind"], registry=r)
        self.alerts = Counter("itpwatch_alerts_raised", "Alerts raised, by alert kind.", ["kind"], registry=r)
        self.derivation = Histogram("itpwatch_derivation_seconds", "Time the processor took to derive, per commit.",
                                    registry=r, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.ack_latency = Histogram(
            "itpwatch_ack_latency_seconds", "From a message's arrival to its ACK (after the commit), by listener.",
            ["listener"], registry=r, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.http = Histogram("itpwatch_http_request_seconds", "HTTP requests by method, route and status.",
                              ["method", "route", "status"], registry=r,
                              buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        for kind in ("fact", "derived"):
            self.events.labels(kind)
        if app is not None:
            r.register(OutboxCollector(app))

    def committed(self, handled: Sequence[tuple[Any, Any]], appended: Sequence[Any], derive_seconds: float | None
                  ) -> None:
        """After a commit: (message, MessageResult) pairs, the events appended, the derivation time."""
        for message, result in handled:
            feed = message.feed
            self.messages.labels(feed, message_type(message), result.ack_code).inc()
            if result.duplicate:
                self.duplicates.labels(feed).inc()
            elif result.rejection is not None:
                self.dead_letters.labels(feed).inc()
        derived = 0
        for stored in appended:
            event = stored.event
            if isinstance(event, DerivedEvent):
                derived += 1
                if isinstance(event, AlertRaised):
                    self.alerts.labels(event.alert).inc()
        if derived:
            self.events.labels("derived").inc(derived)
        if len(appended) - derived:
            self.events.labels("fact").inc(len(appended) - derived)
        if derive_seconds is not None:
            self.derivation.observe(derive_seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class OutboxCollector(Collector):
    """Alert notices waiting (pending) and given up (failed), per sink, and the age of the oldest due one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sqlalchemy import func, select

        from engine.store.schema import alert_outbox as t
        from engine.store.timestamps import from_db

        notices = GaugeMetricFamily("itpwatch_outbox_notices", "Alert notices in the outbox by sink and state.",
                                    labels=["sink", "state"])
        lag = GaugeMetricFamily("itpwatch_outbox_oldest_pending_seconds",
                                "Age of the oldest pending alert notice (0 when none is pending).")
        query = (select(t.c.sink, t.c.state, func.count(), func.min(t.c.created_at))
                 .where(t.c.state.in_(("pending", "failed"))).group_by(t.c.sink, t.c.state))
        with self.app.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        oldest = None
        counts = {(sink, state): 0 for sink in self.app.sinks.names for state in ("pending", "failed")}
        for sink, state, count, first in rows:
            counts[(sink, state)] = count
            if state == "pending" and first is not None:
                created = from_db(first)
                oldest = created if oldest is None else min(oldest, created)
        for (sink, state), count in sorted(counts.items()):
            notices.add_metric([sink, state], count)
        lag.add_metric([], 0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds())
        yield notices
        yield lag
