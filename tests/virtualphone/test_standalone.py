"""The virtual phone stands apart: its process never loads the orchestrator's CLI,
and every benchmark script finds what it imports when ``make bench`` runs it."""

from __future__ import annotations

import ast
import json
import os
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


#: run in a fresh interpreter as ``python benchmarks/X.py`` would be (its folder first on
#: sys.path, no PYTHONPATH, another working directory): the script's top level runs (its
#: imports, and whatever it puts on sys.path), not its main; then every module the script
#: names anywhere (imports inside functions too) must be found
BENCH_PROBE = """
import importlib.util, json, runpy, sys
path, modules = sys.argv[1], json.loads(sys.argv[2])
sys.path[0] = path.rsplit("/", 1)[0]
sys.argv = [path]
runpy.run_path(path, run_name="benchmark_probe")
def found(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
print(json.dumps([m for m in modules if not found(m)]))
"""


def test_every_benchmark_finds_what_it_imports_when_run_as_a_file(tmp_path: Path) -> None:
    """``make bench`` runs each script as a file, with no PYTHONPATH: a ``benchmarks.``
    package or ``tests`` is importable there only if the script puts its checkout on
    sys.path (the lab benchmarks do, to run on the e2e suite's lab); a sibling script is
    importable by its bare name."""
    scripts = sorted((REPO / "benchmarks").glob("*.py"))
    assert scripts
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for path in scripts:
        modules = sorted(set(_imports(path)))
        out = subprocess.run(
            [sys.executable, "-c", BENCH_PROBE, str(path), json.dumps(modules)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, f"{path.name}: {out.stderr.strip().splitlines()[-1:]}"
        assert json.loads(out.stdout.strip().splitlines()[-1]) == [], path.name


def _imports(path: Path) -> list[str]:
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
    return out
