"""A lab sweep's parts and the files they need, in the lab's PostgreSQL (psycopg, plain SQL).

* ``benchorch_lab_parts``: one row per phone of a ``sweep --lab``: its run, its
  phone, what to run (``spec``: settings, binaries and files by content hash,
  the planned launches), and where it is (``status``, launches done and
  failed, the launch running now). Only the attempt holding the part's current
  token moves it (``token`` is set when an attempt takes the part), so an
  attempt that was superseded cannot overwrite its successor's progress. The
  submitting ``sweep --lab`` reads these rows for its progress and report:
  benchorch's tables, not the queue's status.
* ``benchorch_lab_blobs``: the binaries and variant files of lab sweeps, by
  sha256. The submitter stores each file once; a worker on any machine fetches
  it into its own cache and checks the hash (docs/LAB.md "Files").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.lab.state import Conn

__all__ = [
    "ENDED",
    "Part",
    "create_tables",
    "fetch_blob",
    "put_blob",
]

#: Statuses a part ends with (the executor's device statuses, and "not run").
NOT_RUN = "not run"
ENDED = ("ok", "failed", "lost", "refused", "interrupted", "error", NOT_RUN)

SCHEMA = """
CREATE TABLE IF NOT EXISTS benchorch_lab_blobs (
    sha256 text PRIMARY KEY,
    size bigint NOT NULL,
    data bytea NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS benchorch_lab_parts (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL,
    serial text NOT NULL,
    host text NOT NULL,
    model text NOT NULL,
    priority integer NOT NULL,
    spec jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    message text NOT NULL DEFAULT '',
    total integer NOT NULL DEFAULT 0,
    done integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    current text NOT NULL DEFAULT '',
    job_id bigint,
    token bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);
CREATE INDEX IF NOT EXISTS benchorch_lab_parts_run ON benchorch_lab_parts (run_id);
ALTER TABLE benchorch_lab_parts ADD COLUMN IF NOT EXISTS move_reason text;
ALTER TABLE benchorch_lab_parts ADD COLUMN IF NOT EXISTS moves text;
"""


@dataclass(frozen=True)
class Part:
    id: int
    run_id: str
    serial: str
    host: str
    model: str
    priority: int
    spec: dict[str, Any]
    status: str
    message: str
    total: int
    done: int
    failed: int
    current: str
    job_id: int | None
    token: int | None
    move_reason: str | None = None  # why its phone cannot run it: the submitter moves it
    moves: str | None = None  # the moves it made ("moved from SERIAL: why"; "; " between)

    @property
    def summary(self) -> str:
        """Its message, after the moves it made."""
        return "; ".join(x for x in (self.moves, self.message) if x)

    @property
    def ended(self) -> bool:
        return self.status in ENDED


def create_tables(conn: Conn) -> None:
    conn.execute(SCHEMA)


def _part(row: dict[str, Any] | None) -> Part | None:
    if row is None:
        return None
    keys = Part.__dataclass_fields__
    return Part(**{k: v for k, v in row.items() if k in keys})


def create_part(
    conn: Conn,
    *,
    run_id: str,
    serial: str,
    host: str,
    model: str,
    priority: int,
    spec: dict[str, Any],
    total: int,
) -> int:
    row = conn.execute(
        "INSERT INTO benchorch_lab_parts (run_id, serial, host, model, priority, spec, total)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (run_id, serial, host, model, priority, json.dumps(spec), total),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def set_job(conn: Conn, part_id: int, job_id: int) -> None:
    conn.execute("UPDATE benchorch_lab_parts SET job_id = %s WHERE id = %s", (job_id, part_id))


def part(conn: Conn, part_id: int) -> Part | None:
    return _part(
        conn.execute("SELECT * FROM benchorch_lab_parts WHERE id = %s", (part_id,)).fetchone()
    )


def parts_of_run(conn: Conn, run_id: str) -> list[Part]:
    rows = conn.execute(
        "SELECT * FROM benchorch_lab_parts WHERE run_id = %s ORDER BY id", (run_id,)
    ).fetchall()
    return [p for p in map(_part, rows) if p is not None]


def take(conn: Conn, part_id: int, token: int) -> Part | None:
    """The attempt ``token`` takes the part (a retry takes it from its predecessor);
    None when the part has already ended."""
    return _part(
        conn.execute(
            "UPDATE benchorch_lab_parts SET token = %s, status = 'preparing', updated_at = now()"
            " WHERE id = %s AND status <> ALL(%s) RETURNING *",
            (token, part_id, list(ENDED)),
        ).fetchone()
    )


def progress(
    conn: Conn,
    part_id: int,
    token: int,
    *,
    status: str,
    done: int,
    failed: int,
    current: str,
    message: str,
) -> bool:
    """The part's progress, written only by its current attempt (False: superseded)."""
    ended = status in ENDED
    row = conn.execute(
        "UPDATE benchorch_lab_parts SET status = %s, done = %s, failed = %s, current = %s,"
        " message = %s, updated_at = now(),"
        " ended_at = CASE WHEN %s THEN now() ELSE ended_at END"
        " WHERE id = %s AND token = %s RETURNING id",
        (status, done, failed, current, message, ended, part_id, token),
    ).fetchone()
    return row is not None


def end_unstarted(conn: Conn, part_id: int, status: str, message: str) -> bool:
    """A part no attempt has taken ends (not run, interrupted); False when one has."""
    row = conn.execute(
        "UPDATE benchorch_lab_parts SET status = %s, message = %s, updated_at = now(),"
        " ended_at = now() WHERE id = %s AND token IS NULL AND status = 'queued' RETURNING id",
        (status, message, part_id),
    ).fetchone()
    return row is not None


def release_for_move(conn: Conn, part_id: int, token: int, reason: str) -> bool:
    """The attempt ``token`` found the part's phone unusable before any launch: the part
    goes back to ``queued`` with no owner and ``reason``, for the submitter to move."""
    row = conn.execute(
        "UPDATE benchorch_lab_parts SET status = 'queued', token = NULL, current = '',"
        " move_reason = %s, message = %s, updated_at = now()"
        " WHERE id = %s AND token = %s RETURNING id",
        (reason, reason, part_id, token),
    ).fetchone()
    return row is not None


def ask_move(conn: Conn, part_id: int, reason: str) -> bool:
    """A worker found the phone of a part no attempt holds unusable: ask for a move."""
    row = conn.execute(
        "UPDATE benchorch_lab_parts SET move_reason = %s, message = %s, updated_at = now()"
        " WHERE id = %s AND status = 'queued' AND token IS NULL RETURNING id",
        (reason, reason, part_id),
    ).fetchone()
    return row is not None


def move(conn: Conn, part_id: int, serial: str, host: str, note: str) -> bool:
    """A queued part no attempt holds goes to another phone (its job is deferred after)."""
    row = conn.execute(
        "UPDATE benchorch_lab_parts SET serial = %s, host = %s, move_reason = NULL,"
        " message = '', moves = coalesce(moves || '; ', '') || %s, job_id = NULL,"
        " updated_at = now() WHERE id = %s AND status = 'queued' AND token IS NULL RETURNING id",
        (serial, host, note, part_id),
    ).fetchone()
    return row is not None


# --- files by content hash ----------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def put_blob(conn: Conn, path: Path) -> str:
    """Store ``path``'s bytes once under their sha256 (returned)."""
    sha = sha256_of(path)
    row = conn.execute("SELECT 1 FROM benchorch_lab_blobs WHERE sha256 = %s", (sha,)).fetchone()
    if row is None:
        data = path.read_bytes()
        conn.execute(
            "INSERT INTO benchorch_lab_blobs (sha256, size, data) VALUES (%s,%s,%s)"
            " ON CONFLICT (sha256) DO NOTHING",
            (sha, len(data), data),
        )
    return sha


def has_blob(conn: Conn, sha: str) -> bool:
    row = conn.execute("SELECT 1 FROM benchorch_lab_blobs WHERE sha256 = %s", (sha,)).fetchone()
    return row is not None


def fetch_blob(conn: Conn, sha: str, name: str, cache: Path) -> Path:
    """The file ``sha`` as ``cache/<sha>/<name>`` (fetched once, its hash checked)."""
    target = cache / sha / name
    if target.is_file():
        return target
    row = conn.execute("SELECT data FROM benchorch_lab_blobs WHERE sha256 = %s", (sha,)).fetchone()
    if row is None:
        raise FileNotFoundError(f"the lab database holds no file with sha256 {sha} ({name})")
    data = bytes(row["data"])
    if hashlib.sha256(data).hexdigest() != sha:
        raise ValueError(f"the lab database's file {sha} ({name}) does not match its hash")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(target)
    return target
