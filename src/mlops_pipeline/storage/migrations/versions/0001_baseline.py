"""Baseline: the tables of the release before migrations existed.

A file that release created already has them (``CREATE TABLE IF NOT EXISTS`` made them); they are
adopted as they are, and the next revisions bring them up to date.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

BLOB = sa.LargeBinary()
FLOAT = sa.Float(precision=53)  # REAL on SQLite, DOUBLE PRECISION on PostgreSQL
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())

    def create(name: str, *columns: sa.schema.SchemaItem) -> None:
        if name not in existing:
            op.create_table(name, *columns)

    create(
        "predictions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", FLOAT, nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text()),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("features", BLOB, nullable=False),
        sa.Column("predictions", BLOB, nullable=False),
        sa.Column("probabilities", BLOB, nullable=False),
        sa.Column("latency_ms", FLOAT, nullable=False),
    )
    create(
        "rejected_inputs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", FLOAT, nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
    )
    if "rejected_inputs" not in existing:
        op.create_index("rejected_inputs_created_at", "rejected_inputs", ["created_at"])
    create(
        "feedback",
        sa.Column("request_id", sa.Text(), primary_key=True),
        sa.Column("row_index", sa.Integer(), primary_key=True),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("predicted", sa.Integer(), nullable=False),
        sa.Column("true_label", sa.Integer(), nullable=False),
        sa.Column("first_labelled_at", FLOAT, nullable=False),
        sa.Column("labelled_at", FLOAT, nullable=False),
    )
    create(
        "ab_weights",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("changed_at", FLOAT, nullable=False),
        sa.CheckConstraint("id = 1", name="ab_weights_single_row"),
    )
    create(
        "shadow_results",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", FLOAT, nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("primary_version", sa.Text(), nullable=False),
        sa.Column("shadow_version", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("agreed", sa.Integer(), nullable=False),
    )
    create(
        "weight_changes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("changed_at", FLOAT, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("old_weights", sa.Text(), nullable=False),
        sa.Column("new_weights", sa.Text(), nullable=False),
    )
