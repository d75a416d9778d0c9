"""The results store: SQLite, append-only, queried into pandas (see ``store.py``)."""

from benchorch.store.records import LaunchRecord, new_run_id
from benchorch.store.store import Store

__all__ = ["LaunchRecord", "Store", "new_run_id"]
