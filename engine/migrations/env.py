"""Alembic environment: the engine comes from engine.store.migrate (no alembic.ini, no URL in files)."""

from __future__ import annotations

from alembic import context

from engine.store.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
