"""Event time moving on: `itpwatch tick` appends a ClockAdvanced so deadlines are derived by event time."""

from __future__ import annotations

from datetime import datetime

from engine.app import App
from events import CLOCK_STREAM, ClockAdvanced, Source, stable_event_id


def clock_event(at: datetime, recorded_at: datetime) -> ClockAdvanced:
    return ClockAdvanced(
        event_id=stable_event_id("clock", at.isoformat()),
        stream=CLOCK_STREAM,
        occurred_at=at,
        recorded_at=recorded_at,
        source=Source(feed="cli", sender="itpwatch-tick", message_id=at.isoformat()),
    )


def advance_clock(app: App, at: datetime) -> int:
    """Append the clock event and derive in the same transaction; returns the derived events appended."""
    processor = app.live_processor
    with app.store.writer() as writer:
        writer.append([clock_event(at, app.clock.now())])
        return int(processor.process(writer, list(writer.appended)))
