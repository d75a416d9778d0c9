"""`benchorch runs` and `benchorch export` through the real click app and a real database."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.domain import ErrorKind
from benchorch.store import Store
from tests.store.factory import device_info, failed_launch, launch, provenance, variant_entry


@pytest.fixture
def db(results_db: str) -> tuple[str, list[str]]:
    path = results_db
    with Store(path) as store:
        first = store.create_run(
            "benchorch sweep --device R58M123 --iter 20",
            {"iter": 20},
            run_id="20261125-220000-aaaa",
        )
        store.record_device(first, device_info())
        store.record_binary(first, provenance())
        store.record_variant(first, variant_entry())
        for i in range(3):
            store.record_launch(launch(first, i))
        store.record_launch(failed_launch(first, 3, ErrorKind.CRASH, core_mask=None))
        store.finish_run(first, "failed")
        second = store.create_run(
            "benchorch sweep --device local", {}, run_id="20261126-220000-bbbb"
        )
    return path, [first, second]


def _run(db: Path | str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_runs_table_and_json(db: tuple[str, list[str]]) -> None:
    path, (first, second) = db
    code, out, _ = _run(path, "runs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["RUN", "STARTED", "(UTC)"]
    assert lines[1].startswith(second) and lines[2].startswith(first)  # newest first
    assert lines[2].split()[3:7] == ["failed", "4", "1", "R58M123"]
    code, out, _ = _run(path, "runs", "--json")
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [second, first]
    assert rows[1]["launches"] == 4 and rows[1]["failures"] == 1
    assert rows[1]["params"] == {"iter": 20} and rows[1]["devices"] == ["R58M123"]
    code, out, _ = _run(path, "runs", "--json", "--limit", "1")
    assert [r["run_id"] for r in json.loads(out)] == [second]


def test_runs_on_a_missing_database_is_empty(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path / "none.sqlite", "runs", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, err = _run(tmp_path / "none.sqlite", "runs")
    assert code == 0 and "no runs" in err
    assert not (tmp_path / "none.sqlite").exists()


def _stored(path: Path, run_id: str) -> pd.DataFrame:
    with Store(path) as store:
        return store.launches(run_id)


def test_export_csv_matches_the_store(db: tuple[str, list[str]], tmp_path: Path) -> None:
    path, (first, _) = db
    out_file = tmp_path / "out.csv"
    code, _, err = _run(path, "export", first, "--format", "csv", "-o", str(out_file))
    assert code == 0 and "wrote 4 launches" in err
    got = pd.read_csv(out_file)
    want = _stored(path, first)
    assert list(got.columns) == list(want.columns)
    assert got["launch_id"].tolist() == want["launch_id"].tolist()
    assert [json.loads(s) for s in got["samples_us"]] == want["samples_us"].tolist()
    assert got["us_per_iter"].tolist()[:3] == want["us_per_iter"].tolist()[:3]
    assert json.loads(got["health_before"][0]) == want["health_before"][0]
    assert got["error_kind"].tolist()[3] == "crash"


def test_export_json_to_stdout(db: tuple[str, list[str]]) -> None:
    path, (first, _) = db
    code, out, err = _run(path, "export", "latest", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == []  # the newest run has no launches yet
    code, out, _ = _run(path, "export", "20261125", "--format", "json")  # a unique prefix
    rows = json.loads(out)
    want = _stored(path, first)
    assert [r["samples_us"] for r in rows] == want["samples_us"].tolist()
    assert rows[3]["core_mask"] is None and rows[0]["core_mask"] == 0xF0
    assert rows[3]["us_per_iter"] is None
    assert rows[0]["check_passed"] is True and rows[0]["variant_steps"] == ["fused", "quantized"]


def test_export_parquet(db: tuple[str, list[str]], tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path, (first, _) = db
    out_file = tmp_path / "out.parquet"
    code, _, _ = _run(path, "export", first, "--format", "parquet", "-o", str(out_file))
    assert code == 0
    got = pd.read_parquet(out_file)
    want = _stored(path, first)
    assert [list(s) for s in got["samples_us"]] == want["samples_us"].tolist()
    assert got["launch_key"].tolist() == want["launch_key"].tolist()
    # Parquet to stdout is the same bytes.
    code, out_bytes = _run_bytes(path, "export", first, "--format", "parquet")
    assert code == 0
    assert (
        pd.read_parquet(io.BytesIO(out_bytes))["launch_id"].tolist() == want["launch_id"].tolist()
    )


def _run_bytes(db: Path | str, *args: str) -> tuple[int, bytes]:
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    return result.exit_code, result.stdout_bytes


def test_export_parquet_without_pyarrow_is_a_usage_error(
    db: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow is installed here: hiding it from imports stands in for a host without it."""
    path, (first, _) = db
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, _, err = _run(path, "export", first, "--format", "parquet", "-o", str(path) + ".pq")
    assert code == 2
    assert err.count("\n") == 1 and "pyarrow" in err and "--format csv" in err


def test_export_unknown_run_is_exit_2_with_the_way_out(
    db: tuple[str, list[str]], tmp_path: Path
) -> None:
    path, _ = db
    code, out, err = _run(path, "export", "20000101-000000-dead")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "20000101-000000-dead" in err and "benchorch runs" in err
    code, _, err = _run(tmp_path / "absent.sqlite", "export", "latest")
    assert code == 2 and "absent.sqlite" in err
    code, _, err = _run(path, "export", "2026")  # ambiguous prefix
    assert code == 2 and "several" in err


def test_export_to_an_unwritable_place_is_exit_2(db: tuple[str, list[str]], tmp_path: Path) -> None:
    path, (first, _) = db
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(path, "export", first, "-o", str(blocker / "out.csv"))
    assert code == 2 and "out.csv" in err and err.count("\n") == 1


def test_corrupt_database_is_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"\x00garbage" * 512)
    code, _, err = _run(bad, "runs")
    assert code == 3 and str(bad) in err and err.count("\n") == 1
