"""A lab host without torch: `--variants DIR --binary PATH` sweeps a phone end to end.

The sweep runs in a real subprocess where ``import torch`` fails
(``sys.modules["torch"] = None``), against a virtual phone behind the real adb
server, with the real host-built speed_benchmark_torch; then the report and
the comparison commands run there too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import SweepEnv, common_args, run_id_of

PhoneFactory = Callable[..., VirtualPhone]

NO_TORCH = (
    "import sys; sys.modules['torch'] = None; "
    "from benchorch.cli.main import main; sys.argv[0] = 'benchorch'; main()"
)


def _benchorch_without_torch(env: SweepEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return env.python(NO_TORCH, *args)


def test_sweep_report_and_compare_need_no_torch(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    sweep = [*sweep_env.argv(["--device", phone.serial]),
             *common_args(small_variants, sweep_binaries["full_jit"]),
             "--launches", "1", "--load-launches", "0"]  # fmt: skip
    first = _benchorch_without_torch(sweep_env, *sweep)
    assert first.returncode == 0, first.stderr
    assert "torch" not in first.stderr.lower().replace("speed_benchmark_torch", "")
    second = _benchorch_without_torch(sweep_env, *sweep)
    assert second.returncode == 0, second.stderr
    assert sweep_env.count(phone.serial) == 6  # 3 files x 1 launch, twice

    base, cand = run_id_of(first.stderr), run_id_of(second.stderr)
    report = _benchorch_without_torch(
        sweep_env, "--db", str(sweep_env.db), "report", cand, "--baseline", base,
        "-o", str(sweep_env.tmp / "r.html"),
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert (sweep_env.tmp / "r.html").stat().st_size > 0
    compare = _benchorch_without_torch(
        sweep_env, "--db", str(sweep_env.db), "compare", base, cand, "--format", "json"
    )
    assert compare.returncode in (0, 1), compare.stderr  # a verdict, not a crash
