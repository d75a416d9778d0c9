"""A file made by the store before Alembic upgrades in place with nothing lost.

``tests/fixtures/store/results-v2.sqlite`` was written by that store (schema 2,
``PRAGMA user_version``); see the README beside it.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from benchorch.store import Store
from benchorch.store.schema import SCHEMA_VERSION
from benchorch.store.tables import TABLES
from tests.store.factory import launch

FIXTURE = Path(__file__).parent.parent / "fixtures" / "store" / "results-v2.sqlite"


def _dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in rowid order, as raw SQLite values (bytes, floats...)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    out = {}
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in TABLES:
        if table.name not in existing:  # a table a later revision adds (nights): no rows yet
            out[table.name] = []
            continue
        rows = conn.execute(f"SELECT rowid AS _rowid, * FROM {table.name} ORDER BY rowid")
        out[table.name] = [dict(r) for r in rows]
    conn.close()
    return out


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.sqlite"
    shutil.copyfile(FIXTURE, path)
    return path


def test_fixture_is_a_schema_2_file() -> None:
    conn = sqlite3.connect(FIXTURE)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "alembic_version" not in tables
    assert conn.execute("SELECT COUNT(*) FROM launches").fetchone()[0] == 16
    conn.close()


def test_upgrade_in_place_keeps_every_row_identical(old_file: Path) -> None:
    before = _dump(old_file)
    assert sum(map(len, before.values())) > 30
    Store(old_file).close()
    after = _dump(old_file)
    conn = sqlite3.connect(old_file)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
    # A benchorch from before Alembic reads user_version: it must refuse the file now.
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert before.keys() == after.keys()
    for name in before:
        old, new = before[name], after[name]
        if name == "run_variants":  # gained ``id``: the old rowid, so the order is kept
            assert [r["id"] for r in new] == [r["_rowid"] for r in old]
            new = [{k: v for k, v in r.items() if k != "id"} for r in new]
        assert new == old, name


def test_upgraded_file_reads_and_writes_through_the_store(old_file: Path) -> None:
    with Store(old_file) as store:
        runs = store.runs()
        assert list(runs["run_id"]) == [
            "20250102-030400-ab0c",
            "20250102-030401-ab1c",
            "20250103-000000-0000",
        ]
        assert list(runs["launches"]) == [8, 8, 0] and list(runs["failures"]) == [2, 2, 0]
        assert runs.iloc[0]["params"]["note"] == "ünïcode ✓"
        df = store.launches("20250102-030400-ab0c")
        assert len(df) == 8
        ok = df[df["status"] == "ok"]
        assert all(len(s) == 20 for s in ok["samples_us"])
        assert ok.iloc[0]["health_before"]["cpu_cur_khz"] == {"7": 2_900_000}
        assert df["core_mask"].isna().sum() == 3 and bool(df.iloc[3]["hot"])
        assert list(df["variant_steps"].iloc[:1]) == [["fused", "quantized"]]
        assert list(store.variants("20250102-030401-ab1c")["variant"]) == [
            "fused+quantized",
            "baseline",
        ]
        assert len(store.binaries("20250102-030401-ab1c")) == 2
        assert len(store.skips("20250102-030400-ab0c")) == 1
        assert store.done_launch_keys("20250102-030400-ab0c")  # resume still works
        store.record_launch(launch("20250103-000000-0000"))
        assert store.run("20250103-000000-0000")["launches"] == 1


def test_older_schema_1_file_gets_its_indexes(old_file: Path) -> None:
    conn = sqlite3.connect(old_file, isolation_level=None)
    for name in ("launches_run", "launches_device_time", "launches_time", "skips_run"):
        conn.execute(f"DROP INDEX {name}")
    conn.execute("DROP INDEX run_variants_sha")
    conn.execute("DROP INDEX runs_started")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    before = _dump(old_file)
    Store(old_file).close()
    conn = sqlite3.connect(old_file)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"launches_run", "launches_time", "run_variants_sha", "runs_started"} <= indexes
    conn.close()
    assert _dump(old_file)["launches"] == before["launches"]


def test_four_openers_upgrading_at_once_upgrade_once(old_file: Path) -> None:
    before = _dump(old_file)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        barrier.wait()
        try:
            Store(old_file).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _dump(old_file)["launches"] == before["launches"]
