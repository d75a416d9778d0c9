"""The launch command: a pure function of the plan."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from benchorch.domain import Flavour, ModelFormat
from benchorch.sweep.launch import LOAD_WRAPPER, launch_argv, load_time
from benchorch.sweep.plan import PlanVariant, make_plan
from benchorch.sweep.settings import SweepConfig
from tests.support.binaries import binary


def _plan() -> list:  # type: ignore[type-arg]
    variant = PlanVariant(
        name="m", file="m.ptl", format=ModelFormat.LITE, sha256="ab", bytecode_version=8,
        input_dims="1,3,8,8", input_types="float", memory_format="contiguous_format",
        check_passed=True,
    )  # fmt: skip
    cfg = SweepConfig(launches=1, load_launches=1, iters=7, warmup=2, threads=(2,))
    plan = make_plan([variant], binary(Flavour.LITE, 4, 9), cfg)
    return list(plan.launches)


def test_latency_launch_is_the_binary_and_the_plan_flags() -> None:
    (latency,) = [s for s in _plan() if s.kind == "latency"]
    argv = launch_argv(
        ("/data/local/tmp/benchorch/sbt",), latency, "/data/local/tmp/benchorch/m.ptl"
    )
    assert argv[0] == "/data/local/tmp/benchorch/sbt"
    assert "--iter=7" in argv and "--warmup=2" in argv and "--pthreadpool_size=2" in argv
    assert "--report_pep=true" in argv and "--model=/data/local/tmp/benchorch/m.ptl" in argv


def test_load_launch_is_timed_by_the_device_shell(tmp_path: Path) -> None:
    """The wrapper runs the real command with its arguments intact and reports its
    wall time in nanoseconds on stderr, with the command's own exit status."""
    (load,) = [s for s in _plan() if s.kind == "load"]
    argv = launch_argv(("sh", "-c", 'echo "$@"; exit 3', "x"), load, "/tmp/a b;$(touch z).ptl")
    assert argv[:3] == ("sh", "-c", LOAD_WRAPPER) and "--iter=0" in argv
    proc = subprocess.run(
        shlex.join(argv), shell=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 3
    assert "--model=/tmp/a b;$(touch z).ptl" in proc.stdout
    assert not (tmp_path / "z").exists()  # the hostile file name executed nothing
    load_s, rest = load_time(proc.stderr)
    assert load_s is not None and load_s > 0 and not rest.strip()
