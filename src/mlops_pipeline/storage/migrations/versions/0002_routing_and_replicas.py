"""Routed or pinned traffic, versioned weights that replicas poll, and stored monitor reports.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

FLOAT = sa.Float(precision=53)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())

    def add(table: str, column: sa.Column[object]) -> None:
        # A file from the release just before migrations may have gained the column already.
        if column.name not in {c["name"] for c in inspector.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(column)

    add("predictions", sa.Column("assignment", sa.Text(), nullable=False, server_default="routed"))
    add("predictions", sa.Column("weights_version", sa.BigInteger(), nullable=True))
    add("feedback", sa.Column("assignment", sa.Text(), nullable=False, server_default="routed"))
    add("ab_weights", sa.Column("version", sa.BigInteger(), nullable=False, server_default="1"))
    # No index on predictions.created_at: every insert would pay for it on the hot path, and
    # ids grow with time, so retention walks the table in id order instead.
    op.create_index("feedback_first_labelled_at", "feedback", ["first_labelled_at"])
    op.create_index("shadow_results_created_at", "shadow_results", ["created_at"])
    # The monitor's latest reports (drift, experiment), read by every replica.
    op.create_table(
        "reports",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("computed_at", FLOAT, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_by", sa.Text(), nullable=False),
    )
