from __future__ import annotations

from engine.store import EventStore
from engine.store.migrate import current_revision, upgrade


def test_schema_is_at_head_and_upgrade_is_idempotent(db_url: str) -> None:
    store = EventStore.open(db_url)
    assert current_revision(store.engine) == "0070"
    upgrade(store.engine)
    assert current_revision(store.engine) == "0070"
    store.close()
