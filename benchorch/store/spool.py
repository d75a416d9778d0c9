"""The local spool: launches that could not reach the database server, kept in
order in an SQLite file in the cache until they can be replayed.

A sweep on PostgreSQL goes on when the server goes away: ``Store.record_launch``
puts each launch it cannot write here (and every later one while some wait,
so order is kept), and replays them in order when the server answers again,
at the end of the sweep, or on ``benchorch db flush``. A run's final status
waits here the same way.

Replay is exactly once: a launch is written only if the database does not
hold it already (run, device, launch key and start time), in the same
transaction that marks it replayed; a write whose commit reached the server
but whose answer did not is therefore not written twice. Replayed entries
stay (with their replay time) so the sweep can say how many were spooled and
replayed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.store.records import LaunchRecord

_SCHEMA = """CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY,
    db TEXT NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    replayed_at REAL
)"""


@dataclass(frozen=True)
class SpoolEntry:
    seq: int
    run_id: str
    kind: str  # "launch" or "finish"
    body: dict[str, Any]

    def launch(self) -> LaunchRecord:
        fields = dict(self.body)
        for name in ("samples_us", "argv"):
            fields[name] = tuple(fields[name])
        return LaunchRecord(**fields)


@dataclass(frozen=True)
class SpoolCounts:
    spooled: int
    replayed: int

    @property
    def pending(self) -> int:
        return self.spooled - self.replayed


def spool_path(cache: Path, db_display: str) -> Path:
    """The spool of one database (named by its password-free display form)."""
    digest = hashlib.sha256(db_display.encode()).hexdigest()[:16]
    return cache / "spool" / f"{digest}.sqlite"


class Spool:
    """The spool file for the database ``db`` (its display form, no password)."""

    def __init__(self, path: Path, db: str) -> None:
        self.path = path
        self.db = db
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            str(path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")  # the only copy of a measurement
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add_launch(self, rec: LaunchRecord) -> None:
        body = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
        self._add(rec.run_id, "launch", body)

    def add_finish(self, run_id: str, status: str) -> None:
        self._add(run_id, "finish", {"status": status})

    def _add(self, run_id: str, kind: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, allow_nan=True, default=list)
        with self._lock:
            self._conn.execute(
                "INSERT INTO pending (db, run_id, kind, body, spooled_at) VALUES (?,?,?,?,?)",
                (self.db, run_id, kind, text, time.time()),
            )

    def pending(self) -> Iterator[SpoolEntry]:
        """Entries not replayed yet, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, run_id, kind, body FROM pending"
                " WHERE db = ? AND replayed_at IS NULL ORDER BY seq",
                (self.db,),
            ).fetchall()
        for seq, run_id, kind, body in rows:
            yield SpoolEntry(seq, run_id, kind, json.loads(body))

    def has_pending(self) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM pending WHERE db = ? AND replayed_at IS NULL LIMIT 1", (self.db,)
            ).fetchone()
        return row is not None

    def mark_replayed(self, seq: int) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE pending SET replayed_at = ? WHERE seq = ?", (time.time(), seq)
            )

    def counts(self, run_id: str | None = None) -> SpoolCounts:
        """How many entries were spooled and replayed (of one run, or all)."""
        where, args = ("db = ?", [self.db])
        if run_id is not None:
            where, args = where + " AND run_id = ?", [*args, run_id]
        with self._lock:
            spooled, replayed = self._conn.execute(
                f"SELECT COUNT(*), COUNT(replayed_at) FROM pending WHERE {where}"  # noqa: S608
                " AND kind = 'launch'",
                args,
            ).fetchone()
        return SpoolCounts(int(spooled), int(replayed))
