"""Storing what was POSTed to the FHIR facade: one resource, a batch (each entry alone) or a transaction.

A transaction Bundle is all-or-nothing: every entry is read first, and if one cannot be accepted nothing
is stored; the Bundle (names cut out) becomes one dead letter, keyed by its bytes so that a resend is
answered the same without a second one. Otherwise all entries are stored, and derived from, in one
database transaction. These functions run on the server's storage thread (Service.run).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import Accepted, InboundMessage, Rejected
from adapters.reader import read_bytes
from engine.api.patients import PatientIndex
from engine.app import App
from engine.ingest import Ingestor, MessageResult

FEED = "fhir-http"


@dataclass(frozen=True, slots=True)
class TransactionFailed:
    """The entry that failed a transaction, and why; nothing of the Bundle was stored."""

    entry: int
    rejection: Rejected
    before: bool = False
    """The same Bundle failed before (answered from the idempotency record)."""

    @property
    def expression(self) -> str:
        field = self.rejection.field or ""
        head, _, rest = field.partition(".")
        path = rest if head[:1].isupper() and rest else field
        return f"Bundle.entry[{self.entry}].resource" + (f".{path}" if path else "")


def read_body(app: App, patients: PatientIndex, body: bytes) -> list[InboundMessage]:
    """The messages of a body, nothing stored (also what $validate reports)."""
    return read_bytes(body, origin="http", received_at=app.clock.now(), mapping=app.mapping, tz=app.tzinfo,
                      fhir_feed=FEED, known_patients=patients.stream_of)


def store_each(app: App, ingestor: Ingestor, patients: PatientIndex, body: bytes
               ) -> list[tuple[InboundMessage, MessageResult]]:
    """One resource, or a batch: each entry in its own transaction, so one bad entry fails alone."""
    out = []
    for message in read_body(app, patients, body):
        result = ingestor.ingest_one(message)
        _learn(patients, [message])
        out.append((message, result))
    return out


def store_transaction(app: App, ingestor: Ingestor, patients: PatientIndex, body: bytes
                      ) -> list[tuple[InboundMessage, MessageResult]] | TransactionFailed:
    messages = read_body(app, patients, body)
    failed = next(((n, m.outcome) for n, m in enumerate(messages) if isinstance(m.outcome, Rejected)), None)
    if failed is not None:
        n, rejection = failed
        assert isinstance(rejection, Rejected)
        return _fail(app, body, TransactionFailed(n, rejection))
    results = ingestor.ingest_group(messages)
    _learn(patients, messages)
    return list(zip(messages, results, strict=True))


def _fail(app: App, body: bytes, failure: TransactionFailed) -> TransactionFailed:
    key = f"fhir-transaction|sha256:{hashlib.sha256(body).hexdigest()[:40]}"
    with app.store.writer() as writer:
        if writer.message_seen(key) is not None:
            return TransactionFailed(failure.entry, failure.rejection, before=True)
        rejection = failure.rejection
        kept = app.vault.protect(body, FEED)  # masked, or encrypted when it cannot be masked
        writer.dead_letter(
            raw=kept.raw, feed=FEED, origin="http", message_key=key, recorded_at=app.clock.now(),
            reason=f"transaction not stored: entry {failure.entry}: {rejection.reason}",
            field=failure.expression, error_code=rejection.error_code, ack_code=rejection.ack_code,
            encryption=kept.encryption,
        )
    return failure


def _learn(patients: PatientIndex, messages: Sequence[InboundMessage]) -> None:
    stored: list[Any] = [e for m in messages if isinstance(m.outcome, Accepted) for e in m.outcome.events]
    patients.learn(stored)
