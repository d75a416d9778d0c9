"""Opening a results database (an SQLAlchemy engine on SQLite or PostgreSQL),
and the one place where driver errors become ours.

SQLite settings and why:

* ``journal_mode=WAL``: readers (a report) never block the writer (a sweep),
  and a commit is one append to the ``-wal`` file.
* ``synchronous=NORMAL`` (the WAL default): a commit survives the process being
  killed at any point (the WAL is in the OS's hands once ``COMMIT`` returns);
  only a power cut may lose the last commits, never the file's consistency.
  ``durable=True`` asks for ``FULL`` (an fsync per commit) instead.
* ``busy_timeout``: a second writer waits this long for the lock, then gets
  ``DatabaseLocked`` (exit 3).
* ``foreign_keys=ON``: a launch cannot name a run that does not exist.
* ``mmap_size``: reads map the file instead of copying each page with a
  ``pread``; a history query over 100,000 launches visits as many pages, and
  this halves its SQLite time. Writes still go through ``write`` (the WAL).
* ``isolation_level="IMMEDIATE"``: the driver opens a write with
  ``BEGIN IMMEDIATE`` (the write lock up front, so a transaction never fails
  half-way on a lock upgrade) and runs reads outside any transaction (each
  query its own snapshot). ``write`` commits when its block ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchorch.errors import (
    BenchorchError,
    DatabaseLocked,
    OutputNotWritable,
    StoreError,
    StoreUnavailable,
)
from benchorch.store.location import DbLocation, mask

_HINT_DB = "pass another file with --db or BENCHORCH_DB"
#: Largest part of the file that reads map (SQLite maps what exists, up to this).
MMAP_BYTES = 1 << 30


def map_sqlite_error(exc: BaseException, path: Path) -> BenchorchError:
    """The benchorch error for a sqlite3 error on ``path`` (one line, with the fix)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return DatabaseLocked(
            f"results database {path} is locked by another process",
            hint="wait for the other benchorch (a sweep) to finish, or use another --db",
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text:
        return StoreError(
            f"results database {path} is not a valid SQLite file ({text})",
            hint=f"move it aside and start a new one, or {_HINT_DB}",
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return OutputNotWritable(
            f"results database {path} is read-only ({text})",
            hint=f"make the file and its folder writable, or {_HINT_DB}",
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return OutputNotWritable(
            f"cannot open results database {path} ({text})",
            hint=f"check the folder exists and is writable, or {_HINT_DB}",
        )
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(
            f"no space left for results database {path}", hint="free disk space, or " + _HINT_DB
        )
    return StoreError(f"results database {path}: {text}", hint=_HINT_DB)


def driver_error(exc: BaseException) -> BaseException:
    """The DBAPI's own exception inside an SQLAlchemy one (or ``exc`` itself)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """Run a block, turning database errors into benchorch errors naming ``path``."""
    try:
        yield
    except (sqlite3.Error, sa.exc.DBAPIError) as exc:
        raise map_sqlite_error(driver_error(exc), path) from exc


def _prepare_location(path: Path, create: bool) -> None:
    if path.is_dir():
        raise OutputNotWritable(
            f"results database {path} is a folder",
            hint="give --db a file path, e.g. results.sqlite",
        )
    if path.exists():
        return
    if not create:
        raise StoreError(f"results database {path} does not exist", hint=_HINT_DB)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot create the folder for results database {path} ({exc.strerror})",
            hint=f"choose a writable location, {_HINT_DB}",
        ) from exc


def _set_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL (once per file; persistent).

    Two processes creating the same file at once race on this switch, and
    SQLite answers SQLITE_BUSY at once without calling the busy handler; so
    retry here, within the same timeout.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY")
            if not busy or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def sqlite_engine(
    path: Path, *, timeout_s: float, create: bool = True, durable: bool = False
) -> sa.Engine:
    """An engine on the SQLite file ``path`` with the settings above."""
    _prepare_location(path, create)

    def creator() -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(path), timeout=timeout_s, isolation_level="IMMEDIATE", check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            _set_wal(conn, timeout_s)
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        except BaseException:
            conn.close()
            raise
        return conn

    return sa.create_engine("sqlite+pysqlite://", creator=creator, poolclass=sa.pool.NullPool)


def connect(engine: sa.Engine, location: DbLocation) -> sa.Connection:
    """A connection of ``engine``; errors are benchorch errors naming ``location``."""
    with translated_at(location):
        return engine.connect()


@contextlib.contextmanager
def write(conn: sa.Connection, *, lock_now: bool = False) -> Iterator[sa.Connection]:
    """One write transaction on ``conn``, committed when the block ends.

    On SQLite the first write statement takes the write lock (``BEGIN
    IMMEDIATE``, see above); ``lock_now`` takes it before the block's first
    statement, for blocks that read before they write (a schema upgrade)."""
    with conn.begin():
        if lock_now and conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


@contextlib.contextmanager
def read(conn: sa.Connection) -> Iterator[sa.Connection]:
    """Reads on ``conn``; the (lock-free) transaction ends with the block."""
    try:
        yield conn
    finally:
        if conn.in_transaction():
            conn.rollback()


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` for ``table`` with ``on_conflict_do_nothing`` on this backend."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


# --- PostgreSQL ------------------------------------------------------------------

#: SQLSTATE classes and codes, and the words of libpq's connection errors (they
#: carry no SQLSTATE), that say the server is gone rather than the request wrong.
_GONE_STATES = ("08", "57P01", "57P02", "57P03")
_GONE_WORDS = (
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "could not connect",
    "connection failed",
    "timeout expired",
    "the database system is shutting down",
    "the database system is starting up",
    "no connection to the server",
    "connection is closed",
    "consuming input failed",
    "could not receive data",
    "could not send data",
    "is the server running",
)


def pg_engine(location: DbLocation, *, timeout_s: float) -> sa.Engine:
    """An engine on the PostgreSQL database of ``location`` (psycopg 3)."""
    assert location.url is not None
    return sa.create_engine(
        location.url,
        poolclass=sa.pool.NullPool,
        hide_parameters=True,
        connect_args={
            "connect_timeout": max(1, int(timeout_s)),
            "application_name": "benchorch",
        },
    )


def server_gone(exc: BaseException) -> bool:
    """True when ``exc`` (a driver error) says the server cannot be reached now."""
    state = str(getattr(exc, "sqlstate", "") or "")
    if state.startswith(_GONE_STATES):
        return True
    if state:
        return False
    text = str(exc).lower()
    return any(w in text for w in _GONE_WORDS)


def map_pg_error(exc: BaseException, location: DbLocation) -> BenchorchError:
    """The benchorch error for a psycopg error on ``location``: one line naming
    host, port and database, never the password (exit 3)."""
    state = str(getattr(exc, "sqlstate", "") or "")
    first = mask(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    where = f"results database {location.display}"
    text = str(exc).lower()
    if state == "28P01" or "password authentication failed" in text:
        return StoreError(
            f"{where}: the server at {location.server} refused the password of user"
            f" {location.user!r}",
            hint="check the password (in the URL, PGPASSWORD or ~/.pgpass)",
        )
    if "no password supplied" in text:
        return StoreError(
            f"{where}: the server at {location.server} asks for a password and none was given",
            hint="set PGPASSWORD, add it to ~/.pgpass, or put user:password@ in the URL",
        )
    if state == "3D000" or ("database" in text and "does not exist" in text):
        return StoreError(
            f"{where}: the server at {location.host}:{location.port} has no database"
            f" {location.database!r}",
            hint="create it (createdb) or fix the database name in --db",
        )
    if state == "42501" or "permission denied" in text:
        return StoreError(
            f"{where}: user {location.user!r} may not write to {location.server} ({first})",
            hint="grant the role INSERT/UPDATE/CREATE on the results database, or use another",
        )
    if server_gone(exc):
        return StoreUnavailable(
            f"{where}: cannot reach the server at {location.server} ({first})",
            hint="start the server or check host and port; launches wait in the local spool",
        )
    return StoreError(f"{where}: {first}", hint=_HINT_DB)


def map_error(exc: BaseException, location: DbLocation) -> BenchorchError:
    """A driver error on either backend as a benchorch error naming ``location``."""
    orig = driver_error(exc)
    if location.path is not None:
        return map_sqlite_error(orig, location.path)
    return map_pg_error(orig, location)


@contextlib.contextmanager
def translated_at(location: DbLocation) -> Iterator[None]:
    """Run a block, turning database errors into benchorch errors naming ``location``."""
    try:
        yield
    except (sqlite3.Error, sa.exc.DBAPIError) as exc:
        raise map_error(exc, location) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg"):
            raise map_error(exc, location) from exc
        raise


def open_engine(
    location: DbLocation, *, timeout_s: float, create: bool = True, durable: bool = False
) -> sa.Engine:
    """The engine for either backend."""
    if location.path is not None:
        return sqlite_engine(location.path, timeout_s=timeout_s, create=create, durable=durable)
    return pg_engine(location, timeout_s=timeout_s)
