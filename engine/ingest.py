"""Turning inbound messages into stored events: one transaction per batch (files) or per message (MLLP).

The derivation runs inside the same transaction as the facts that caused it, so a crash can never leave
a stored count without its derived response, nor an ACK for a message whose derivation was lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adapters.base import Accepted, InboundMessage, Rejected, Skipped
from engine.clock import Clock, system_clock
from engine.logs import get_logger
from engine.privacy import DeadLetterVault
from engine.store import EventStore, StoredEvent, StoreWriter

log = get_logger("itpwatch.ingest")


class Deriver(Protocol):
    """What ingest needs of the processor: derive from what this transaction appended, in it."""

    def process(self, writer: StoreWriter, appended: Sequence[StoredEvent]) -> int: ...


@dataclass(frozen=True, slots=True)
class DeadLetterNote:
    origin: str
    message_id: str | None
    field: str | None
    reason: str


@dataclass(slots=True)
class IngestSummary:
    messages: int = 0
    accepted: int = 0
    events: int = 0
    duplicates: int = 0
    derived: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_parts: int = 0
    """Irrelevant parts of accepted messages: other analytes of a CBC, drugs that are not tracked."""
    dead_lettered: list[DeadLetterNote] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def add(self, other: IngestSummary) -> None:
        self.messages += other.messages
        self.accepted += other.accepted
        self.events += other.events
        self.duplicates += other.duplicates
        self.derived += other.derived
        self.skipped.update(other.skipped)
        self.skipped_parts += other.skipped_parts
        self.dead_lettered.extend(other.dead_lettered)
        self.unreadable.extend(other.unreadable)


@dataclass(frozen=True, slots=True)
class MessageResult:
    ack_code: str
    duplicate: bool
    rejection: Rejected | None = None


class Ingestor:
    def __init__(
        self,
        store: EventStore,
        *,
        deriver: Deriver | None = None,
        clock: Clock = system_clock,
        batch_size: int = 2000,
        vault: DeadLetterVault | None = None,
    ) -> None:
        self.store = store
        self.vault = vault or DeadLetterVault(None)
        """Masks dead letters, or encrypts those that cannot be masked."""
        self.deriver = deriver
        self.clock = clock
        self.batch_size = batch_size

    def ingest(
        self, messages: Iterable[InboundMessage], *, on_message: Callable[[], None] | None = None
    ) -> IngestSummary:
        """Store many messages, batch_size per transaction."""
        summary = IngestSummary()
        batch: list[InboundMessage] = []
        for message in messages:
            batch.append(message)
            if len(batch) >= self.batch_size:
                self._commit_batch(batch, summary)
                batch = []
            if on_message is not None:
                on_message()
        if batch:
            self._commit_batch(batch, summary)
        log.info("ingest finished", messages=summary.messages, events=summary.events,
                 duplicates=summary.duplicates, dead_lettered=len(summary.dead_lettered))
        return summary

    def ingest_one(self, message: InboundMessage) -> MessageResult:
        """One message, one transaction: the caller ACKs only after this returns (after the commit)."""
        summary = IngestSummary()
        with self.store.writer() as writer:
            result = self._handle(writer, message, summary)
            if self.deriver is not None and writer.appended:
                self.deriver.process(writer, list(writer.appended))
        return result

    def ingest_group(self, messages: Sequence[InboundMessage]) -> list[MessageResult]:
        """Several messages in one transaction (MLLP group commit): one fsync for all of them.

        Every result is known only after the commit; the caller ACKs each message then. If the group
        fails, nothing of it is stored and the caller falls back to one transaction per message.
        """
        summary = IngestSummary()
        with self.store.writer() as writer:
            self._prefetch(writer, messages)
            results = [self._handle(writer, message, summary) for message in messages]
            if self.deriver is not None and writer.appended:
                self.deriver.process(writer, list(writer.appended))
        return results

    @staticmethod
    def _prefetch(writer: StoreWriter, batch: Sequence[InboundMessage]) -> None:
        accepted = [m.outcome.events for m in batch if isinstance(m.outcome, Accepted)]
        writer.prefetch(
            message_keys=[k for m in batch if (k := m.message_key) is not None],
            event_ids=[str(e.event_id) for events in accepted for e in events],
            streams=[e.stream for events in accepted for e in events],
        )

    def _commit_batch(self, batch: Sequence[InboundMessage], summary: IngestSummary) -> None:
        part = IngestSummary()
        with self.store.writer() as writer:
            self._prefetch(writer, batch)
            for message in batch:
                self._handle(writer, message, part)
            if self.deriver is not None and writer.appended:
                part.derived += self.deriver.process(writer, list(writer.appended))
        summary.add(part)

    def _handle(self, writer: StoreWriter, message: InboundMessage, summary: IngestSummary) -> MessageResult:
        summary.messages += 1
        outcome = message.outcome
        key = message.message_key
        if isinstance(outcome, Accepted):
            before = len(writer.appended)
            result = writer.append(outcome.events, message_key=key, ack_code="AA")
            if result.duplicate:
                summary.duplicates += 1
            else:
                summary.accepted += 1
                summary.events += len(writer.appended) - before
            if outcome.skipped_parts:
                summary.skipped_parts += outcome.skipped_parts
            return MessageResult(result.ack_code, result.duplicate)
        if isinstance(outcome, Skipped):
            summary.skipped[outcome.reason] += 1
            return MessageResult("AA", False)
        assert isinstance(outcome, Rejected)
        if key is not None and (seen := writer.message_seen(key)) is not None:
            summary.duplicates += 1
            return MessageResult(seen[0], True, outcome)
        kept = self.vault.protect(message.raw, message.feed)
        writer.dead_letter(
            raw=kept.raw, feed=message.feed, origin=message.origin,
            reason=outcome.reason if kept.note is None else f"{outcome.reason}; {kept.note}",
            field=outcome.field, error_code=outcome.error_code, ack_code=outcome.ack_code, message_key=key,
            recorded_at=self.clock.now(), encryption=kept.encryption,
        )
        summary.dead_lettered.append(DeadLetterNote(message.origin, message.message_id, outcome.field, outcome.reason))
        return MessageResult(outcome.ack_code, False, outcome)
