"""Crash safety: a writer process SIGKILLed mid-sweep loses nothing it reported as committed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchorch.store import Store
from tests.store.factory import launch

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys
    from benchorch.store import Store
    from tests.store.factory import launch

    store = Store(sys.argv[1])
    run_id = store.create_run("benchorch sweep --device local", {"launches": 10**9})
    print("run", run_id, flush=True)
    big = "PyTorchObserver {...}\\n" * 2000  # ~46 kB of output per launch
    i = 0
    while True:
        launch_id = store.record_launch(launch(run_id, i, stdout=big, stderr=str(i)))
        print("committed", launch_id, i, flush=True)  # only after record_launch returned
        i += 1
    """
)


@pytest.mark.parametrize("kill_after", [5, 40])
def test_sigkill_mid_sweep_keeps_every_committed_launch(tmp_path: Path, kill_after: int) -> None:
    db = tmp_path / "results.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    committed: dict[int, int] = {}
    run_id = None
    try:
        for line in proc.stdout:
            parts = line.split()
            if parts[0] == "run":
                run_id = parts[1]
            elif parts[0] == "committed":
                committed[int(parts[1])] = int(parts[2])
                if len(committed) >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)  # mid-loop, likely mid-transaction
                    break
        # Lines already in the pipe were also committed before they were printed
        # (the last may be cut short by the kill: a launch committed, its line not).
        for line in proc.stdout:
            parts = line.split()
            if line.endswith("\n") and len(parts) == 3:
                committed[int(parts[1])] = int(parts[2])
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert run_id is not None and len(committed) >= kill_after

    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()

    with Store(db) as store:
        df = store.launches(run_id)
        stored = dict(zip(df["launch_id"].astype(int), df["launch_index"].astype(int), strict=True))
        for launch_id, index in committed.items():
            assert stored.get(launch_id) == index  # every reported launch, intact
        assert all(len(s) == 2000 * 22 for s in df["stdout"])
        assert store.run(run_id)["status"] == "running"  # never finished: visible as such
        # The file keeps working: resume the run and finish it.
        store.resume_run(run_id)
        store.record_launch(launch(run_id, 10**6))
        store.finish_run(run_id, "interrupted")
        assert len(store.launches(run_id)) == len(df) + 1


WRITER = textwrap.dedent(
    """
    import sys
    from benchorch.store import Store
    from tests.store.factory import launch

    store = Store(sys.argv[1])
    for i in range(60):
        store.record_launch(launch(sys.argv[2], i, device_serial=sys.argv[3]))
    """
)


def test_several_writer_processes_share_one_file(tmp_path: Path) -> None:
    """Three sweeps (processes) write the same database at once: WAL + busy timeout."""
    db = tmp_path / "results.sqlite"
    with Store(db) as store:
        rid = store.create_run("sweep", {})
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(db), rid, f"phone{n}"], env=env)
        for n in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with Store(db) as store:
        counts = store.launches(rid).groupby("device_serial").size().to_dict()
    assert counts == {"phone0": 60, "phone1": 60, "phone2": 60}
