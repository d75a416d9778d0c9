"""What a sweep imports before its first launch (issue 16: a faster start).

The sweep runs in a real subprocess (``benchorch sweep`` on a virtual phone
behind the real adb server, the real lite speed_benchmark_torch). A wrapper
records, when the first launch starts, every module the process has imported
outside the report's warm-up thread (which imports the report's libraries
while the launches run, on purpose). torch must never be imported on a lab
host that only runs sweeps, and the report's and statistics' libraries wait
until the launches run; on a database that exists already, Alembic is not
imported either. ``benchorch --help`` and ``sweep --help`` import no store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchorch.virtualphone.harness import VirtualPhone
from tests.support.adb_fixtures import REPO
from tests.sweep.conftest import SweepEnv, common_args

#: Runs ``benchorch ARGS`` (argv[2:]) and writes to argv[1] the modules imported when
#: the first launch starts, by any thread but the report's warm-up.
WRAPPER = """
import importlib.abc, json, sys, threading
out = sys.argv.pop(1)
importer = {}

class Who(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        importer.setdefault(name, threading.current_thread().name)
        return None

sys.meta_path.insert(0, Who())
import benchorch.sweep.executor as executor
real = executor.run_launch
seen = []

def first_launch(*args, **kwargs):
    if not seen:
        seen.append(1)
        mods = [m for m in list(sys.modules) if importer.get(m) != "report-prewarm"]
        with open(out, "w") as f:
            json.dump(mods, f)
    return real(*args, **kwargs)

executor.run_launch = first_launch
from benchorch.cli.main import main
sys.argv[0] = "benchorch"
main()
"""

#: Never before the first launch: torch (a lab host may not have it), the
#: report's and the statistics' libraries (they load while the launches run).
NEVER = (
    "torch",
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "jinja2",
    "benchorch.report",
    "benchorch.stats",
)


def _modules_at_first_launch(env: SweepEnv, args: list[str], out: Path) -> set[str]:
    proc = env.python(WRAPPER, str(out), *env.argv(args))
    assert proc.returncode == 0, proc.stderr
    assert out.exists(), f"no launch ran: {proc.stderr}"
    return set(json.loads(out.read_text()))


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_sweep_imports_only_what_it_needs_before_the_first_launch(
    sweep_env: SweepEnv, emulator: VirtualPhone, small_variants: Path, lite: Path
) -> None:
    phone = emulator
    args = ["--device", phone.serial, *common_args(small_variants, lite),
            "--launches", "1", "--load-launches", "0"]  # fmt: skip
    fresh = _modules_at_first_launch(sweep_env, args, sweep_env.tmp / "fresh.json")
    assert "benchorch.sweep.launch" in fresh  # the wrapper saw the sweep's own modules
    assert _heavy(fresh, NEVER) == []
    existing = _modules_at_first_launch(sweep_env, args, sweep_env.tmp / "existing.json")
    assert _heavy(existing, (*NEVER, "alembic", "mako", "rich")) == []
    assert sweep_env.count(phone.serial) == 4  # both sweeps ran their launches


def test_help_imports_no_store_or_report() -> None:
    code = (
        "import sys; from benchorch.cli.main import main; sys.argv[0] = 'benchorch'\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sys.modules), file=sys.stderr)"
    )
    for args in (["--help"], ["sweep", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert "Usage:" in proc.stdout
        modules = set(proc.stderr.split())
        assert _heavy(modules, (*NEVER, "sqlalchemy", "benchorch.store.store", "rich")) == []
