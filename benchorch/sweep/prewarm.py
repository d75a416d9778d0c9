"""The report's warm-up: what the report after the last launch would pay for the
first time, paid in a thread while the launches run.

Once the first device starts its launches (not earlier: the pushes and hash
checks before them would share the GIL with it), a thread imports the report's
libraries (pandas, jinja2), compiles every template, and, once a launch is
stored, builds and renders the run's report so far and throws it away: the
first use of each pandas and jinja2 code path costs about twice a later one
(benchmarks/sweep_start_finish.py). ``finish()`` is called before the real
report and waits for the thread, so the two never share the CPU; a warm-up
that has not started its rehearsal by then skips it. A failure here is only
logged: the real report imports again and says why.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from benchorch.store.location import DbLocation
from benchorch.sweep.executor import DeviceProgress, ProgressFn

log = logging.getLogger("benchorch.sweep")


class ReportWarmup:
    def __init__(self, db: Path | DbLocation, run_id: str) -> None:
        self._db = db
        self._run_id = run_id
        self._stored = threading.Event()  # a launch of the run is stored
        self._done = threading.Event()  # the sweep is over: no rehearsal from now on
        self._thread: threading.Thread | None = None
        #: The report was built and rendered once (thrown away) during the sweep.
        self.rehearsed = False

    def progress(self, update: ProgressFn) -> ProgressFn:
        """``update``, starting the warm-up when the first device starts its launches."""

        def progress(prog: DeviceProgress) -> None:
            if prog.status == "running" and self._thread is None:
                self.start()
            if prog.done:
                self._stored.set()
            update(prog)

        return progress

    def start(self) -> None:
        self._thread = threading.Thread(target=self._warm, name="report-prewarm", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Before the real report: stop waiting for a launch, let a rehearsal under
        way end (it warms the same code paths), and return."""
        self._done.set()
        self._stored.set()
        thread = self._thread
        if thread is not None:
            while thread.is_alive():  # not a bare join: see executor.Executor.run (Ctrl-C)
                thread.join(0.2)

    def _warm(self) -> None:
        try:
            warm_libraries()
            from benchorch.report import api, render

            self._stored.wait()
            if self._done.is_set():
                return
            from benchorch.store.store import Store

            with Store(self._db, create=False) as store:
                render.render_run(api.build_run_report(store, self._run_id))
            self.rehearsed = True
        except Exception as exc:  # the real report step reports it properly
            log.debug("report warm-up failed: %r", exc)


def warm_libraries() -> None:
    """Import the report's libraries and compile every template (the first part
    of the warm-up; the lab's sweep, which stores nothing here, does only this)."""
    from benchorch.report import (
        api,  # noqa: F401  (pandas, the model)
        render,
    )

    env = render.environment()
    for name in env.list_templates():
        env.get_template(name)


def prewarm_report() -> threading.Thread:
    """``warm_libraries`` in a thread named like ``ReportWarmup``'s; failures only logged."""

    def warm() -> None:
        try:
            warm_libraries()
        except Exception as exc:  # the report step reports it properly
            log.debug("report warm-up failed: %r", exc)

    thread = threading.Thread(target=warm, name="report-prewarm", daemon=True)
    thread.start()
    return thread
