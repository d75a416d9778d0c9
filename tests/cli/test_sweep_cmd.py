"""``benchorch sweep``'s own checks through the real click group (CliRunner): settings
are refused before anything runs, in one line naming the flag as the user typed it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli


def _sweep(db: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", str(db), "sweep", *args, "--quiet"])


def _one_line(result: Any) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--iter", "0"], "--iter"),
        (["--memory-format", "nhwc"], "--memory-format"),
        (["--adb", "nowhere"], "--adb"),
        (["--threads", "x"], "--threads"),
        (["--pin", "sideways"], "--pin"),
    ],
)
def test_a_bad_flag_is_named_as_typed(tmp_path: Path, args: list[str], flag: str) -> None:
    result = _sweep(tmp_path / "r.sqlite", "--device", "local", *args)
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert line.startswith(f"benchorch: error: {flag}") and line.split()[2] in (flag, flag + ":")


@pytest.mark.parametrize(
    "args",
    [
        ["--device", "local", "--threads", "x"],
        ["--device", "local", "--launches", "0"],
        ["--device", "local", "--all"],
        ["--model", "demo:conv_bn_relu"],  # no device
    ],
)
def test_a_bad_setting_leaves_no_database(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "r.sqlite"
    result = _sweep(db, *args, "--out", str(tmp_path / "reports"))
    assert result.exit_code == 2, result.output
    _one_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no report folder


def test_a_bad_config_file_leaves_no_database(tmp_path: Path) -> None:
    toml = tmp_path / "sweep.toml"
    toml.write_text('devices = ["local"]\nlaunchs = 3\n')
    db = tmp_path / "r.sqlite"
    result = _sweep(db, "--config", str(toml))
    assert result.exit_code == 2 and "'launchs'" in _one_line(result)
    assert not db.exists()


def _stored_run(db: Path) -> str:
    from benchorch.store import Store

    with Store(db) as store:
        run = store.create_run("benchorch sweep --device local", {"settings": {}})
        store.finish_run(run, "interrupted")
    return run


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--threads", "4", "--launches", "3"], "--threads, --launches"),
        (["--device", "local", "--memory-format", "channels_last"], "--device, --memory-format"),
        (["--all", "--iter", "5"], "--all, --iter"),
    ],
)
def test_resume_with_settings_flags_is_one_line_naming_them(
    tmp_path: Path, args: list[str], named: str
) -> None:
    db = tmp_path / "r.sqlite"
    run = _stored_run(db)
    result = _sweep(db, "--resume", run, *args)
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert "--resume" in line and named in line
    from benchorch.store import Store

    with Store(db, create=False) as store:
        assert store.run(run)["status"] == "interrupted"  # untouched: refused before anything


def test_resume_with_a_config_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    run = _stored_run(db)
    toml = tmp_path / "sweep.toml"
    toml.write_text("launches = 3\n")
    result = _sweep(db, "--resume", run, "--config", str(toml), "--seed", "4")
    assert result.exit_code == 2
    assert "--config, --seed" in _one_line(result)


def test_resume_on_a_missing_database_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite"
    result = _sweep(db, "--resume", "20261126-013000-ab12")
    assert result.exit_code == 2
    line = _one_line(result)
    assert str(db) in line and "20261126-013000-ab12" in line
    assert not db.exists()


def test_the_store_is_closed_when_the_sweep_fails(tmp_path: Path) -> None:
    """An unreachable adb server after the settings: the error propagates, the store is
    closed (SQLite removes the -wal file when the last connection closes), even while
    the traceback keeps the sweep's frames alive."""
    from benchorch.errors import AdbServerUnreachable
    from benchorch.sweep.run import run_sweep

    db = tmp_path / "r.sqlite"
    flags = {"devices": ("no-such-phone",), "adb_server": "127.0.0.1:9", "out": tmp_path / "o"}
    with pytest.raises(AdbServerUnreachable) as info:
        run_sweep(
            db=db,
            flags=flags,
            flag_names={},
            config_file=None,
            resume_run=None,
            command="benchorch sweep",
            quiet=True,
        )
    assert info.traceback  # the frames (and their locals) are still referenced here
    assert db.exists() and not Path(f"{db}-wal").exists()


@pytest.mark.torch
def test_a_real_sweep_process_prints_its_json_summary_exits_0_and_closes_the_store(
    tmp_path: Path, exported_variants: Any, host_binary_lite: Any
) -> None:
    """The real host-built speed_benchmark_torch on ``local``, in a real ``benchorch``
    process: the JSON summary carries the exit code the process exits with, the store
    is closed at the end (no -wal file left), and a resume of the finished run is 0."""
    import json
    import os
    import subprocess
    import sys

    db = tmp_path / "r.sqlite"
    env = {
        **os.environ,
        "BENCHORCH_CACHE": str(tmp_path / "cache"),
        "BENCHORCH_LOCK_DIR": str(tmp_path / "locks"),
    }
    base = [sys.executable, "-m", "benchorch", "--db", str(db), "sweep", "--json"]

    def run(*args: str) -> Any:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, env=env, timeout=600, check=False
        )

    first = run(
        "--device", "local", "--variants", str(exported_variants.root),
        "--binary", str(host_binary_lite.path), "--launches", "1", "--iter", "2",
        "--load-launches", "0", "--out", str(tmp_path / "reports"),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["status"], summary["exit_code"]) == ("ok", 0)
    assert summary["devices"]["local"]["failed"] == 0 and summary["devices"]["local"]["done"] > 0
    assert db.exists() and not Path(f"{db}-wal").exists()

    again = run("--resume", summary["run_id"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["exit_code"] == 0
