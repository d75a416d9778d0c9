"""One exit-code path: ``benchorch.exits`` decides every code, nothing below the CLI does."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchorch import errors
from benchorch.domain import Outcome
from benchorch.exits import ExitCode, comparison_outcome, exit_code
from benchorch.stats import Comparison, ComparisonRow, Verdict

PACKAGE = Path(errors.__file__).parent
README = PACKAGE.parent / "README.md"


def _row(verdict: Verdict, n_base: int = 10, n_cand: int = 10) -> ComparisonRow:
    return ComparisonRow(
        label=verdict.value, pair=("p",), verdict=verdict, reason="", n_base=n_base, n_cand=n_cand
    )


def _cmp(*rows: ComparisonRow) -> Comparison:
    return Comparison(base="a", cand="b", q=0.05, min_effect=0.02, rows=rows)


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (None, ExitCode.OK),
        (Outcome.OK, ExitCode.OK),
        (Outcome.FAILED, ExitCode.FAILED),
        (Outcome.REGRESSION, ExitCode.FAILED),
        (Outcome.INTERRUPTED, ExitCode.FAILED),
        (Outcome.PARTIAL, ExitCode.INFRA),
        (Outcome.NOT_COMPARABLE, ExitCode.INFRA),
        (KeyboardInterrupt(), ExitCode.FAILED),
        (errors.VariantCheckFailed("x"), ExitCode.FAILED),
        (errors.ConfigError("x"), ExitCode.USAGE),
        (errors.AbiMismatch("x"), ExitCode.USAGE),
        (errors.BuildUsageError("x"), ExitCode.USAGE),
        (errors.RunNotFound("x"), ExitCode.USAGE),
        (errors.DatabaseLocked("x"), ExitCode.INFRA),
        (errors.DeviceBusy("busy", serial="s"), ExitCode.INFRA),
        (errors.HostKeyError("x", host="h"), ExitCode.INFRA),
        (RuntimeError("a defect"), ExitCode.INFRA),
    ],
)
def test_every_outcome_and_error_branch_has_its_code(
    result: Outcome | BaseException | None, code: ExitCode
) -> None:
    assert exit_code(result) is code


def test_every_outcome_is_mapped() -> None:
    for outcome in Outcome:
        assert isinstance(exit_code(outcome), ExitCode)


@pytest.mark.parametrize(
    ("rows", "outcome"),
    [
        ((), Outcome.NOT_COMPARABLE),
        ((_row(Verdict.NOT_COMPARABLE),), Outcome.NOT_COMPARABLE),
        ((_row(Verdict.SAME), _row(Verdict.FASTER), _row(Verdict.INCONCLUSIVE)), Outcome.OK),
        ((_row(Verdict.SAME), _row(Verdict.SLOWER)), Outcome.REGRESSION),
        # failed in the candidate only: it broke, which is a regression too
        ((_row(Verdict.SAME), _row(Verdict.FAILED, n_cand=0)), Outcome.REGRESSION),
        # failed on both sides: nothing new broke
        ((_row(Verdict.SAME), _row(Verdict.FAILED, n_base=0, n_cand=0)), Outcome.OK),
    ],
)
def test_comparison_outcome(rows: tuple[ComparisonRow, ...], outcome: Outcome) -> None:
    assert comparison_outcome(_cmp(*rows)) is outcome


def test_the_stats_layer_no_longer_decides_exit_codes() -> None:
    assert not hasattr(Comparison, "exit_code")
    assert not hasattr(errors, "ExitCode")
    assert not hasattr(errors.BenchorchError, "exit_code")


def test_only_the_entry_points_know_exit_codes() -> None:
    """Exit codes are decided in benchorch.exits and used only by the two entry
    points (the CLI and the virtual phone's own); no library module imports them."""
    entry_points = {"exits.py", "virtualphone/cli.py"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel.as_posix() in entry_points:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "benchorch.exits":
                offenders.append(str(rel))
            if isinstance(node, ast.Name) and node.id == "ExitCode":
                offenders.append(str(rel))
    assert offenders == []


def test_every_declared_error_is_raised_or_is_a_branch() -> None:
    """errors.py declares no error that nobody raises (a base of others counts as used)."""
    tree = ast.parse(Path(errors.__file__).read_text())
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    bases = {b.id for c in classes for b in c.bases if isinstance(b, ast.Name)}
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p != Path(errors.__file__))
    unused = [
        c.name for c in classes if c.name not in bases and not re.search(rf"\b{c.name}\(", source)
    ]
    assert unused == []


def test_readme_exit_code_table_lists_the_four_codes() -> None:
    table = re.findall(r"^\| (\d) \| (.+) \|$", README.read_text(), flags=re.M)
    assert [int(code) for code, _ in table] == [int(c) for c in ExitCode]
    meaning = dict(table)
    assert "interrupted" in meaning["1"] and "regression" in meaning["1"]
    assert "nothing comparable" in meaning["3"] and "lost" in meaning["3"]


def test_a_usage_error_is_one_line_and_exit_2_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "benchorch", "parse", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(missing) in proc.stderr
