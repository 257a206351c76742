"""Hash chains over every column: chain version per event row, chains for the side tables, legacy seals.

Rows already written cannot be rewritten (the tables refuse UPDATE), so they keep chain version 1 and this
migration seals them: one hash per table over every column of every existing row, kept in `chain_seals`
(itself append-only). Rows written from now on carry a full-row hash in their own column.

Revision ID: 0030
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from engine.store import schema
from engine.store.hashing import EVENT_COLUMNS, GENESIS, SIDE_COLUMNS, row_hash

revision = "0030"
down_revision = "0003"
branch_labels = None
depends_on = None

SIDE_ORDER = {"inbound_messages": "message_key", "dead_letters": "id", "dead_letter_resolutions": "id"}


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("events", sa.Column("chain_version", sa.Integer, nullable=False, server_default=sa.text("1")))
    for table in SIDE_COLUMNS:
        op.add_column(table, sa.Column("seq", sa.BigInteger, nullable=True))
        op.add_column(table, sa.Column("hash", sa.String(64), nullable=True))
        op.create_index(f"ux_{table}_seq", table, ["seq"], unique=True)
    op.add_column("dead_letters", sa.Column("encryption", sa.String(40), nullable=True))
    seals = op.create_table(
        "chain_seals",
        sa.Column("table_name", sa.String(40), primary_key=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("last_key", sa.String(300), nullable=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
    )
    _refuse_changes(bind.dialect.name)
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    rows = []
    for table, columns, order in [("events", EVENT_COLUMNS, "position"),
                                  *((t, SIDE_COLUMNS[t], SIDE_ORDER[t]) for t in SIDE_COLUMNS)]:
        sealed = seal(bind, table, columns, order)
        if sealed is not None:
            rows.append({"table_name": table, "rows": sealed[0], "last_key": sealed[1], "hash": sealed[2],
                         "sealed_at": now})
    if rows:
        op.bulk_insert(seals, rows)


def seal(bind: sa.Connection, table: str, columns: tuple[str, ...], order: str) -> tuple[int, str, str] | None:
    """(rows, key of the last row, hash) over every existing row of a table, or None when it is empty."""
    t = schema.metadata.tables[table]
    key = t.c[order].collate("C") if bind.dialect.name == "postgresql" and order == "message_key" else t.c[order]
    current, count, last = GENESIS, 0, None
    result = bind.execute(sa.select(*(t.c[c] for c in columns)).order_by(key))
    for row in result:
        current = row_hash(current, table, row)
        count += 1
        last = str(row._mapping[order])
    return (count, last or "", current) if count else None


def _refuse_changes(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("CREATE TRIGGER chain_seals_append_only BEFORE UPDATE OR DELETE ON chain_seals "
                   "FOR EACH ROW EXECUTE FUNCTION itpwatch_refuse_change()")
        op.execute("CREATE TRIGGER chain_seals_no_truncate BEFORE TRUNCATE ON chain_seals "
                   "FOR EACH STATEMENT EXECUTE FUNCTION itpwatch_refuse_change()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER chain_seals_no_{verb.lower()} BEFORE {verb} ON chain_seals BEGIN "
                   f"SELECT RAISE(ABORT, 'itpwatch: {verb} on chain_seals is refused: the log is append-only'); END")


def downgrade() -> None:
    raise NotImplementedError("the event log is never dropped by a migration")
