"""Dead letters for integration engineers: the list, one message with identifiers masked, its history,
retry (parse again and store if it now passes) and discard with a reason.

Both outcomes are rows of dead_letter_resolutions (who and why in `detail`, covered by the table's row
hash), which the database keeps append-only; the dead letter itself is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from engine.app import App
from engine.deadletters import retry
from engine.privacy import mask_identifiers
from engine.store.eventstore import DeadLetter
from engine.store.schema import dead_letter_resolutions
from engine.store.timestamps import from_db


@dataclass(frozen=True)
class Resolution:
    at: datetime
    outcome: str
    detail: str | None
    """Who and why, e.g. 'by integ: test message from the lab system'."""


@dataclass(frozen=True)
class LetterView:
    letter: DeadLetter
    masked: str | None
    """None when the message is kept encrypted (it could not be masked): it is never shown."""
    history: list[Resolution]


def letters(app: App, *, open_only: bool) -> list[DeadLetter]:
    """Newest first."""
    return list(reversed(app.store.dead_letters(unresolved_only=open_only)))


def letter(app: App, letter_id: int) -> LetterView | None:
    found = [d for d in app.store.dead_letters() if d.id == letter_id]
    if not found:
        return None
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(dead_letter_resolutions)
                            .where(dead_letter_resolutions.c.dead_letter_id == letter_id)
                            .order_by(dead_letter_resolutions.c.id)).mappings().all()
    history = [Resolution(from_db(r["resolved_at"]), r["outcome"], r["detail"]) for r in rows]
    shown = found[0]
    if shown.encryption is not None:  # it could not be parsed far enough to mask: it is not shown at all
        return LetterView(shown, None, history)
    return LetterView(shown, mask_identifiers(shown.raw), history)


def retry_one(app: App, letter_id: int, by: str) -> str:
    """Parse the message again with today's mapping; stored on success. Returns what happened, in words."""
    results = retry(app, letter_id)
    if not results:
        return "nothing to retry: the message was already accepted or discarded"
    outcome = results[0][1]
    if not outcome.startswith("accepted"):
        with app.store.writer() as writer:
            writer.resolve_dead_letter(letter_id, "retry-rejected", f"by {by}: {outcome}"[:1000], app.clock.now())
    return outcome


def discard(app: App, letter_id: int, by: str, reason: str) -> bool:
    """Close an open dead letter without storing it; False when it was not open."""
    if not any(d.id == letter_id for d in app.store.dead_letters(unresolved_only=True)):
        return False
    with app.store.writer() as writer:
        writer.resolve_dead_letter(letter_id, "discarded", f"by {by}: {reason}", app.clock.now())
    return True
