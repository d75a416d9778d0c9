"""``Store``: the results database, append-only, one connection per Store.

Written once on SQLAlchemy Core (``tables.py``), for SQLite (``engine.py``
has its settings). Writes commit before they return,
so a sweep killed at any moment keeps every launch it had recorded. One Store
may be shared by the sweep's per-device worker threads: a lock serialises use
of its connection. Several processes may share the file: WAL lets readers run
beside the writer, and a writer that waits past ``timeout_s`` gets
``DatabaseLocked`` (exit 3).

Queries return pandas DataFrames (``launch_query.py``, ``run_query.py``);
pandas is imported only when a query runs, so recording launches never pays
for it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from benchorch import __version__
from benchorch.domain import DeviceInfo
from benchorch.errors import RunNotFound, StoreError, StoreUnavailable, UsageError
from benchorch.store import launch_query, run_query, schema
from benchorch.store.encode import LAUNCH_COLUMNS, launch_values, pg_text, plain_dict, to_json
from benchorch.store.engine import (
    connect,
    dialect_insert,
    map_error,
    open_engine,
    read,
    translated_at,
    write,
)
from benchorch.store.location import DbLocation, mask, parse_db
from benchorch.store.records import (
    RETRIED_ERROR_KINDS,
    RUN_STATUSES,
    LaunchRecord,
    new_run_id,
)
from benchorch.store.schema import SchemaTooNew
from benchorch.store.spool import Spool
from benchorch.store.tables import (
    TABLES,
    binaries,
    devices,
    launches,
    run_binaries,
    run_variants,
    runs,
    skips,
    variant_files,
)

if TYPE_CHECKING:
    import pandas as pd

    from benchorch.build.provenance import Provenance
    from benchorch.captured import CapturedVariant
    from benchorch.variants.manifest import VariantFile

log = logging.getLogger("benchorch.store")
#: How long a store with waiting launches waits before it asks the server again.
FLUSH_RETRY_S = 2.0

_INSERT_LAUNCH = (
    launches.insert()
    .values({name: sa.bindparam(name, type_=launches.c[name].type) for name in LAUNCH_COLUMNS})
    .returning(launches.c.id)
)


class Store:
    """The results store in ``path`` (created and upgraded on open)."""

    def __init__(
        self,
        db: Path | str | DbLocation,
        *,
        timeout_s: float = 10.0,
        create: bool = True,
        durable: bool = False,
        upgrade: bool = True,
        spool: Spool | None = None,
    ) -> None:
        self.location = parse_db(db)
        #: (before, after) schema versions when opening upgraded the database.
        self.upgraded: tuple[int, int] | None = None
        #: The schema version the database has now (0: empty).
        self.schema_version = 0
        #: The SQLite file, or None on PostgreSQL.
        self.path = self.location.path
        self.where = self.location.display
        self._lock = threading.RLock()
        #: Where launches wait while the server cannot be reached (PostgreSQL).
        self.spool = spool
        self._next_flush = 0.0
        self._insert_launch: tuple[str, tuple[str, ...]] | None = None
        self._engine = open_engine(
            self.location, timeout_s=timeout_s, create=create, durable=durable
        )
        try:
            self._conn = connect(self._engine, self.location)
        except BaseException:
            self._engine.dispose()
            raise
        try:
            with translated_at(self.location):
                with read(self._conn):
                    self.schema_version = schema.version(self._conn)
                if self.schema_version < schema.SCHEMA_VERSION and upgrade:
                    with write(self._conn, lock_now=True):
                        before, after = schema.upgrade(self._conn)
                    if before != after:
                        self.upgraded = (before, after)
                    self.schema_version = after
        except SchemaTooNew as exc:
            self.close()
            raise StoreError(
                f"results database {self.where} has schema version {exc.found}, newer than this "
                f"benchorch knows ({exc.known})",
                hint="upgrade benchorch, or pass another file with --db",
            ) from exc
        except BaseException:
            self.close()
            raise

    # --- plumbing --------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._engine.dispose()
            if self.spool is not None:
                self.spool.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> sa.Connection:
        """The connection, opened again if the server dropped the last one."""
        if self._conn.invalidated or self._conn.closed:
            self._conn.close()
            self._conn = connect(self._engine, self.location)
        return self._conn

    @contextlib.contextmanager
    def _writing(self, *, run_id: str) -> Iterator[sa.Connection]:
        """One transaction (all or nothing), committed when the block ends."""
        with self._lock:
            try:
                with write(self._live()) as conn:
                    yield conn
            except sa.exc.IntegrityError as exc:
                if "FOREIGN KEY" in str(exc).upper():
                    raise self._not_found(run_id) from exc
                raise map_error(exc, self.location) from exc
            except sa.exc.DBAPIError as exc:
                raise map_error(exc, self.location) from exc

    def _not_found(self, run_id: str) -> RunNotFound:
        return RunNotFound(
            f"no run {run_id!r} in results database {self.where}",
            hint="list run ids with `benchorch runs`",
        )

    def _read_rows(self, stmt: sa.Select[Any]) -> tuple[list[str], Sequence[Sequence[Any]]]:
        """Column names and rows of a query."""
        with self._lock, translated_at(self.location), read(self._live()) as conn:
            result = conn.execute(stmt)
            return list(result.keys()), result.fetchall()

    def _read(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        """Rows of a query as dicts."""
        cols, rows = self._read_rows(stmt)
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def _has_run(self, run_id: str) -> bool:
        return bool(self._read(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)))

    def _require_run(self, run_id: str) -> None:
        if not self._has_run(run_id):
            raise self._not_found(run_id)

    # --- writes ----------------------------------------------------------------

    def create_run(
        self, command: str, params: Mapping[str, Any], *, run_id: str | None = None
    ) -> str:
        """A new run, status ``running``; returns its id (``records.new_run_id`` unless given)."""
        params_json = mask(to_json(dict(params)))
        command = mask(command)
        now = time.time()
        for _attempt in range(20):
            rid = run_id or new_run_id(now)
            row = {
                "run_id": rid,
                "command": command,
                "params": params_json,
                "started_at": now,
                "host": socket.gethostname(),
                "benchorch_version": __version__,
            }
            with self._writing(run_id=rid) as conn:
                inserted = conn.execute(
                    dialect_insert(conn, runs)
                    .values(row)
                    .on_conflict_do_nothing()
                    .returning(runs.c.run_id)
                ).first()
            if inserted:
                return rid
            if run_id is not None:
                raise UsageError(
                    f"run {run_id!r} already exists in results database {self.where}",
                    hint="pick another id, or use --resume to continue it",
                )
        raise StoreError(f"could not make a unique run id in {self.where}")

    def finish_run(self, run_id: str, status: str) -> None:
        """Set the run's final status: ``ok``, ``failed``, ``interrupted`` or ``partial``.

        With a spool and the server out of reach (or launches still waiting),
        the status waits in the spool behind the launches."""
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {sorted(RUN_STATUSES)}, not {status!r}")
        if self.spool is not None:
            with self._lock:
                if self.spool.has_pending() and not self._try_flush():
                    self.spool.add_finish(run_id, status)
                    return
                try:
                    self._finish_now(run_id, status)
                except StoreUnavailable:
                    self.spool.add_finish(run_id, status)
                return
        self._finish_now(run_id, status)

    def _finish_now(self, run_id: str, status: str) -> None:
        with self._writing(run_id=run_id) as conn:
            updated = conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(status=status, finished_at=time.time())
                .returning(runs.c.run_id)
            ).first()
        if updated is None:
            raise self._not_found(run_id)

    def resume_run(self, run_id: str) -> dict[str, Any]:
        """Mark an existing run ``running`` again (``--resume``); returns ``run(run_id)``."""
        with self._writing(run_id=run_id) as conn:
            updated = conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(status="running", finished_at=None)
                .returning(runs.c.run_id)
            ).first()
        if updated is None:
            raise self._not_found(run_id)
        return self.run(run_id)

    def record_device(self, run_id: str, info: DeviceInfo) -> None:
        """The device's facts for this run (the first record per run and serial is kept)."""
        row = {
            "run_id": run_id,
            "serial": info.serial,
            "state": info.state,
            "model": info.model,
            "manufacturer": info.manufacturer,
            "soc": info.soc,
            "fingerprint": info.fingerprint,
            "facts": to_json(info.to_dict()),
            "recorded_at": time.time(),
        }
        with self._writing(run_id=run_id) as conn:
            conn.execute(dialect_insert(conn, devices).values(row).on_conflict_do_nothing())

    def record_binary(self, run_id: str, provenance: Provenance) -> None:
        """A binary's provenance (stored as ``Provenance.to_dict()``); one row per sha256."""
        prov = plain_dict(provenance)
        sha = prov.get("sha256")
        if not sha:
            raise ValueError("binary provenance has no sha256")
        row = {
            "sha256": sha,
            **{k: prov.get(k) for k in ("flavour", "target", "abi", "pytorch_version", "origin")},
            "size_bytes": prov.get("size_bytes"),
            "provenance": to_json(prov),
            "first_seen": time.time(),
        }
        with self._writing(run_id=run_id) as conn:
            conn.execute(dialect_insert(conn, binaries).values(row).on_conflict_do_nothing())
            conn.execute(
                dialect_insert(conn, run_binaries)
                .values(run_id=run_id, sha256=sha)
                .on_conflict_do_nothing()
            )

    def record_variant(self, run_id: str, file: VariantFile | CapturedVariant) -> None:
        """A manifest file entry, or an imported log's variant (stored as its ``to_dict()``);
        file facts deduped by sha256."""
        entry = plain_dict(file)
        sha = entry.get("sha256")
        if not sha:
            raise ValueError("variant entry has no sha256")
        check = entry.get("check") or {}
        passed = check.get("passed")
        facts = {
            "sha256": sha,
            "format": entry.get("format"),
            "size_bytes": entry.get("size_bytes"),
            "bytecode_version": entry.get("bytecode_version"),
            "first_seen": time.time(),
        }
        row = {
            "run_id": run_id,
            "variant": str(entry.get("variant") or entry.get("name") or sha),
            "sha256": sha,
            "file": entry.get("name") or entry.get("path"),
            "steps": to_json(list(entry.get("steps") or [])),
            "check_passed": None if passed is None else bool(passed),
            "check_max_abs_err": check.get("max_abs_err"),
            "check_cosine": check.get("cosine"),
            "entry": to_json(entry),
        }
        with self._writing(run_id=run_id) as conn:
            conn.execute(dialect_insert(conn, variant_files).values(facts).on_conflict_do_nothing())
            conn.execute(dialect_insert(conn, run_variants).values(row).on_conflict_do_nothing())

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
        row = {
            "run_id": run_id,
            "device": device,
            "variant": variant,
            "config": to_json(dict(config)),
            "reason": reason,
            "recorded_at": time.time(),
        }
        with self._writing(run_id=run_id) as conn:
            conn.execute(skips.insert().values(row))

    def record_launch(self, rec: LaunchRecord) -> int | None:
        """Store one launch; committed before this returns. Returns its row id.

        With a spool: a launch the server cannot take now (or that would
        overtake launches already waiting) goes to the spool instead, and
        None is returned; waiting launches are replayed first when the server
        answers again (tried at most every ``FLUSH_RETRY_S``)."""
        if self.spool is None:
            return self._insert_launch_now(rec)
        with self._lock:
            if self.spool.has_pending() and not self._try_flush():
                self.spool.add_launch(rec)
                return None
            try:
                return self._insert_launch_now(rec)
            except StoreUnavailable as exc:
                log.warning("%s; launches wait in the spool %s", exc, self.spool.path)
                self.spool.add_launch(rec)
                self._next_flush = time.monotonic() + FLUSH_RETRY_S
                return None

    def record_launch_if(
        self, rec: LaunchRecord, check: Callable[[sa.Connection], bool]
    ) -> int | None:
        """Store one launch only if ``check``, run first in the same transaction, says so
        (a lab attempt's fence: a superseded attempt stores nothing); None when it did not.

        Never spooled: a launch that cannot be fenced now is not stored (``StoreUnavailable``).
        """
        with self._writing(run_id=rec.run_id) as conn:
            if not check(conn):
                return None
            return self._execute_insert(conn, rec)

    def _try_flush(self) -> bool:
        """Replay the spool if it is time to try; True when nothing waits any more."""
        if time.monotonic() < self._next_flush:
            return False
        try:
            self.flush_spool()
        except StoreUnavailable:
            self._next_flush = time.monotonic() + FLUSH_RETRY_S
            return False
        return True

    def flush_spool(self) -> int:
        """Replay every waiting entry in order, each exactly once (see ``spool``);
        returns how many were written. Raises ``StoreUnavailable`` (what was
        replayed so far stays replayed) while the server cannot be reached."""
        if self.spool is None:
            return 0
        written = 0
        with self._lock:
            for entry in self.spool.pending():
                if entry.kind == "finish":
                    self._finish_now(entry.run_id, str(entry.body["status"]))
                else:
                    rec = entry.launch()
                    with self._writing(run_id=rec.run_id) as conn:
                        held = conn.execute(
                            sa.select(launches.c.id).where(
                                launches.c.run_id == rec.run_id,
                                launches.c.device_serial == rec.device_serial,
                                launches.c.launch_key == rec.launch_key,
                                launches.c.started_at == rec.started_at,
                            )
                        ).first()
                        if held is None:
                            self._execute_insert(conn, rec)
                            written += 1
                self.spool.mark_replayed(entry.seq)
        return written

    def _insert_launch_now(self, rec: LaunchRecord) -> int:
        with self._writing(run_id=rec.run_id) as conn:
            return self._execute_insert(conn, rec)

    def _execute_insert(self, conn: sa.Connection, rec: LaunchRecord) -> int:
        values = launch_values(rec)
        if self.path is None:
            values = pg_text(values)
        sql, positional = self._insert_launch_sql(conn)
        params = tuple(values[k] for k in positional) if positional else values
        return int(conn.exec_driver_sql(sql, params).scalar_one())

    def _insert_launch_sql(self, conn: sa.Connection) -> tuple[str, tuple[str, ...]]:
        """``INSERT INTO launches ... RETURNING id`` compiled once for this backend
        (the hot write: a sweep's every launch), with the parameter order when
        the driver's parameters are positional."""
        if self._insert_launch is None:
            compiled = _INSERT_LAUNCH.compile(dialect=conn.dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else ()
            self._insert_launch = (compiled.string, order)
        return self._insert_launch

    # --- reads -----------------------------------------------------------------

    def done_launch_keys(self, run_id: str) -> set[str]:
        """Launch keys of ``run_id`` with a final outcome (see ``records``): resume skips them."""
        self._require_run(run_id)
        rows = self._read(
            sa.select(launches.c.launch_key)
            .distinct()
            .where(
                launches.c.run_id == run_id,
                sa.or_(
                    launches.c.error_kind.is_(None),
                    launches.c.error_kind.not_in(sorted(RETRIED_ERROR_KINDS)),
                ),
            )
        )
        return {str(r["launch_key"]) for r in rows}

    def latest_run_id(self) -> str | None:
        rows = self._read(
            sa.select(runs.c.run_id)
            .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
            .limit(1)
        )
        return str(rows[0]["run_id"]) if rows else None

    def resolve_run_id(self, ref: str) -> str:
        """An exact run id, ``latest``, or a unique prefix of one → the run id."""
        if ref == "latest":
            latest = self.latest_run_id()
            if latest is None:
                raise RunNotFound(
                    f"results database {self.where} holds no runs yet",
                    hint="run `benchorch sweep` first",
                )
            return latest
        if self._has_run(ref):
            return ref
        rows = self._read(
            sa.select(runs.c.run_id)
            .where(runs.c.run_id.startswith(ref, autoescape=True))
            .order_by(runs.c.run_id)
            .limit(3)
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
        rows = self._read(sa.select(runs).where(runs.c.run_id == run_id))
        if not rows:
            raise self._not_found(run_id)
        return run_query.run_summaries(self._read, rows)[0]

    def counts(self) -> dict[str, int]:
        """The number of rows of every table the database has (an older schema
        may lack the newest), by table name."""
        with self._lock, translated_at(self.location), read(self._live()) as conn:
            present = set(sa.inspect(conn).get_table_names())
        return {
            t.name: int(self._read(sa.select(sa.func.count().label("n")).select_from(t))[0]["n"])
            for t in TABLES
            if t.name in present
        }

    def runs(self) -> pd.DataFrame:
        """Every run, oldest first, with devices, launch and failure counts."""
        import pandas as pd

        return pd.DataFrame(self.run_list(), columns=run_query.RUN_COLUMNS)

    def run_list(self) -> list[dict[str, Any]]:
        """``runs()`` as plain dicts (``run_query.RUN_COLUMNS``), without pandas:
        ``benchorch runs`` lists them without importing it."""
        rows = self._read(sa.select(runs).order_by(runs.c.started_at, runs.c.run_id))
        return run_query.run_summaries(self._read, rows)

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
        None): several times faster on big history run_query.
        """
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids or [])
        for rid in ids:
            self._require_run(rid)
        devices = [device] if isinstance(device, str) else list(device or [])
        return launch_query.launches_frame(
            self._read_rows,
            run_ids=ids if run_ids is not None else None,
            devices=devices if device is not None else None,
            since=launch_query.to_unix(since) if since is not None else None,
            include_output=include_output,
        )

    def lean_launches(
        self,
        run_ids: str | Sequence[str] | None = None,
        *,
        device: str | Sequence[str] | None = None,
        since: datetime | date | str | float | None = None,
    ) -> pd.DataFrame:
        """The history query of statistics: ``launch_query.LEAN_COLUMNS`` only (a
        launch's configuration and series identity, outcome and samples), with
        ``samples_us`` as read-only float64 arrays. Same filters as ``launches``;
        about three times faster on 100,000 launches (``benchmarks/store_speed.py``)."""
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids or [])
        for rid in ids:
            self._require_run(rid)
        devices = [device] if isinstance(device, str) else list(device or [])
        return launch_query.lean_frame(
            self._read_rows,
            run_ids=ids if run_ids is not None else None,
            devices=devices if device is not None else None,
            since=launch_query.to_unix(since) if since is not None else None,
        )

    def skips(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return run_query.skips_frame(self._read, run_id)

    def devices(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return run_query.devices_frame(self._read, run_id)

    def file_hashes(self) -> set[str]:
        """The sha256 of every binary and variant file any stored run used
        (what ``benchorch.kept`` must keep)."""
        rows = self._read(sa.select(run_binaries.c.sha256).distinct())
        rows += self._read(sa.select(run_variants.c.sha256).distinct())
        return {str(r["sha256"]) for r in rows}

    def binaries(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return run_query.binaries_frame(self._read, run_id)

    def variants(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        return run_query.variants_frame(self._read, run_id)
