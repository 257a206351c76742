"""The append-only event log and the tables that live beside it."""

from engine.store.database import connect
from engine.store.errors import ConcurrencyError, StoreError
from engine.store.eventstore import AppendResult, EventStore, StoredEvent, StoreWriter

__all__ = ["AppendResult", "ConcurrencyError", "EventStore", "StoreError", "StoreWriter", "StoredEvent", "connect"]
