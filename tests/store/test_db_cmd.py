"""``benchorch db upgrade | check | copy`` on real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.exits import ExitCode
from benchorch.store import Store
from benchorch.store.copy import copy_store
from benchorch.store.encode import PG_NUL
from benchorch.store.schema import SCHEMA_VERSION as V
from tests.store.factory import launch
from tests.support.postgres import PASSWORD, PgServer

FIXTURE = Path(__file__).parent.parent / "fixtures" / "store" / "results-v2.sqlite"
RUNS = ["20250102-030400-ab0c", "20250102-030401-ab1c", "20250103-000000-0000"]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURE, path)
    return path


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_check_reports_an_old_schema_without_changing_it(old_file: Path) -> None:
    code, out, _ = _cli("--db", str(old_file), "db", "check")
    assert code == 0, out
    assert f"schema version: 2, this benchorch: {V} (run `benchorch db upgrade`)" in out
    assert "  launches: 16" in out and "  runs: 3" in out and "integrity: ok" in out
    assert _user_version(old_file) == 2
    code, out, _ = _cli("--db", str(old_file), "db", "upgrade")
    assert code == 0 and f"schema version 2 -> {V}" in out
    code, out, _ = _cli("--db", str(old_file), "db", "upgrade")
    assert code == 0 and f"schema version {V}, nothing to do" in out
    code, out, _ = _cli("--db", str(old_file), "db", "check")
    assert code == 0 and f"schema version: {V}, this benchorch: {V}\n" in out


def test_check_finds_broken_references(old_file: Path) -> None:
    conn = sqlite3.connect(old_file, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE launches SET run_id = 'gone' WHERE id IN (1, 2)")
    conn.execute("UPDATE launches SET binary_sha256 = 'nope' WHERE id = 3")
    conn.close()
    code, _out, err = _cli("--db", str(old_file), "db", "check")
    assert code == ExitCode.INFRA
    assert "2 launches naming a run that does not exist" in err
    assert "note: 1 launches name a binary the store has no facts about" in _out
    assert "failed its integrity check" in err.splitlines()[-1]


def test_check_on_postgresql_and_a_missing_file(postgres: PgServer, tmp_path: Path) -> None:
    url = postgres.bench_url()
    with Store(url) as store:
        store.record_launch(launch(store.create_run("sweep", {}), 0))
    code, out, _ = _cli("--db", url, "db", "check")
    assert code == 0 and "  launches: 1" in out and "integrity: ok" in out
    assert PASSWORD not in out and f"127.0.0.1:{postgres.port}" in out
    code, _, err = _cli("--db", str(tmp_path / "none.sqlite"), "db", "check")
    assert code == ExitCode.USAGE and "no results database" in err
    assert not (tmp_path / "none.sqlite").exists()


def _benchorch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchorch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_upgrades_at_once_upgrade_once(old_file: Path, postgres: PgServer) -> None:
    for db in (str(old_file), postgres.bench_url()):
        procs = [_benchorch("--db", db, "db", "upgrade") for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        done = [o for o, _ in outs if "->" in o]
        assert len(done) == 1, outs  # the other found nothing to do
    with Store(old_file, upgrade=False) as store:
        assert store.schema_version == V and store.counts()["launches"] == 16


def _frames(store: Store) -> pd.DataFrame:
    df = store.launches(list(store.runs()["run_id"])).drop(columns=["launch_id"])
    return df.assign(stderr=df["stderr"].str.replace("\x00", PG_NUL))


def test_copy_is_complete_verified_and_idempotent(old_file: Path, results_db: str) -> None:
    code, out, err = _cli("db", "copy", str(old_file), results_db)
    assert code == 0, err
    assert "copied 16 launches of 3 runs" in out and "verified" in out
    assert "copy: 3/3 runs" in err and PASSWORD not in out + err
    with Store(old_file) as a, Store(results_db) as b:
        assert a.counts() == b.counts()
        pd.testing.assert_frame_equal(_frames(a), _frames(b))
        assert list(b.variants(RUNS[1])["variant"]) == ["fused+quantized", "baseline"]
    code, out, _ = _cli("db", "copy", str(old_file), results_db)
    assert code == 0 and "copied 0 launches of 0 runs (3 at the source)" in out
    with Store(results_db) as b:
        assert b.counts()["launches"] == 16


def test_interrupted_copy_leaves_whole_runs_and_a_rerun_finishes(
    old_file: Path, postgres: PgServer
) -> None:
    url = postgres.bench_url()

    def stop_after_first(done: int, total: int, n: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with Store(old_file) as a, Store(url) as b:
        with pytest.raises(KeyboardInterrupt):
            copy_store(a, b, stop_after_first)
        assert list(b.runs()["run_id"]) == RUNS[:1] and b.counts()["launches"] == 8
        result = copy_store(a, b)
        assert result.verified and result.runs_copied == 2 and result.launches_copied == 8
        assert a.counts() == b.counts()


def test_copy_into_a_database_that_has_some_runs_and_its_own(
    old_file: Path, postgres: PgServer
) -> None:
    url = postgres.bench_url()
    with Store(old_file) as a, Store(url) as b:
        own = b.create_run("benchorch sweep --device other", {})
        b.record_launch(launch(own, 0, device_serial="other"))
        copy_store(a, b)
        # the source's still-running run grows, then is copied again: only what is new
        a.record_launch(launch(RUNS[2], 0))
        a.record_launch(launch(RUNS[2], 1))
        a.finish_run(RUNS[2], "ok")
        result = copy_store(a, b)
        assert result.verified and result.runs_copied == 1 and result.launches_copied == 2
        assert b.run(RUNS[2])["status"] == "ok" and b.run(RUNS[2])["launches"] == 2
        assert b.run(own)["launches"] == 1 and b.counts()["runs"] == 4
        assert b.counts()["launches"] == a.counts()["launches"] + 1


def test_copy_from_a_missing_file_or_bad_url_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _cli("db", "copy", str(tmp_path / "none.sqlite"), str(tmp_path / "b.sqlite"))
    assert code == ExitCode.USAGE and "no results database" in err
    code, _, err = _cli("db", "copy", str(FIXTURE), "mysql://u:pw@h/db")
    assert code == ExitCode.USAGE and "unknown database scheme" in err and ":pw@" not in err
