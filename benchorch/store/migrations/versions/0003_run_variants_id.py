"""``run_variants`` gets an ``id``: the order variants were recorded in.

Queries used SQLite's hidden ``rowid`` for that order, which PostgreSQL does
not have. The old key (run, variant, sha256) stays, as a unique constraint.
On SQLite the table is rebuilt with ``id`` taken from the old ``rowid``, so
existing rows keep their order.

Revision ID: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = (
    "run_id, variant, sha256, file, steps, check_passed, check_max_abs_err, check_cosine, entry"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            """CREATE TABLE run_variants_new (
                id INTEGER PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs(run_id),
                variant TEXT NOT NULL,
                sha256 TEXT NOT NULL REFERENCES variant_files(sha256),
                file TEXT,
                steps TEXT,
                check_passed BOOLEAN,
                check_max_abs_err FLOAT,
                check_cosine FLOAT,
                entry TEXT NOT NULL,
                CONSTRAINT run_variants_key UNIQUE (run_id, variant, sha256)
            )"""
        )
        op.execute(
            f"INSERT INTO run_variants_new (id, {_COLUMNS})"  # noqa: S608 (fixed names)
            f" SELECT rowid, {_COLUMNS} FROM run_variants ORDER BY rowid"
        )
        op.execute("DROP TABLE run_variants")
        op.execute("ALTER TABLE run_variants_new RENAME TO run_variants")
        op.create_index("run_variants_sha", "run_variants", ["run_id", "sha256"])
    else:
        op.execute("ALTER TABLE run_variants DROP CONSTRAINT run_variants_pkey")
        op.execute("ALTER TABLE run_variants ADD COLUMN id BIGSERIAL PRIMARY KEY")
        op.execute(
            "ALTER TABLE run_variants ADD CONSTRAINT run_variants_key"
            " UNIQUE (run_id, variant, sha256)"
        )


def downgrade() -> None:
    raise NotImplementedError("the store's schema only moves forward")
