"""The results store: SQLite on SQLAlchemy Core, append-only, queried into pandas (``store.py``).

The package itself imports no SQLAlchemy: ``Store`` is loaded the first time it
is named, so a sweep reaches its records and its database location for free
and opens the store in a thread while it probes the devices (``sweep.run``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch.store.location import DbLocation, parse_db
from benchorch.store.records import LaunchRecord, new_run_id
from benchorch.store.spool import Spool, spool_path

if TYPE_CHECKING:
    from benchorch.store.store import Store

__all__ = ["LaunchRecord", "Store", "new_run_id", "sweep_spool", "sweep_store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from benchorch.store.store import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sweep_spool(db: Path | str | DbLocation) -> Spool | None:
    """The local spool of a PostgreSQL database (in the cache), None for a file."""
    from benchorch.paths import cache_root

    location = parse_db(db)
    if location.path is not None:
        return None
    return Spool(spool_path(cache_root(), location.display), location.display)


def sweep_store(db: Path | str | DbLocation) -> Store:
    """The store a sweep writes: on PostgreSQL, with its local spool, so launches
    the server cannot take now wait in the cache instead of being lost."""
    from benchorch.store.store import Store

    return Store(db, spool=sweep_spool(db))
