"""Nothing is lost when PostgreSQL goes away mid-sweep: the local spool.

Real local sweeps (the host runner on exported variants) write into the
session's real PostgreSQL server, which a helper thread restarts or stops
while launches are being stored.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.exits import ExitCode
from benchorch.store import Store
from benchorch.store.spool import Spool, spool_path
from benchorch.variants.manifest import Manifest
from tests.store.factory import launch
from tests.support.postgres import PASSWORD, PgServer

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """demo:conv_bn_relu at 1,3,16,16, baseline and fused, as .ptl."""
    pytest.importorskip("torch")
    from benchorch.variants.export import ExportOptions, export_variants

    out = tmp_path_factory.mktemp("spool-variants") / "v"
    return export_variants(
        ExportOptions("demo:conv_bn_relu", out, dims="1,3,16,16", types="float", recipe="fuse,lite")
    )


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCHORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCHORCH_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def _stored(postgres: PgServer, db: str) -> int:
    try:
        return int(postgres.psql("SELECT COUNT(*) FROM launches", db) or 0)
    except subprocess.CalledProcessError:  # no tables yet, or the server is down
        return 0


def _pending(env: Path, display: str) -> int:
    path = spool_path(env / "cache", display)
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM pending WHERE replayed_at IS NULL").fetchone()[0]
        )
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _wait(cond: Callable[[], bool], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _sweep(db: str, variants: Manifest, env: Path) -> Any:
    return CliRunner().invoke(
        cli,
        [
            "--db", db, "sweep", "--device", "local", "--variants", str(variants.root),
            "--launches", "3", "--iter", "3", "--warmup", "0", "--load-launches", "0",
            "--out", str(env / "reports"), "--quiet", "--json",
        ],
    )  # fmt: skip


def _exactly_once(postgres: PgServer, db: str, expected: int) -> None:
    rows = postgres.psql(
        "SELECT COUNT(*), COUNT(DISTINCT (device_serial, launch_key, started_at)) FROM launches", db
    )
    assert rows == f"{expected}|{expected}", rows


def test_a_fast_restart_mid_sweep_loses_nothing_and_doubles_nothing(
    postgres: PgServer, variants: Manifest, env: Path
) -> None:
    db = postgres.new_database(owner="bench")
    url = postgres.bench_url(db)

    def restart() -> None:
        _wait(lambda: _stored(postgres, db) >= 2)
        postgres.restart_fast()

    helper = threading.Thread(target=restart)
    helper.start()
    result = _sweep(url, variants, env)
    helper.join()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    expected = 3 * len(variants.files)
    _exactly_once(postgres, db, expected)
    assert summary["spooled"] == summary["replayed"]
    assert PASSWORD not in result.output


def test_server_down_mid_sweep_spools_then_replays_in_order(
    postgres: PgServer, variants: Manifest, env: Path
) -> None:
    db = postgres.new_database(owner="bench")
    url = postgres.bench_url(db)
    display = f"postgresql://bench@127.0.0.1:{postgres.port}/{db}"

    def outage() -> None:
        _wait(lambda: _stored(postgres, db) >= 2)
        postgres.pg_ctl("-w", "-m", "fast", "stop")
        try:
            _wait(lambda: _pending(env, display) >= 2)
        finally:
            postgres.start()

    helper = threading.Thread(target=outage)
    helper.start()
    result = _sweep(url, variants, env)
    helper.join()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["spooled"] >= 2 and summary["replayed"] == summary["spooled"]
    expected = 3 * len(variants.files)
    _exactly_once(postgres, db, expected)
    with Store(url) as store:
        (run_id,) = store.runs()["run_id"]
        assert store.run(run_id)["status"] == "ok"
        df = store.launches(run_id)
        for _, per_device in df.groupby("device_serial"):  # stored in the order they ran
            assert per_device["started_at"].is_monotonic_increasing


def test_unflushed_at_the_end_is_exit_3_with_the_flush_command(
    postgres: PgServer, variants: Manifest, env: Path
) -> None:
    db = postgres.new_database(owner="bench")
    url = postgres.bench_url(db)
    stopped = threading.Event()

    def outage() -> None:
        _wait(lambda: _stored(postgres, db) >= 1)
        postgres.pg_ctl("-w", "-m", "fast", "stop")
        stopped.set()

    helper = threading.Thread(target=outage)
    helper.start()
    try:
        result = _sweep(url, variants, env)
    finally:
        helper.join()
        postgres.start()
    assert stopped.is_set()
    assert result.exit_code == ExitCode.INFRA, result.output
    line = [ln for ln in result.output.splitlines() if ln.startswith("benchorch: error:")][-1]
    assert "wait in the local spool" in line and "db flush" in line and PASSWORD not in line
    expected = 3 * len(variants.files)
    assert _stored(postgres, db) < expected
    flush = CliRunner().invoke(
        cli, ["--db", url, "db", "flush"], env={"BENCHORCH_CACHE": str(env / "cache")}
    )
    assert flush.exit_code == 0, flush.output
    assert "replayed" in flush.output
    _exactly_once(postgres, db, expected)
    with Store(url) as store:
        (run_id,) = store.runs()["run_id"]
        assert store.run(run_id)["status"] == "ok"  # the final status waited in the spool too
    again = CliRunner().invoke(cli, ["--db", url, "db", "flush"])
    assert again.exit_code == 0 and "nothing" in again.output
    _exactly_once(postgres, db, expected)


def test_replay_skips_a_launch_the_server_already_has(postgres: PgServer, tmp_path: Path) -> None:
    """A commit that reached the server whose answer was lost: spooled, and not doubled."""
    url = postgres.bench_url()
    display = url.replace(f":{PASSWORD}", "")
    spool = Spool(tmp_path / "spool.sqlite", display)
    with Store(url, spool=spool) as store:
        rid = store.create_run("sweep", {})
        rec = launch(rid, 0)
        store.record_launch(rec)
        spool.add_launch(rec)  # as if the answer of that commit had been lost
        spool.add_launch(launch(rid, 1))
        assert store.flush_spool() == 1
        assert store.run(rid)["launches"] == 2
        assert spool.counts(rid).pending == 0 and spool.counts(rid).spooled == 2
    spool.close()
