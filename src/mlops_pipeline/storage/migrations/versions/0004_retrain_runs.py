"""Retraining runs: what asked for one (CLI, UI, drift alert), by whom, and how it ended; and the
drift reference of a registered version (the data it learnt), so drift is measured against the
champion's own training data once a retrained version takes the traffic.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

FLOAT = sa.Float(precision=53)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retrain_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("requested_at", FLOAT, nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),  # cli | api | drift-alert
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),  # NULL: the next free vN when it runs
        sa.Column("rollout", sa.Boolean(), nullable=False),
        sa.Column("since_days", FLOAT, nullable=True),
        # queued | running | registered | refused | failed
        sa.Column("status", sa.Text(), nullable=False),
        # 1 while queued or running, NULL once finished: the unique index below then allows at
        # most one open run, whatever the number of API replicas and monitors (NULLs are
        # distinct in SQLite and PostgreSQL).
        sa.Column("open_slot", sa.Integer(), nullable=True, unique=True),
        sa.Column("started_at", FLOAT, nullable=True),
        sa.Column("finished_at", FLOAT, nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),  # JSON: the comparison and lineage
    )

    # JSON training statistics (with a sample of at most 5,000 rows); read only when the version
    # becomes the champion, never by the replicas' catalogue poll.
    op.add_column("model_versions", sa.Column("reference", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("reference")
    op.drop_table("retrain_runs")
