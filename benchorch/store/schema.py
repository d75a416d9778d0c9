"""The results schema and its migrations.

``PRAGMA user_version`` holds how many steps of ``MIGRATIONS`` a file has had.
Opening a file applies the missing steps in one ``BEGIN IMMEDIATE``
transaction (so two processes opening the same old file do not both migrate
it: the second one waits, then sees the new version). A file whose version is
above ``len(MIGRATIONS)`` was written by a newer benchorch: refuse it rather
than guess.

Steps are append-only: never edit a released step, add a new one.

Tables (all append-only, except ``runs.status``/``finished_at`` which
``finish_run`` sets):

* ``runs``: one per ``create_run``; ``params`` is the sweep's settings as JSON.
* ``devices``: per run and serial, the ``DeviceInfo`` facts (``facts`` JSON),
  with model, fingerprint and SoC as columns for joins.
* ``binaries``: one per sha256 (provenance JSON of its first sighting);
  ``run_binaries`` links runs to them.
* ``variant_files``: one per sha256 (content facts); ``run_variants`` keeps the
  manifest entry of each variant name a run used (steps, check).
* ``skips``: what the plan left out and why.
* ``launches``: one per launch; ``samples`` is a BLOB of little-endian float64
  (8 bytes per iteration, microseconds), health and argv are JSON.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the tables.
    (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            params TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL DEFAULT 'running',
            host TEXT,
            benchorch_version TEXT
        )""",
        """CREATE TABLE devices (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            serial TEXT NOT NULL,
            state TEXT,
            model TEXT,
            manufacturer TEXT,
            soc TEXT,
            fingerprint TEXT,
            facts TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            UNIQUE (run_id, serial)
        )""",
        """CREATE TABLE binaries (
            sha256 TEXT PRIMARY KEY,
            flavour TEXT,
            target TEXT,
            abi TEXT,
            pytorch_version TEXT,
            origin TEXT,
            size_bytes INTEGER,
            provenance TEXT NOT NULL,
            first_seen REAL NOT NULL
        )""",
        """CREATE TABLE run_binaries (
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            sha256 TEXT NOT NULL REFERENCES binaries(sha256),
            PRIMARY KEY (run_id, sha256)
        )""",
        """CREATE TABLE variant_files (
            sha256 TEXT PRIMARY KEY,
            format TEXT,
            size_bytes INTEGER,
            bytecode_version INTEGER,
            first_seen REAL NOT NULL
        )""",
        """CREATE TABLE run_variants (
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            variant TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES variant_files(sha256),
            file TEXT,
            steps TEXT,
            check_passed INTEGER,
            check_max_abs_err REAL,
            check_cosine REAL,
            entry TEXT NOT NULL,
            PRIMARY KEY (run_id, variant, sha256)
        )""",
        """CREATE TABLE skips (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            device TEXT NOT NULL,
            variant TEXT,
            config TEXT NOT NULL,
            reason TEXT NOT NULL,
            recorded_at REAL NOT NULL
        )""",
        """CREATE TABLE launches (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            launch_key TEXT NOT NULL,
            device_serial TEXT NOT NULL,
            variant TEXT NOT NULL,
            variant_file TEXT NOT NULL,
            variant_format TEXT NOT NULL,
            variant_sha256 TEXT NOT NULL,
            binary_sha256 TEXT NOT NULL,
            dims TEXT NOT NULL,
            types TEXT NOT NULL,
            memory_format TEXT NOT NULL,
            threads INTEGER NOT NULL,
            core_mask INTEGER,
            kind TEXT NOT NULL,
            launch_index INTEGER NOT NULL,
            iters INTEGER NOT NULL,
            warmup INTEGER NOT NULL,
            status TEXT NOT NULL,
            error_kind TEXT,
            message TEXT,
            us_per_iter REAL,
            iters_per_sec REAL,
            samples BLOB NOT NULL,
            load_s REAL,
            wall_s REAL,
            exit_code INTEGER,
            timed_out INTEGER NOT NULL,
            hot INTEGER NOT NULL,
            health_before TEXT,
            health_after TEXT,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            argv TEXT NOT NULL,
            stdout TEXT NOT NULL,
            stderr TEXT NOT NULL
        )""",
    ),
    # 2: indexes for the queries the report and resume make.
    (
        "CREATE INDEX launches_run ON launches(run_id, launch_key)",
        "CREATE INDEX launches_device_time ON launches(device_serial, started_at)",
        "CREATE INDEX launches_time ON launches(started_at)",
        "CREATE INDEX skips_run ON skips(run_id)",
        "CREATE INDEX run_variants_sha ON run_variants(run_id, sha256)",
        "CREATE INDEX runs_started ON runs(started_at)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The file's ``user_version`` is above what this code knows."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"schema version {found}, this benchorch knows up to {known}")
        self.found = found
        self.known = known


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection, steps: Sequence[Sequence[str]] = MIGRATIONS
) -> tuple[int, int]:
    """Bring ``conn`` (autocommit mode) to ``len(steps)``; returns (before, after).

    Cheap when nothing is to do: one read of ``user_version``, no write lock.
    """
    known = len(steps)
    found = user_version(conn)
    if found > known:
        raise SchemaTooNew(found, known)
    if found == known:
        return found, found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = user_version(conn)  # another process may have migrated meanwhile
        if found > known:
            raise SchemaTooNew(found, known)
        for step in steps[found:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {int(known)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found, known
