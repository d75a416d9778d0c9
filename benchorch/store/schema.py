"""Which schema a database has, and bringing it to this benchorch's (Alembic).

The revisions live in ``migrations/versions`` (package data), numbered
``0001``, ``0002``, ...: a database's *schema version* is the number of its
Alembic revision (``alembic_version``). Files written before Alembic kept
that number in SQLite's ``PRAGMA user_version`` instead; such a file is
stamped with the matching revision and upgraded from there, in place.

Opening a store calls ``ensure_current``: one small read when nothing is to
do (Alembic is not even imported). A new SQLite file gets the schema the
revisions made for an earlier new file, from the cache (``fresh.py``), also
without Alembic. Otherwise it upgrades in one transaction
that holds the backend's write lock (SQLite's ``BEGIN IMMEDIATE``,
PostgreSQL's advisory lock), re-reading the version inside it, so two
processes upgrading at once do it once. A database whose version is above
``SCHEMA_VERSION`` was written by a newer benchorch: refused, never guessed.
On SQLite ``user_version`` follows the revision, so a benchorch from before
Alembic refuses an upgraded file instead of misreading it.

Revisions are append-only: never edit a released one, add a new one.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import sqlalchemy as sa

from benchorch.store import fresh

#: The newest revision this benchorch ships (``migrations/versions/000N_*.py``).
SCHEMA_VERSION = 4
#: PostgreSQL advisory lock key that serialises upgrades ("benchorc" in ASCII).
_PG_LOCK_KEY = 0x62656E63686F7263


class SchemaTooNew(Exception):
    """The database's schema is above what this code knows."""

    def __init__(self, found: str, known: int) -> None:
        super().__init__(f"schema version {found}, this benchorch knows up to {known}")
        self.found = found
        self.known = known


def _revision(version: int) -> str:
    return f"{version:04d}"


def current_version(conn: sa.Connection) -> str | None:
    """The database's schema version as text (``"3"``; a newer benchorch's
    revision id may not be a number), or None for an empty database."""
    dialect = conn.dialect.name
    if sa.inspect(conn).has_table("alembic_version"):
        rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
        if len(rows) == 1:
            rev = str(rows[0][0])
            return str(int(rev)) if rev.isdigit() else rev
    if dialect == "sqlite":
        legacy = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
        if legacy:
            return str(legacy)
    return None


def _as_number(found: str | None) -> int:
    if found is None:
        return 0
    if not found.isdigit() or int(found) > SCHEMA_VERSION:
        raise SchemaTooNew(found, SCHEMA_VERSION)
    return int(found)


def version(conn: sa.Connection) -> int:
    """The schema version (0: an empty database); raises ``SchemaTooNew``."""
    return _as_number(current_version(conn))


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    # SQLite: the transaction began with BEGIN IMMEDIATE (see ``engine.py``).


def _alembic_config(conn: sa.Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("benchorch.store").joinpath("migrations"))
    )
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(conn: sa.Connection) -> tuple[int, int]:
    """Bring the database to ``SCHEMA_VERSION`` in the open transaction of
    ``conn`` (which must hold the write lock: see ``engine.write(lock_now=True)``);
    returns (before, after)."""
    _lock(conn)
    found = _as_number(current_version(conn))  # another process may have upgraded meanwhile
    if found == SCHEMA_VERSION:
        return found, found
    sqlite = conn.dialect.name == "sqlite"
    if found == 0 and sqlite and fresh.replay(conn, SCHEMA_VERSION):  # no Alembic (fresh.py)
        conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        return found, SCHEMA_VERSION
    from alembic import command

    cfg = _alembic_config(conn)
    if found and not sa.inspect(conn).has_table("alembic_version"):
        command.stamp(cfg, _revision(found))  # a file from before Alembic
    command.upgrade(cfg, _revision(SCHEMA_VERSION))
    if sqlite:
        conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        if found == 0:
            fresh.save(conn, SCHEMA_VERSION)
    return found, SCHEMA_VERSION


def head_revision() -> str:
    """The head of the shipped revision scripts (tests check it is ``SCHEMA_VERSION``)."""
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    return str(head)
