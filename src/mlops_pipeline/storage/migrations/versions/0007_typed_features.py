"""Typed rows in the prediction log: a model with string, integer, boolean or nullable columns
logs each request's rows as a JSON array of objects by column name (``null`` where missing),
queryable in SQL (PostgreSQL ``typed_features->0->>'island'``, SQLite
``json_extract(typed_features, '$[0].island')``). All-numeric (Iris) rows keep the float64 blob
in ``features`` and leave this NULL, so rows logged before stay readable as they are.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"

# JSONB on PostgreSQL (indexable, operators); SQLite has no JSON type, its json_* functions
# read JSON kept as TEXT.
TYPED = sa.Text().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Nullable with no default: SQLite and PostgreSQL both add it without rewriting the table.
    op.add_column("predictions", sa.Column("typed_features", TYPED, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("typed_features")
