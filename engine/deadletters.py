"""Retrying dead letters after the cause was fixed (a unit or a local code added to the site mapping)."""

from __future__ import annotations

from engine.app import App
from engine.ingest import Ingestor


def retry(app: App, dead_letter_id: int | None) -> list[tuple[int, str]]:
    """Parse each open dead letter again; an accepted one is stored and its dead letter marked resolved.

    The dead letter row is never changed: the resolution is a new row beside it (the tables are
    append-only). A message that still fails stays open with its original reason.
    """
    from adapters.base import Accepted, Skipped
    from adapters.reader import read_bytes

    ingestor: Ingestor = app.ingestor()
    results: list[tuple[int, str]] = []
    for letter in app.store.dead_letters(unresolved_only=True):
        if dead_letter_id is not None and letter.id != dead_letter_id:
            continue
        try:
            raw = app.vault.reveal(letter.raw, letter.encryption)
        except KeyError as exc:
            results.append((letter.id, f"still rejected: {exc.args[0]}"))
            continue
        messages = read_bytes(raw, origin=letter.origin, received_at=app.clock.now(),
                              mapping=app.mapping, tz=app.tzinfo)
        outcomes = [m.outcome for m in messages]
        if messages and all(isinstance(o, Accepted | Skipped) for o in outcomes):
            with app.store.writer() as writer:
                summary_events = 0
                for message in messages:
                    if isinstance(message.outcome, Accepted):
                        # a dead-lettered key was recorded with its AE: store under the retry's own key
                        before = len(writer.appended)
                        writer.append(message.outcome.events, message_key=None)
                        summary_events += len(writer.appended) - before
                if ingestor.deriver is not None and writer.appended:
                    ingestor.deriver.process(writer, list(writer.appended))
                writer.resolve_dead_letter(letter.id, "accepted", f"{summary_events} events", app.clock.now())
            results.append((letter.id, f"accepted ({summary_events} events)"))
        else:
            reasons = "; ".join(o.reason for o in outcomes if not isinstance(o, Accepted | Skipped)) or "no message"
            results.append((letter.id, f"still rejected: {reasons}"))
    return results
