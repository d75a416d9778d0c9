"""Live progress of a sweep with rich: one row per device (done/total, configuration, ETA)."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from benchorch.sweep.executor import DeviceProgress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressDisplay:
    """Thread-safe: device workers call ``update`` from their own threads."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        # rich only when there is something to show (--quiet, or stderr not a terminal:
        # a sweep on a lab host does not import it).
        self._progress = _progress() if self.enabled else None

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, prog: DeviceProgress) -> None:
        if self._progress is None:
            return
        with self._lock:
            task = self._tasks.get(prog.serial)
            if task is None:
                task = self._progress.add_task(
                    prog.serial, total=prog.total, serial=prog.serial, status="", current=""
                )
                self._tasks[prog.serial] = task
            self._progress.update(
                task, completed=prog.done, status=prog.status, current=prog.current[:60]
            )


def _progress() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.fields[serial]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}"),
        console=Console(stderr=True),
    )
