"""Registered model versions every replica loads, rollouts with their audit, inference failures.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

FLOAT = sa.Float(precision=53)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A version added at run time: its ONNX bytes live here, so every replica (several hosts, no
    # shared volume needed) loads the same verified model. A retired version keeps its row.
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Text(), primary_key=True),
        sa.Column("status", sa.Text(), nullable=False),  # active | retired
        sa.Column("onnx", sa.LargeBinary(), nullable=True),  # NULL: retires a trained version
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("registered_at", FLOAT, nullable=False),
        sa.Column("changed_at", FLOAT, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
    )
    op.create_table(
        "rollouts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("candidate", sa.Text(), nullable=False),
        sa.Column("baseline", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),  # running | promoted | rolled_back | aborted
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_started_at", FLOAT, nullable=False),
        sa.Column("step_weights_version", sa.BigInteger(), nullable=False),
        sa.Column("first_weights_version", sa.BigInteger(), nullable=False),
        # The newest logged request when it started: evidence reads only rows after it.
        sa.Column("first_log_id", sa.BigInteger(), nullable=False),
        sa.Column("weights_before", sa.Text(), nullable=False),
        sa.Column("started_at", FLOAT, nullable=False),
        sa.Column("ended_at", FLOAT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("last_evidence", sa.Text(), nullable=True),
    )
    # At most one running rollout, whatever the number of monitors and API replicas.
    op.create_index(
        "rollouts_one_running",
        "rollouts",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'running'"),
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_table(
        "rollout_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("rollout_id", ID, nullable=False),
        sa.Column("at", FLOAT, nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("rollout_events_rollout", "rollout_events", ["rollout_id"])
    # A request a model version failed to answer (inference raised): the rollout's error rate.
    op.create_table(
        "inference_failures",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", FLOAT, nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("weights_version", sa.BigInteger(), nullable=True),
        sa.Column("assignment", sa.Text(), nullable=False),  # routed | pinned, as predictions
        sa.Column("code", sa.Text(), nullable=False),
    )

    # Serving settings changed at run time (the shadow version), adopted by every replica.
    op.create_table(
        "runtime_settings",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),  # JSON
        sa.Column("changed_at", FLOAT, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "runtime_settings",
        "inference_failures",
        "rollout_events",
        "rollouts",
        "model_versions",
    ):
        op.drop_table(table)
