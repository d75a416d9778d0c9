"""The results schema at its newest version, as SQLAlchemy Core tables.

Both backends (SQLite, PostgreSQL) share these definitions; the Alembic
revisions in ``migrations/versions`` build them step by step, and
``tests/store/test_upgrade.py`` checks that the two agree.

Tables (all append-only, except ``runs.status``/``finished_at`` which
``finish_run`` and ``resume_run`` set):

* ``runs``: one per ``create_run``; ``params`` is the sweep's settings as JSON.
* ``devices``: per run and serial, the ``DeviceInfo`` facts (``facts`` JSON),
  with model, fingerprint and SoC as columns for joins.
* ``binaries``: one per sha256 (provenance JSON of its first sighting);
  ``run_binaries`` links runs to them.
* ``variant_files``: one per sha256 (content facts); ``run_variants`` keeps the
  manifest entry of each variant name a run used (steps, check), in the order
  recorded (``id``).
* ``skips``: what the plan left out and why.
* ``nights``: one per night and configuration of ``benchorch nightly`` (the
  claim; ``status``, ``holder``, ``run_id`` and ``detail`` are updated).
* ``launches``: one per launch; ``samples`` is the bytes of little-endian
  float64 (8 per iteration, microseconds), health and argv are JSON text.

Times are unix seconds (double precision); JSON is kept as text, so a row
reads back byte for byte what was written on either backend.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: A row id: SQLite's rowid alias (INTEGER PRIMARY KEY), PostgreSQL's bigint identity.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: Booleans are 0/1 integers in files written before SQLAlchemy: keep that on SQLite.
Flag = sa.Boolean(create_constraint=False)
Seconds: sa.Double[float] = sa.Double()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("started_at", Seconds, nullable=False),
    sa.Column("finished_at", Seconds),
    sa.Column("status", sa.Text, nullable=False, server_default="running"),
    sa.Column("host", sa.Text),
    sa.Column("benchorch_version", sa.Text),
    sa.Index("runs_started", "started_at"),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("serial", sa.Text, nullable=False),
    sa.Column("state", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("manufacturer", sa.Text),
    sa.Column("soc", sa.Text),
    sa.Column("fingerprint", sa.Text),
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("recorded_at", Seconds, nullable=False),
    sa.UniqueConstraint("run_id", "serial"),
)

binaries = sa.Table(
    "binaries",
    metadata,
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("flavour", sa.Text),
    sa.Column("target", sa.Text),
    sa.Column("abi", sa.Text),
    sa.Column("pytorch_version", sa.Text),
    sa.Column("origin", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("provenance", sa.Text, nullable=False),
    sa.Column("first_seen", Seconds, nullable=False),
)

run_binaries = sa.Table(
    "run_binaries",
    metadata,
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("sha256", sa.Text, sa.ForeignKey("binaries.sha256"), primary_key=True),
)

variant_files = sa.Table(
    "variant_files",
    metadata,
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("format", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("bytecode_version", sa.Integer),
    sa.Column("first_seen", Seconds, nullable=False),
)

run_variants = sa.Table(
    "run_variants",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, sa.ForeignKey("variant_files.sha256"), nullable=False),
    sa.Column("file", sa.Text),
    sa.Column("steps", sa.Text),
    sa.Column("check_passed", Flag),
    sa.Column("check_max_abs_err", Seconds),
    sa.Column("check_cosine", Seconds),
    sa.Column("entry", sa.Text, nullable=False),
    sa.UniqueConstraint("run_id", "variant", "sha256", name="run_variants_key"),
    sa.Index("run_variants_sha", "run_id", "sha256"),
)

skips = sa.Table(
    "skips",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("variant", sa.Text),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_at", Seconds, nullable=False),
    sa.Index("skips_run", "run_id"),
)

launches = sa.Table(
    "launches",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("launch_key", sa.Text, nullable=False),
    sa.Column("device_serial", sa.Text, nullable=False),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("variant_file", sa.Text, nullable=False),
    sa.Column("variant_format", sa.Text, nullable=False),
    sa.Column("variant_sha256", sa.Text, nullable=False),
    sa.Column("binary_sha256", sa.Text, nullable=False),
    sa.Column("dims", sa.Text, nullable=False),
    sa.Column("types", sa.Text, nullable=False),
    sa.Column("memory_format", sa.Text, nullable=False),
    sa.Column("threads", sa.Integer, nullable=False),
    sa.Column("core_mask", sa.BigInteger),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("launch_index", sa.Integer, nullable=False),
    sa.Column("iters", sa.Integer, nullable=False),
    sa.Column("warmup", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error_kind", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("us_per_iter", Seconds),
    sa.Column("iters_per_sec", Seconds),
    sa.Column("samples", sa.LargeBinary, nullable=False),
    sa.Column("load_s", Seconds),
    sa.Column("wall_s", Seconds),
    sa.Column("exit_code", sa.Integer),
    sa.Column("timed_out", Flag, nullable=False),
    sa.Column("hot", Flag, nullable=False),
    sa.Column("health_before", sa.Text),
    sa.Column("health_after", sa.Text),
    sa.Column("started_at", Seconds, nullable=False),
    sa.Column("finished_at", Seconds, nullable=False),
    sa.Column("argv", sa.Text, nullable=False),
    sa.Column("stdout", sa.Text, nullable=False),
    sa.Column("stderr", sa.Text, nullable=False),
    sa.Index("launches_run", "run_id", "launch_key"),
    sa.Index("launches_device_time", "device_serial", "started_at"),
    sa.Index("launches_time", "started_at"),
)

#: One row per night and configuration: the claim that makes a nightly idempotent
#: (its primary key is the claim), the run it became, and what the night recorded
#: (``detail`` JSON: revisions, phones left out and why, planned launches per phone).
nights = sa.Table(
    "nights",
    metadata,
    sa.Column("night", sa.Text, primary_key=True),
    sa.Column("config_hash", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("claimed_at", Seconds, nullable=False),
    sa.Column("updated_at", Seconds, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

#: Every table, parents before children (the order a copy inserts in).
TABLES: tuple[sa.Table, ...] = (
    runs,
    devices,
    binaries,
    run_binaries,
    variant_files,
    run_variants,
    skips,
    launches,
    nights,
)
