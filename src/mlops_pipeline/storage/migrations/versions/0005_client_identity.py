"""Who sent each logged request: the prediction key's name or a bounded anonymous identity, so
drift and rollout evidence can bound each client's share. Rows logged before keep NULL (each
counts as its own client).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # Nullable with no default: SQLite and PostgreSQL both add it without rewriting the table.
    op.add_column("predictions", sa.Column("client_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("client_id")
