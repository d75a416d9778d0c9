"""The ExecuTorch host runner: our C++ on the Module API, built against the real executorch wheel
with the real g++, run on real ``.pte`` programs; registering runners (real binaries compiled here).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.build.provenance import Provenance, read_sidecar
from benchorch.cli.main import cli

pytestmark = [pytest.mark.executorch, pytest.mark.slow]
pytest.importorskip("executorch.runtime", reason="needs the executorch extra (make setup)")

PREFIX = r"I \d\d:\d\d:\d\d\.\d{6} executorch:et_bench_runner\.cpp:\d+\] "


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("etcache")


@pytest.fixture(scope="module")
def runner(cache: Path) -> Provenance:
    from benchorch.etrunner.host import build_host_runner

    return build_host_runner(cache_dir=cache)


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small Conv+Linear model lowered portable and to XNNPACK by the exporter's own code."""
    import torch
    from torch import nn

    from benchorch.variants.et_export import PORTABLE, XNNPACK, lower

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = (torch.randn(1, 3, 8, 8),)
    out = tmp_path_factory.mktemp("pte")
    paths = {}
    for mode in (PORTABLE, XNNPACK):
        paths[mode] = out / f"{mode}.pte"
        paths[mode].write_bytes(lower(model.eval(), x, mode).buffer)
    return paths


def run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_built_with_provenance_then_cached(runner: Provenance, cache: Path) -> None:
    from benchorch.etrunner.host import build_host_runner

    binary = Path(runner.path)
    assert runner.origin == "built" and runner.flavour == "executorch" and runner.target == "host"
    assert binary.is_file() and binary.parent.parent == cache
    facts = runner.executorch
    assert facts["executorch_version"] == "1.5.1"
    assert facts["pal"].startswith("posix") and facts["logging"] == "on"
    assert "xnnpack" in facts["backends"] and "optimized" in facts["kernels"]
    assert "not attached" in facts["event_tracer"]
    # the wheel's libraries lie beside it, found through RUNPATH=$ORIGIN
    names = sorted(Path(p).name for p in runner.extra_files)
    assert "libexecutorch.so" in names and "libexecutorch_backend_xnnpack.so" in names
    assert all(Path(p).parent == binary.parent for p in runner.extra_files)
    assert read_sidecar(binary) == runner
    again = build_host_runner(cache_dir=cache)
    assert again.origin == "cached" and again.sha256 == runner.sha256


def test_it_runs_a_pte_without_the_wheel(
    runner: Provenance, programs: dict[str, Path], tmp_path: Path
) -> None:
    # what a push to a device does: the binary and its extra files in one folder
    for f in (runner.path, *runner.extra_files):
        shutil.copy2(f, tmp_path / Path(f).name)
    binary = tmp_path / Path(runner.path).name
    for program in programs.values():
        done = run(
            binary,
            f"--model_path={program}",
            "--num_executions=4",
            "--cpu_threads=1",
            "--print_output=none",
        )
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        assert any(re.fullmatch(PREFIX + r"Model loaded in \d+\.\d+ ms\.", ln) for ln in lines)
        iters = [ln for ln in lines if re.fullmatch(PREFIX + r"Iteration \d of 4: \d+\.\d+ ms", ln)]
        assert [int(re.search(r"Iteration (\d)", ln).group(1)) for ln in iters] == [1, 2, 3, 4]  # type: ignore[union-attr]
        total = [ln for ln in lines if "Model executed successfully 4 time(s) in" in ln]
        assert len(total) == 1 and re.fullmatch(PREFIX + r".* in \d+\.\d+ ms\.", total[0])
    threads = run(binary, "--model_path", str(programs["xnnpack"]), "--cpu_threads", "2")
    assert "Resetting threadpool to 2 threads" in threads.stderr


def test_its_failures_are_upstreams(runner: Provenance, tmp_path: Path) -> None:
    binary = Path(runner.path)
    missing = run(binary, "--model_path", str(tmp_path / "none.pte"))
    assert missing.returncode == -6  # SIGABRT: a shell reports 134
    assert "Failed to open" in missing.stderr
    not_pte = tmp_path / "model.ptl"
    not_pte.write_bytes(b"PK\x03\x04" + bytes(200))
    bad = run(binary, "--model_path", str(not_pte))
    assert bad.returncode == 1
    assert "Program identifier '' != expected 'ET12'" in bad.stderr
    flag = run(binary, "--warmup=3")
    assert flag.returncode == 1 and "ERROR: unknown command line flag 'warmup'" in flag.stderr


def _compile(tmp_path: Path, name: str, strings: list[str]) -> Path:
    source = tmp_path / f"{name}.c"
    body = "".join(f'  puts("{s}");\n' for s in strings)
    source.write_text(f"#include <stdio.h>\nint main(void) {{\n{body}  return 0;\n}}\n")
    out = tmp_path / name
    subprocess.run(["gcc", "-O0", str(source), "-o", str(out)], check=True, timeout=120)
    return out


TIMING = ["Model loaded in %f ms.", "Iteration %u of %u: %f ms", "executed %u time(s) in %f ms."]


def test_register_refuses_a_runner_without_logging(tmp_path: Path) -> None:
    quiet = _compile(tmp_path, "executor_runner", ["executor_runner", "XnnpackBackend"])
    result = CliRunner().invoke(cli, ["build", "--runtime", "executorch", "--binary", str(quiet)])
    assert result.exit_code == 2
    assert "-DEXECUTORCH_ENABLE_LOGGING=ON" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_register_reads_the_facts_and_warns_on_a_tracer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    traced = _compile(tmp_path, "executor_runner", [*TIMING, "XnnpackBackend", "ETDumpGen"])
    result = CliRunner().invoke(
        cli, ["build", "--runtime", "executorch", "--binary", str(traced), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["flavour"] == "executorch" and data["origin"] == "registered"
    assert data["executorch"]["event_tracer"] == "on"
    assert data["executorch"]["backends"] == "xnnpack"
    assert data["executorch"]["logging"] == "on"
    assert data["executorch"]["pal"].startswith("posix")
    assert any("event tracer" in r.getMessage() for r in caplog.records)


def test_cli_builds_the_host_runner(cache: Path, runner: Provenance) -> None:
    result = CliRunner().invoke(
        cli,
        ["build", "--runtime", "executorch", "--target", "host", "--cache-dir", str(cache)],
    )
    assert result.exit_code == 0, result.output
    assert f"ExecuTorch runner (executorch, x86_64, cached): {runner.path}" in result.stdout
    wrong = CliRunner().invoke(
        cli, ["build", "--runtime", "executorch", "--target", "host", "--executorch-root", "."]
    )
    assert wrong.exit_code == 2 and "--executorch-root is for --target android" in wrong.output


def test_cli_builds_a_runner_that_logs_to_logcat(cache: Path, runner: Provenance) -> None:
    args = ["build", "--runtime", "executorch", "--target", "host", "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli, [*args, "--logcat", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["path"] != runner.path  # a build of its own, cached beside the stderr one
    assert built["executorch"]["pal"].startswith("logcat")
    # registering it reads the same from its bytes, so a sweep knows to read logcat
    copy = Path(cache) / "registered-logcat"
    copy.mkdir(exist_ok=True)
    shutil.copy2(built["path"], copy / "et_bench_runner")
    from benchorch.etrunner.register import register_runner

    assert register_runner(copy / "et_bench_runner").executorch["pal"].startswith("logcat")
    # with no logd to take its lines, it prints nothing: nowhere but logcat
    model = Path(built["path"]).parent / "missing.pte"
    done = run(Path(built["path"]), f"--model_path={model}", "--num_executions=1")
    assert done.returncode == -6 and "Failed to open" not in done.stdout + done.stderr  # abort()
    wrong = CliRunner().invoke(cli, ["build", "--logcat"])
    assert wrong.exit_code == 2 and "--logcat is for --runtime executorch" in wrong.output
