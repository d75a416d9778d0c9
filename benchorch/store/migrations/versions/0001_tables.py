"""The tables, as the first release of the store made them.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_id() -> sa.Column:
    return sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("host", sa.Text),
        sa.Column("benchorch_version", sa.Text),
    )
    op.create_table(
        "devices",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("state", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("manufacturer", sa.Text),
        sa.Column("soc", sa.Text),
        sa.Column("fingerprint", sa.Text),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Double, nullable=False),
        sa.UniqueConstraint("run_id", "serial"),
    )
    op.create_table(
        "binaries",
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("flavour", sa.Text),
        sa.Column("target", sa.Text),
        sa.Column("abi", sa.Text),
        sa.Column("pytorch_version", sa.Text),
        sa.Column("origin", sa.Text),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("provenance", sa.Text, nullable=False),
        sa.Column("first_seen", sa.Double, nullable=False),
    )
    op.create_table(
        "run_binaries",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("sha256", sa.Text, sa.ForeignKey("binaries.sha256"), primary_key=True),
    )
    op.create_table(
        "variant_files",
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("format", sa.Text),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("bytecode_version", sa.Integer),
        sa.Column("first_seen", sa.Double, nullable=False),
    )
    op.create_table(
        "run_variants",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("variant", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, sa.ForeignKey("variant_files.sha256"), primary_key=True),
        sa.Column("file", sa.Text),
        sa.Column("steps", sa.Text),
        sa.Column("check_passed", sa.Boolean(create_constraint=False)),
        sa.Column("check_max_abs_err", sa.Double),
        sa.Column("check_cosine", sa.Double),
        sa.Column("entry", sa.Text, nullable=False),
    )
    op.create_table(
        "skips",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("variant", sa.Text),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Double, nullable=False),
    )
    op.create_table(
        "launches",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        _run_id(),
        *(
            sa.Column(name, sa.Text, nullable=False)
            for name in (
                "launch_key",
                "device_serial",
                "variant",
                "variant_file",
                "variant_format",
                "variant_sha256",
                "binary_sha256",
                "dims",
                "types",
                "memory_format",
            )
        ),
        sa.Column("threads", sa.Integer, nullable=False),
        sa.Column("core_mask", sa.BigInteger),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("launch_index", sa.Integer, nullable=False),
        sa.Column("iters", sa.Integer, nullable=False),
        sa.Column("warmup", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error_kind", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("us_per_iter", sa.Double),
        sa.Column("iters_per_sec", sa.Double),
        sa.Column("samples", sa.LargeBinary, nullable=False),
        sa.Column("load_s", sa.Double),
        sa.Column("wall_s", sa.Double),
        sa.Column("exit_code", sa.Integer),
        sa.Column("timed_out", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("hot", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("health_before", sa.Text),
        sa.Column("health_after", sa.Text),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=False),
        sa.Column("argv", sa.Text, nullable=False),
        sa.Column("stdout", sa.Text, nullable=False),
        sa.Column("stderr", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "launches",
        "skips",
        "run_variants",
        "variant_files",
        "run_binaries",
        "binaries",
        "devices",
        "runs",
    ):
        op.drop_table(name)
