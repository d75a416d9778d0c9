"""The results store: SQLite on SQLAlchemy Core, append-only, queried into pandas (``store.py``)."""

from benchorch.store.records import LaunchRecord, new_run_id
from benchorch.store.store import Store

__all__ = ["LaunchRecord", "Store", "new_run_id"]
