"""The report's warm-up during a sweep (``sweep/prewarm.py``), on a real SQLite store."""

from __future__ import annotations

import time
from pathlib import Path

from benchorch.store import Store
from benchorch.sweep.executor import DeviceProgress
from benchorch.sweep.prewarm import ReportWarmup
from tests.store.factory import launch


def _run(db: Path, launches: int) -> str:
    with Store(db) as store:
        run_id = store.create_run(command="benchorch sweep", params={})
        for i in range(launches):
            store.record_launch(launch(run_id, i))
    return run_id


def test_a_stored_launch_gets_the_report_rehearsed_and_updates_pass_through(
    tmp_path: Path,
) -> None:
    db = tmp_path / "results.sqlite"
    run_id = _run(db, 2)
    warm = ReportWarmup(db, run_id)
    seen: list[tuple[str, int]] = []
    progress = warm.progress(lambda p: seen.append((p.status, p.done)))
    prog = DeviceProgress("phone", total=2, status="preparing")
    progress(prog)
    assert warm._thread is None  # not while pushing: it would share the GIL
    prog.status = "running"
    progress(prog)
    prog.done = 1
    progress(prog)
    deadline = time.monotonic() + 120  # the launches would run meanwhile
    while not warm.rehearsed and time.monotonic() < deadline:
        time.sleep(0.05)
    warm.finish()
    assert warm.rehearsed
    assert seen == [("preparing", 0), ("running", 0), ("running", 1)]


def test_a_sweep_that_stored_nothing_ends_without_a_rehearsal(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    warm = ReportWarmup(db, _run(db, 0))
    warm.progress(lambda p: None)(DeviceProgress("phone", total=1, status="running"))
    t0 = time.monotonic()
    warm.finish()  # the thread stops waiting for a launch
    assert time.monotonic() - t0 < 60
    assert not warm.rehearsed


def test_a_failing_rehearsal_is_only_logged(tmp_path: Path) -> None:
    warm = ReportWarmup(tmp_path / "missing.sqlite", "no-such-run")
    warm.start()
    warm.progress(lambda p: None)(DeviceProgress("phone", total=1, status="running", done=1))
    warm.finish()
    assert not warm.rehearsed
