"""Which monitor runs each retraining run, so a new leader frees the slot of one whose monitor
died instead of waiting for the 30-minute expiry. Runs recorded before, and runs `mlops retrain`
records itself, keep NULL (only their expiry frees them).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    # Nullable with no default: SQLite and PostgreSQL both add it without rewriting the table.
    op.add_column("retrain_runs", sa.Column("holder", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("retrain_runs") as batch:
        batch.drop_column("holder")
