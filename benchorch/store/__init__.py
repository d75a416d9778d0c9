"""The results store: SQLite on SQLAlchemy Core, append-only, queried into pandas (``store.py``)."""

from pathlib import Path

from benchorch.store.location import DbLocation, parse_db
from benchorch.store.records import LaunchRecord, new_run_id
from benchorch.store.spool import Spool, spool_path
from benchorch.store.store import Store

__all__ = ["LaunchRecord", "Store", "new_run_id", "sweep_spool", "sweep_store"]


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
    return Store(db, spool=sweep_spool(db))
