"""``Store``: the results database (SQLite), append-only, one connection per Store.

Writes commit before they return (autocommit; see ``db.py`` for the pragmas),
so a sweep killed at any moment keeps every launch it had recorded. One Store
may be shared by the sweep's per-device worker threads: a lock serialises use
of its connection. Several processes may share the file: WAL lets readers run
beside the writer, and a writer that waits past ``timeout_s`` gets
``DatabaseLocked`` (exit 3).

Queries return pandas DataFrames (``queries.py``); pandas is imported only
when a query runs, so recording launches never pays for it.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch import __version__
from benchorch.domain import DeviceInfo
from benchorch.errors import RunNotFound, StoreError, UsageError
from benchorch.store import queries
from benchorch.store.db import connect, map_sqlite_error, translated
from benchorch.store.records import (
    LAUNCH_FIELDS,
    RETRIED_ERROR_KINDS,
    RUN_STATUSES,
    LaunchRecord,
    new_run_id,
)
from benchorch.store.schema import SchemaTooNew, migrate

if TYPE_CHECKING:
    import pandas as pd


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, allow_nan=True)


def _json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    return _json(value)


def pack_samples(samples: Sequence[float]) -> bytes:
    """Samples as a BLOB: little-endian IEEE float64, 8 bytes each."""
    return struct.pack(f"<{len(samples)}d", *samples)


def _plain_dict(value: Mapping[str, Any] | Any) -> dict[str, Any]:
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    result: dict[str, Any] = json.loads(_json(dict(value)))
    return result


#: How a ``LaunchRecord`` field becomes its column value; other fields go in as they are.
_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "samples_us": pack_samples,
    "timed_out": int,
    "hot": int,
    "health_before": _json_or_none,
    "health_after": _json_or_none,
    "argv": lambda argv: _json(list(argv)),
}
_COLUMNS = tuple("samples" if f == "samples_us" else f for f in LAUNCH_FIELDS)
_INSERT_LAUNCH = (
    f"INSERT INTO launches ({', '.join(_COLUMNS)}) "  # noqa: S608 (fixed names only)
    f"VALUES ({','.join('?' * len(_COLUMNS))})"
)


def launch_row(rec: LaunchRecord) -> tuple[Any, ...]:
    """The values of ``_INSERT_LAUNCH`` for ``rec``, in ``LAUNCH_FIELDS`` order."""
    return tuple(
        _ENCODERS[name](getattr(rec, name)) if name in _ENCODERS else getattr(rec, name)
        for name in LAUNCH_FIELDS
    )


class Store:
    """The results store in ``path`` (created and migrated on open)."""

    def __init__(
        self,
        path: Path | str,
        *,
        timeout_s: float = 10.0,
        create: bool = True,
        durable: bool = False,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = connect(self.path, timeout_s=timeout_s, create=create, durable=durable)
        try:
            with translated(self.path):
                migrate(self._conn)
        except SchemaTooNew as exc:
            self._conn.close()
            raise StoreError(
                f"results database {self.path} has schema version {exc.found}, newer than this "
                f"benchorch knows ({exc.known})",
                hint="upgrade benchorch, or pass another file with --db",
            ) from exc
        except BaseException:
            self._conn.close()
            raise

    # --- plumbing --------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Sequence[Any], *, run_id: str) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                if "FOREIGN KEY" in str(exc):
                    raise self._not_found(run_id) from exc
                raise map_sqlite_error(exc, self.path) from exc
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc, self.path) from exc

    def _write_many(self, statements: Sequence[tuple[str, Sequence[Any]]], *, run_id: str) -> None:
        """Several statements in one transaction (all or nothing)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, params in statements:
                        self._conn.execute(sql, params)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError as exc:
                if "FOREIGN KEY" in str(exc):
                    raise self._not_found(run_id) from exc
                raise map_sqlite_error(exc, self.path) from exc
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc, self.path) from exc

    def _not_found(self, run_id: str) -> RunNotFound:
        return RunNotFound(
            f"no run {run_id!r} in results database {self.path}",
            hint="list run ids with `benchorch runs`",
        )

    def _read_rows(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and row tuples of a query."""
        with self._lock, translated(self.path):
            cur = self._conn.execute(sql, params)
            return [d[0] for d in cur.description], cur.fetchall()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query as dicts."""
        cols, rows = self._read_rows(sql, params)
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def _require_run(self, run_id: str) -> None:
        if not self._read("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)):
            raise self._not_found(run_id)

    # --- writes ----------------------------------------------------------------

    def create_run(
        self, command: str, params: Mapping[str, Any], *, run_id: str | None = None
    ) -> str:
        """A new run, status ``running``; returns its id (``records.new_run_id`` unless given)."""
        params_json = _json(dict(params))
        now = time.time()
        for _attempt in range(20):
            rid = run_id or new_run_id(now)
            try:
                self._write(
                    "INSERT INTO runs (run_id, command, params, started_at, host,"
                    " benchorch_version) VALUES (?,?,?,?,?,?)",
                    (rid, command, params_json, now, socket.gethostname(), __version__),
                    run_id=rid,
                )
                return rid
            except StoreError as exc:
                if not isinstance(exc.__cause__, sqlite3.IntegrityError):
                    raise
                if run_id is not None:
                    raise UsageError(
                        f"run {run_id!r} already exists in results database {self.path}",
                        hint="pick another id, or use --resume to continue it",
                    ) from exc
        raise StoreError(f"could not make a unique run id in {self.path}")

    def finish_run(self, run_id: str, status: str) -> None:
        """Set the run's final status: ``ok``, ``failed``, ``interrupted`` or ``partial``."""
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {sorted(RUN_STATUSES)}, not {status!r}")
        cur = self._write(
            "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
            (status, time.time(), run_id),
            run_id=run_id,
        )
        if cur.rowcount == 0:
            raise self._not_found(run_id)

    def resume_run(self, run_id: str) -> dict[str, Any]:
        """Mark an existing run ``running`` again (``--resume``); returns ``run(run_id)``."""
        cur = self._write(
            "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?",
            (run_id,),
            run_id=run_id,
        )
        if cur.rowcount == 0:
            raise self._not_found(run_id)
        return self.run(run_id)

    def record_device(self, run_id: str, info: DeviceInfo) -> None:
        """The device's facts for this run (the first record per run and serial is kept)."""
        facts = info.to_dict()
        self._write(
            "INSERT INTO devices (run_id, serial, state, model, manufacturer, soc, fingerprint,"
            " facts, recorded_at) VALUES (?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (run_id, serial) DO NOTHING",
            (
                run_id,
                info.serial,
                info.state,
                info.model,
                info.manufacturer,
                info.soc,
                info.fingerprint,
                _json(facts),
                time.time(),
            ),
            run_id=run_id,
        )

    def record_binary(self, run_id: str, provenance: Mapping[str, Any]) -> None:
        """A binary's provenance (``Provenance.to_dict()``); one row per sha256."""
        prov = _plain_dict(provenance)
        sha = prov.get("sha256")
        if not sha:
            raise ValueError("binary provenance has no sha256")
        self._write_many(
            [
                (
                    "INSERT OR IGNORE INTO binaries (sha256, flavour, target, abi, pytorch_version,"
                    " origin, size_bytes, provenance, first_seen) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        sha,
                        prov.get("flavour"),
                        prov.get("target"),
                        prov.get("abi"),
                        prov.get("pytorch_version"),
                        prov.get("origin"),
                        prov.get("size_bytes"),
                        _json(prov),
                        time.time(),
                    ),
                ),
                ("INSERT OR IGNORE INTO run_binaries (run_id, sha256) VALUES (?,?)", (run_id, sha)),
            ],
            run_id=run_id,
        )

    def record_variant(self, run_id: str, file: Mapping[str, Any]) -> None:
        """A manifest file entry (``VariantFile.to_dict()``); file facts deduped by sha256."""
        entry = _plain_dict(file)
        sha = entry.get("sha256")
        if not sha:
            raise ValueError("variant entry has no sha256")
        check = entry.get("check") or {}
        passed = check.get("passed")
        self._write_many(
            [
                (
                    "INSERT OR IGNORE INTO variant_files (sha256, format, size_bytes,"
                    " bytecode_version, first_seen) VALUES (?,?,?,?,?)",
                    (
                        sha,
                        entry.get("format"),
                        entry.get("size_bytes"),
                        entry.get("bytecode_version"),
                        time.time(),
                    ),
                ),
                (
                    "INSERT OR IGNORE INTO run_variants (run_id, variant, sha256, file, steps,"
                    " check_passed, check_max_abs_err, check_cosine, entry)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        run_id,
                        str(entry.get("variant") or entry.get("name") or sha),
                        sha,
                        entry.get("name") or entry.get("path"),
                        _json(list(entry.get("steps") or [])),
                        None if passed is None else int(bool(passed)),
                        check.get("max_abs_err"),
                        check.get("cosine"),
                        _json(entry),
                    ),
                ),
            ],
            run_id=run_id,
        )

    def record_skip(
        self,
        run_id: str,
        *,
        device: str,
        variant: str | None,
        config: Mapping[str, Any],
        reason: str,
    ) -> None:
        """A configuration the plan left out, with the reason the report shows."""
        self._write(
            "INSERT INTO skips (run_id, device, variant, config, reason, recorded_at)"
            " VALUES (?,?,?,?,?,?)",
            (run_id, device, variant, _json(dict(config)), reason, time.time()),
            run_id=run_id,
        )

    def record_launch(self, rec: LaunchRecord) -> int:
        """Store one launch; committed before this returns. Returns its row id."""
        cur = self._write(_INSERT_LAUNCH, launch_row(rec), run_id=rec.run_id)
        rowid = cur.lastrowid
        assert rowid is not None
        return rowid

    # --- reads -----------------------------------------------------------------

    def done_launch_keys(self, run_id: str) -> set[str]:
        """Launch keys of ``run_id`` with a final outcome (see ``records``): resume skips them."""
        self._require_run(run_id)
        marks = ",".join("?" * len(RETRIED_ERROR_KINDS))
        rows = self._read(
            "SELECT DISTINCT launch_key FROM launches WHERE run_id = ?"  # noqa: S608
            f" AND (error_kind IS NULL OR error_kind NOT IN ({marks}))",
            (run_id, *sorted(RETRIED_ERROR_KINDS)),
        )
        return {str(r["launch_key"]) for r in rows}

    def latest_run_id(self) -> str | None:
        rows = self._read("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1")
        return str(rows[0]["run_id"]) if rows else None

    def resolve_run_id(self, ref: str) -> str:
        """An exact run id, ``latest``, or a unique prefix of one → the run id."""
        if ref == "latest":
            latest = self.latest_run_id()
            if latest is None:
                raise RunNotFound(
                    f"results database {self.path} holds no runs yet",
                    hint="run `benchorch sweep` first",
                )
            return latest
        if self._read("SELECT 1 FROM runs WHERE run_id = ?", (ref,)):
            return ref
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            "SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY run_id LIMIT 3",
            (escaped + "%",),
        )
        if len(rows) == 1 and ref:
            return str(rows[0]["run_id"])
        if len(rows) > 1:
            raise RunNotFound(
                f"run id prefix {ref!r} matches several runs"
                f" ({', '.join(r['run_id'] for r in rows)}, ...)",
                hint="give more of the id; `benchorch runs` lists them",
            )
        raise self._not_found(ref)

    def run(self, run_id: str) -> dict[str, Any]:
        """One run: id, command, params (dict), times, status, host, devices, counts."""
        rows = self._read("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise self._not_found(run_id)
        return queries.run_summaries(self._read, rows)[0]

    def runs(self) -> pd.DataFrame:
        """Every run, oldest first, with devices, launch and failure counts."""
        import pandas as pd

        rows = self._read("SELECT * FROM runs ORDER BY started_at, run_id")
        return pd.DataFrame(queries.run_summaries(self._read, rows), columns=queries.RUN_COLUMNS)

    def launches(
        self,
        run_ids: str | Sequence[str] | None = None,
        *,
        device: str | Sequence[str] | None = None,
        since: datetime | date | str | float | None = None,
        include_output: bool = True,
    ) -> pd.DataFrame:
        """Launches with device, binary and variant facts joined (see docs/INTERNALS.md).

        ``run_ids``: one id or several (unknown ones raise ``RunNotFound``);
        ``device``: serial(s); ``since``: launches started at or after it (a
        datetime, a date, an ISO string (naive = UTC) or unix seconds).
        ``include_output=False`` leaves out each launch's raw context
        (``stdout``/``stderr`` empty, ``argv`` and ``health_before``/``_after``
        None): several times faster on big history queries.
        """
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids or [])
        for rid in ids:
            self._require_run(rid)
        devices = [device] if isinstance(device, str) else list(device or [])
        return queries.launches_frame(
            self._read_rows,
            run_ids=ids if run_ids is not None else None,
            devices=devices if device is not None else None,
            since=queries.to_unix(since) if since is not None else None,
            include_output=include_output,
        )

    def lean_launches(
        self,
        run_ids: str | Sequence[str] | None = None,
        *,
        device: str | Sequence[str] | None = None,
        since: datetime | date | str | float | None = None,
    ) -> pd.DataFrame:
        """The history query of statistics: ``queries.LEAN_COLUMNS`` only (a
        launch's configuration and series identity, outcome and samples), with
        ``samples_us`` as read-only float64 arrays. Same filters as ``launches``;
        about three times faster on 100,000 launches (``benchmarks/store_speed.py``)."""
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids or [])
        for rid in ids:
            self._require_run(rid)
        devices = [device] if isinstance(device, str) else list(device or [])
        return queries.lean_frame(
            self._read_rows,
            run_ids=ids if run_ids is not None else None,
            devices=devices if device is not None else None,
            since=queries.to_unix(since) if since is not None else None,
        )

    def skips(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return queries.skips_frame(self._read, run_id)

    def devices(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return queries.devices_frame(self._read, run_id)

    def binaries(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return queries.binaries_frame(self._read, run_id)

    def variants(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return queries.variants_frame(self._read, run_id)
