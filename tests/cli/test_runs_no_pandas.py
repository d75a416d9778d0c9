"""``benchorch runs`` lists the store without importing pandas (a read-only command
that starts fast), and says the same as the store's DataFrame of runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchorch.store import Store
from benchorch.store.export import jsonable
from tests.store.factory import launch

#: ``benchorch ARGS`` (argv[1:]), then whether pandas was imported, on stderr's last line.
WRAPPER = (
    "import sys; from benchorch.cli.main import main; sys.argv[0] = 'benchorch'\n"
    "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
    "print('pandas' in sys.modules, file=sys.stderr); sys.exit(code)"
)


def _benchorch(*args: str) -> tuple[str, bool]:
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr.strip().splitlines()[-1] == "True"


def test_runs_lists_without_pandas_what_the_dataframe_says(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    with Store(db) as store:
        done = store.create_run(command="benchorch sweep --device a", params={"x": 1})
        for i in range(3):
            store.record_launch(launch(done, i, status="failed" if i == 2 else "ok"))
        store.finish_run(done, "failed")
        store.create_run(command="benchorch sweep --device b", params={})  # still running
        expected = [jsonable(r) for r in store.runs().to_dict("records")][::-1]
    out, pandas = _benchorch("--db", str(db), "runs", "--json")
    assert not pandas
    listed = json.loads(out)
    assert listed == expected
    assert [r["launches"] for r in listed] == [0, 3] and listed[1]["failures"] == 1
    assert listed[0]["finished_at"] is None
    table, pandas = _benchorch("--db", str(db), "runs")
    assert not pandas
    assert done in table and "failed" in table and "running" in table
