"""The sweep's results store, opened in a thread while the devices are probed.

Opening the store imports SQLAlchemy and may create or upgrade the database:
work for the CPU, while locking the phones, reading their facts and resolving
the binaries mostly waits on adb. ``StoreOpening`` starts the opening at once;
``store()`` waits for it (and raises what opening raised, e.g.
``DatabaseLocked``) when the sweep first needs the database, to create its
run; ``close()`` closes what was opened, however the sweep ended.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from benchorch.store.location import DbLocation

if TYPE_CHECKING:
    from benchorch.store.store import Store


class StoreOpening:
    def __init__(self, db: Path | DbLocation | None = None, *, opened: Store | None = None) -> None:
        """Open ``db`` with ``sweep_store`` in a thread, or take a store already ``opened``."""
        self._store = opened
        self._error: BaseException | None = None
        self._done = threading.Event()
        if opened is not None or db is None:
            self._done.set()
        else:
            threading.Thread(target=self._open, args=(db,), name="store-open", daemon=True).start()

    def _open(self, db: Path | DbLocation) -> None:
        try:
            from benchorch.store import sweep_store

            self._store = sweep_store(db)
        except BaseException as exc:  # raised to the sweep by store()
            self._error = exc
        finally:
            self._done.set()

    def _wait(self) -> None:
        # Waiting on an event, not Thread.join: see executor.Executor.run (Ctrl-C).
        while not self._done.wait(0.2):
            pass

    def store(self) -> Store:
        """The open store; what opening it raised, if it failed."""
        self._wait()
        if self._error is not None:
            raise self._error
        assert self._store is not None
        return self._store

    def close(self) -> None:
        """Close the store once it is open (waits for an opening under way)."""
        self._wait()
        if self._store is not None:
            self._store.close()
