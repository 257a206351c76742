"""The event log, inbound message keys and dead letters, append-only by trigger.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
APPEND_ONLY = ("events", "inbound_messages", "dead_letters", "dead_letter_resolutions")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("message_key", sa.String(300), nullable=True),
        sa.Column("derivation_set", sa.String(100), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("stream", "stream_version", name="uq_events_stream_version"),
    )
    op.create_index("ix_events_stream_occurred", "events", ["stream", "occurred_at"])
    op.create_index("ix_events_occurred", "events", ["occurred_at"])
    op.create_index("ix_events_recorded", "events", ["recorded_at"])
    op.create_table(
        "inbound_messages",
        sa.Column("message_key", sa.String(300), primary_key=True),
        sa.Column("ack_code", sa.String(2), nullable=False),
        sa.Column("positions", sa.Text, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("feed", sa.String(40), nullable=False),
        sa.Column("origin", sa.String(500), nullable=False),
        sa.Column("message_key", sa.String(300), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("field", sa.String(200), nullable=True),
        sa.Column("error_code", sa.String(10), nullable=False),
        sa.Column("ack_code", sa.String(2), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "dead_letter_resolutions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dead_letter_id", sa.Integer, nullable=False, index=True),
        sa.Column("resolved_at", TS, nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION itpwatch_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'itpwatch: % on % is refused: the log is append-only', TG_OP, TG_TABLE_NAME;
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION itpwatch_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION itpwatch_refuse_change()"
            )
    else:
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'itpwatch: {verb} on {table} is refused: the log is append-only'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("the event log is never dropped by a migration")
