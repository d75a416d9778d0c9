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
