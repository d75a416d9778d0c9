"""The virtual phone stands apart: its process never loads the orchestrator's CLI,
and the benchmarks use its harness (a package module), never the tests."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.argv = ["python -m benchorch.virtualphone", "--list-profiles"]
import runpy
runpy.run_module("benchorch.virtualphone", run_name="__main__")
print(json.dumps(sorted(m for m in sys.modules if m.startswith("benchorch."))))
"""


def test_the_phone_entry_point_does_not_import_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert "pixel8" in lines[:-1]  # the phone's own command answered
    loaded = json.loads(lines[-1])
    assert "benchorch.virtualphone.cli" in loaded
    assert [m for m in loaded if m == "benchorch.cli" or m.startswith("benchorch.cli.")] == []


def test_a_bad_profile_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchorch.virtualphone", "--profile", "nope", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("benchorch: error: ") and "'nope'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_phone_package_names_no_cli_module() -> None:
    for path in sorted((REPO / "benchorch" / "virtualphone").rglob("*.py")):
        for module in _imports(path):
            assert not module.startswith("benchorch.cli"), f"{path.name} imports {module}"


def test_benchmarks_import_nothing_from_tests() -> None:
    """``make bench`` runs each script as a file, with no PYTHONPATH: neither
    ``tests`` nor a ``benchmarks.`` package is importable there (a sibling
    script is, by its bare name)."""
    scripts = sorted((REPO / "benchmarks").glob("*.py"))
    assert scripts
    for path in scripts:
        for module in _imports(path):
            assert module.split(".")[0] not in ("tests", "benchmarks"), f"{path.name}: {module}"


def _imports(path: Path) -> list[str]:
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
    return out
