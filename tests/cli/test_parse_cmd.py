"""``benchorch parse`` through the real click group (CliRunner), on captured outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.parse import parse_output

FIXTURES = Path(__file__).parents[1] / "fixtures" / "outputs"
KEYS = {"status", "us_per_iter", "iters_per_sec", "samples_us", "error_kind", "message"}


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.txt")))
def test_json_has_exactly_the_six_keys_and_the_parsers_values(name: str) -> None:
    path = FIXTURES / f"{name}.txt"
    code, out, _ = run("parse", "--json", str(path))
    obj = json.loads(out)
    assert set(obj) == KEYS
    expected = parse_output(path.read_text())
    assert obj == json.loads(json.dumps(expected.to_json_obj()))
    assert code == (0 if expected.ok else 1)


def test_stdin_dash_and_human_summary() -> None:
    data = (FIXTURES / "ok_pep_lite.txt").read_bytes()
    code, out, _ = run("parse", "-", stdin=data)
    assert code == 0
    assert out.splitlines()[0] == "status: ok"
    result = parse_output(data.decode())
    assert f"us per iter: {result.us_per_iter:g}" in out
    assert f"samples: {len(result.samples_us)} " in out


def test_failure_summary_names_the_kind_and_reason() -> None:
    code, out, _ = run("parse", str(FIXTURES / "model_format_lite_given_pt.txt"))
    assert code == 1
    assert "error: model_format" in out
    assert "bytecode.pkl" in out


def test_unparseable_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "junk.txt"
    path.write_bytes(b"\xff\xfe not benchmark output\n")
    code, out, _ = run("parse", "--json", str(path))
    assert code == 1
    assert json.loads(out)["status"] == "unparseable"


def test_missing_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    code, out, err = run("parse", str(missing))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "stdin" in lines[0]
