"""Live progress of a sweep with rich: one row per device (done/total, configuration, ETA)."""

from __future__ import annotations

import sys
import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from benchorch.sweep.executor import DeviceProgress


class ProgressDisplay:
    """Thread-safe: device workers call ``update`` from their own threads."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.fields[serial]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}"),
            console=Console(stderr=True),
            disable=not self.enabled,
        )

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._progress.stop()

    def update(self, prog: DeviceProgress) -> None:
        if not self.enabled:
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
