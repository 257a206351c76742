from __future__ import annotations

from alembic.script import ScriptDirectory

from engine.store import EventStore
from engine.store.migrate import alembic_config, current_revision, upgrade


def test_schema_is_at_head_and_upgrade_is_idempotent(db_url: str) -> None:
    store = EventStore.open(db_url)
    head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()
    assert head is not None
    assert current_revision(store.engine) == head
    upgrade(store.engine)
    assert current_revision(store.engine) == head
    store.close()
