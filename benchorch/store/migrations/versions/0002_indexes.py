"""Indexes for the queries the report, the trend and resume make.

Revision ID: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("launches_run", "launches", ["run_id", "launch_key"]),
    ("launches_device_time", "launches", ["device_serial", "started_at"]),
    ("launches_time", "launches", ["started_at"]),
    ("skips_run", "skips", ["run_id"]),
    ("run_variants_sha", "run_variants", ["run_id", "sha256"]),
    ("runs_started", "runs", ["started_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
