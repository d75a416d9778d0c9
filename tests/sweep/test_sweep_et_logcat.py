"""An ExecuTorch runner that logs to logcat only, as upstream's android PAL does, on the
x86_64 virtual phone: the sweep reads each launch's numbers from ``logcat -d -s
ExecuTorch:I`` and from nowhere else.

Nothing is stubbed: the runner is ours built with ``--logcat`` against the executorch
wheel, writing liblog's datagrams to the virtual phone's logd; logcat is the phone's,
read through Debian's adb server.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from benchorch.sweep.logcat import pids
from tests.support.adb_fixtures import VirtualPhone
from tests.support.etfiles import copy_runner, keep_files
from tests.sweep.conftest import SweepEnv, run_id_of
from tests.sweep.test_sweep_executorch import EMU, _check_run, et_variants  # noqa: F401

pytest.importorskip("executorch.runtime", reason="needs the executorch extra (make setup)")
pytestmark = [pytest.mark.torch, pytest.mark.executorch, pytest.mark.slow]

THREADTIME = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ I ExecuTorch: ", re.M)


@pytest.fixture(scope="module")
def logcat_runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our runner built to log to logcat, copied (registering writes a sidecar beside it)."""
    from benchorch.etrunner.host import build_host_runner

    built = Path(build_host_runner(cache_dir=tmp_path_factory.mktemp("et-lc"), logcat=True).path)
    return copy_runner(built, tmp_path_factory.mktemp("et-lc-copy"))


@pytest.fixture
def pte_only(et_variants: Path, tmp_path: Path) -> Path:  # noqa: F811
    """The variants with only ``executorch.pte`` in the manifest."""
    out = tmp_path / "pte-only"
    shutil.copytree(et_variants, out)
    return keep_files(out, {"executorch.pte"})


def _sweep(
    env: SweepEnv, serial: str, variants: Path, runner: Path, lite: Path, launches: str, loads: str
) -> list[dict]:
    """A sweep of 3 iterations after 1 warm-up: ``launches`` latency and ``loads`` load
    launches a file; its stored launches."""
    result = env.invoke(
        "--device", serial, "--variants", str(variants), "--et-binary", str(runner),
        "--binary", str(lite), "--launches", launches, "--load-launches", loads,
        "--iter", "3", "--warmup", "1", "--timeout", "120", "--out", str(env.out),
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    run_id = run_id_of(result.stderr)
    return [dict(r) for r in env.rows("SELECT * FROM launches WHERE run_id = ?", (run_id,))]


def test_the_runner_prints_nothing_on_stderr_and_logs_to_logcat(
    emulator: VirtualPhone,
    logcat_runner: Path,
    et_variants: Path,  # noqa: F811
) -> None:
    phone = emulator
    for f in [*logcat_runner.parent.glob("*.so"), logcat_runner, et_variants / "executorch.pte"]:
        shutil.copy2(f, phone.root / f.name)
    run = phone.shell(
        "logcat -c; cd /data/local/tmp && ./et_bench_runner --model_path=executorch.pte"
        " --num_executions=2 --cpu_threads=1; echo exit=$?"
    )
    assert run.stdout.strip() == "exit=0" and run.stderr == ""  # not a line anywhere else
    dump = phone.shell("logcat -d -s ExecuTorch:I").stdout
    assert len(THREADTIME.findall(dump)) >= 4, dump  # loaded, 2 iterations, done
    assert "Iteration 2 of 2:" in dump and len(pids(dump)) == 1
    bad = phone.shell(
        "logcat -c; /data/local/tmp/et_bench_runner --model_path=/data/local/tmp/et_bench_runner"
    )
    assert "Program identifier" not in bad.stdout + bad.stderr  # the runtime's words: logcat only
    assert "Program identifier" in phone.shell("logcat -d -s ExecuTorch:I").stdout


def test_a_phone_sweep_reads_each_launch_from_logcat(
    sweep_env: SweepEnv,
    emulator: VirtualPhone,
    et_variants: Path,  # noqa: F811
    logcat_runner: Path,
    lite: Path,
) -> None:
    phone = emulator
    rows = _sweep(sweep_env, phone.serial, et_variants, logcat_runner, lite, "2", "1")
    _check_run(rows, phone.serial)  # real numbers for the .ptl and both .pte, as from stderr
    pte = [r for r in rows if str(r["variant_file"]).endswith(".pte")]
    assert len(pte) == 6
    writers = []
    for r in pte:
        stderr = str(r["stderr"])
        assert "--------- beginning of main" in stderr  # the numbers came from logcat
        assert not re.search(r"^I \d\d:\d\d", stderr, re.M)  # and nothing from stderr
        mine = pids(stderr)
        assert len(mine) == 1, stderr  # one process's lines: this launch's
        writers += mine
        iterations = re.findall(r"Iteration (\d+) of (\d+)", stderr)
        if r["kind"] == "latency":
            assert iterations == [(str(i), "4") for i in range(1, 5)]  # exactly its own four
            assert len(bytes(r["samples"])) == 3 * 8  # packed doubles: the warm-up one dropped
    assert len(set(writers)) == len(writers)  # six launches, six processes


def test_another_writer_under_the_tag_is_never_taken_for_the_launch(
    sweep_env: SweepEnv, emulator: VirtualPhone, pte_only: Path, logcat_runner: Path, lite: Path
) -> None:
    """A process that keeps logging timing lines as ExecuTorch (a runner left running
    from an earlier launch) lands in the same buffer as each launch: no launch is
    given numbers that logcat cannot tell are its own."""
    phone = emulator
    loop = "while :; do log -t ExecuTorch 'Iteration 1 of 1: 0.5 ms'; sleep 0.05; done"
    phone.shell(f"sh -c {loop!r} >/dev/null 2>&1 &")
    rows = _sweep(sweep_env, phone.serial, pte_only, logcat_runner, lite, "2", "0")
    assert len(rows) == 2
    for r in rows:
        assert r["status"] == "failed" and r["error_kind"] == "unparseable", r["message"]
        m = re.search(r"ExecuTorch lines of (\d+) processes", str(r["message"]))
        assert m and int(m.group(1)) >= 2, r["message"]
        assert r["us_per_iter"] is None


def test_without_logcat_nothing_is_read_and_the_launch_says_why(
    sweep_env: SweepEnv, emulator: VirtualPhone, pte_only: Path, logcat_runner: Path, lite: Path
) -> None:
    phone = emulator
    phone.shell("log -t ExecuTorch 'Model loaded in 1.0 ms.'")  # an earlier line in the buffer
    assert phone.shell("rm /system/bin/logcat").returncode == 0  # logcat -c now fails
    rows = _sweep(sweep_env, phone.serial, pte_only, logcat_runner, lite, "1", "1")
    assert sorted((r["kind"], r["status"], r["error_kind"]) for r in rows) == [
        ("latency", "failed", "unparseable"),
        ("load", "failed", "unparseable"),
    ]
    assert all("`logcat -c` failed" in str(r["message"]) for r in rows)
    assert all(r["load_s"] is None for r in rows)
