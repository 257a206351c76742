"""Read models with their tracking positions, and the alert outbox.

These tables are not the log: projections are rebuilt from it at will, and outbox rows move from
pending to delivered. The log tables stay append-only.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projection_positions",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "patient_status",
        sa.Column("derivation_set", sa.String(100), primary_key=True),
        sa.Column("patient", sa.String(200), primary_key=True),
        sa.Column("agent", sa.String(60), nullable=True),
        sa.Column("episode", sa.Integer, nullable=True),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("since", sa.Date, nullable=True),
        sa.Column("last_count", sa.Float, nullable=True),
        sa.Column("last_count_at", TS, nullable=True),
        sa.Column("open_alerts", sa.Integer, nullable=False),
        sa.Column("profile_version", sa.String(40), nullable=True),
    )
    op.create_table(
        "episodes",
        sa.Column("derivation_set", sa.String(100), primary_key=True),
        sa.Column("patient", sa.String(200), primary_key=True),
        sa.Column("agent", sa.String(60), primary_key=True),
        sa.Column("episode", sa.Integer, primary_key=True),
        sa.Column("row", sa.Text, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_event_id", sa.String(36), primary_key=True),
        sa.Column("patient", sa.String(200), nullable=False, index=True),
        sa.Column("alert", sa.String(80), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("rule_id", sa.String(80), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_event_id", sa.String(36), nullable=False),
        sa.Column("notice", sa.String(20), nullable=False),
        sa.Column("sink", sa.String(80), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False, unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
    )
    op.create_index("ix_outbox_state_next", "alert_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    for table in ("alert_outbox", "alerts", "episodes", "patient_status", "projection_positions"):
        op.drop_table(table)
