"""Cohort statistics per agent, kept up to date from the episodes read model.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohort_statistics",
        sa.Column("derivation_set", sa.String(100), primary_key=True),
        sa.Column("agent", sa.String(60), primary_key=True),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cohort_statistics")
