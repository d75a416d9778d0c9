"""A new SQLite results file without Alembic: the schema the revisions made, replayed.

Creating a new file through Alembic costs about 0.15 s on an idle host (importing
Alembic, Mako and Pygments, then running every revision), paid before a sweep
on a new database measures anything. The first new file on a host is made by
the revisions (``schema.upgrade``); the schema they made, SQLite's own
statements in ``sqlite_master`` in the order it made them, and the version
stamp, is then saved in the cache under a key that hashes the revision scripts
and the SQLAlchemy and Alembic versions. A later new file gets the same
statements, in the same transaction: the same schema, byte for byte, without
importing Alembic. A changed revision (or library) is a new key, so a stale
schema is never replayed; an unreadable or malformed cache entry is ignored
(the revisions run again and rewrite it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import metadata, resources
from pathlib import Path

import sqlalchemy as sa

from benchorch.files import atomic_write
from benchorch.paths import cache_root

log = logging.getLogger("benchorch.store")


def _key(version: int) -> str:
    digest = hashlib.sha256(f"schema {version}\n".encode())
    for lib in ("sqlalchemy", "alembic"):
        try:
            digest.update(f"{lib} {metadata.version(lib)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{lib} -\n".encode())
    root = resources.files("benchorch.store").joinpath("migrations")
    scripts = [root.joinpath("env.py")]
    scripts += sorted(
        (f for f in root.joinpath("versions").iterdir() if f.name.endswith(".py")),
        key=lambda f: f.name,
    )
    for script in scripts:
        digest.update(script.name.encode() + b"\0" + script.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _entry(version: int) -> Path:
    return cache_root() / "store" / f"sqlite-schema-{_key(version)}.json"


def replay(conn: sa.Connection, version: int) -> bool:
    """Make the empty SQLite database of ``conn`` the schema ``version`` from the
    cache, in the open transaction; False (nothing done) when there is no valid entry."""
    try:
        saved = json.loads(_entry(version).read_text(encoding="utf-8"))
        statements, revision = saved["statements"], saved["revision"]
        valid = isinstance(revision, str) and revision.isdigit() and int(revision) == version
        if not valid or not statements or not all(isinstance(s, str) for s in statements):
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for statement in statements:
        conn.exec_driver_sql(statement)
    conn.execute(
        sa.text("INSERT INTO alembic_version (version_num) VALUES (:rev)"), {"rev": revision}
    )
    return True


def save(conn: sa.Connection, version: int) -> None:
    """Keep the schema the revisions just made on ``conn`` for the next new file
    (a cache that cannot be written is only logged)."""
    rows = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY rowid"
    ).fetchall()
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    entry = {"revision": str(revision), "statements": [str(r[0]) for r in rows]}
    try:
        target = _entry(version)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, json.dumps(entry, indent=1))
    except OSError as exc:
        log.debug("cannot cache the new-file schema: %s", exc)
