"""Read-only commands on a results database that cannot exist: exit 2, one
line naming the path and the fix, and nothing created (real CLI, real paths)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli

READ_ONLY = [
    ["runs"],
    ["runs", "--json"],
    ["report", "latest"],
    ["compare", "a", "b"],
    ["export", "latest"],
    ["trend"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_a_database_in_a_missing_folder_is_a_usage_error(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # report and trend would write under ./reports
    db = tmp_path / "no" / "such" / "folder" / "x.db"
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"benchorch: error: results database {db} cannot exist")
    assert "--db" in line  # the fix
    assert result.stdout == ""  # not "no runs", not an empty JSON list
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created


def test_the_environment_variable_is_checked_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "gone" / "x.db"
    monkeypatch.setenv("BENCHORCH_DB", str(db))
    result = CliRunner().invoke(cli, ["runs"])
    assert result.exit_code == 2 and str(db) in result.stderr
    assert not (tmp_path / "gone").exists()


def test_a_folder_given_as_the_database_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path), "runs"])
    assert result.exit_code == 2 and str(tmp_path) in result.stderr


def test_a_missing_file_in_an_existing_folder_still_means_no_runs_yet(tmp_path: Path) -> None:
    """The default database before the first sweep: not an error for ``runs``."""
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "new.sqlite"), "runs"])
    assert result.exit_code == 0 and "no runs" in result.stderr
    assert list(tmp_path.iterdir()) == []
