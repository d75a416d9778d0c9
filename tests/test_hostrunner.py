"""The host runner as a real process: speed_benchmark_torch's flags, output and errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchorch.hostrunner import atoi, fmt, parse_flags

pytestmark = [pytest.mark.torch, pytest.mark.debian_torch]

FINISHED = re.compile(
    r"^Main run finished\. Microseconds per iter: (\S+)\. Iters per second: (\S+)$", re.M
)
PEP = re.compile(r"^PyTorchObserver (\{.*\})$", re.M)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchorch.hostrunner", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    root = tmp_path_factory.mktemp("runner_models")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()
    ).eval()
    scripted = torch.jit.script(model)
    paths = {"pt": root / "m.pt", "ptl": root / "m.ptl", "ff": root / "m.ff"}
    scripted.save(str(paths["pt"]))
    scripted._save_for_lite_interpreter(str(paths["ptl"]))
    scripted._save_for_lite_interpreter(str(paths["ff"]), _use_flatbuffer=True)
    return paths


@pytest.mark.parametrize("fmt_name", ["pt", "ptl", "ff"])
def test_output_has_the_binary_format(models: dict[str, Path], fmt_name: str) -> None:
    out = run(
        f"--model={models[fmt_name]}",
        "--input_dims=1,3,16,16",
        "--input_type=float",
        "--warmup=1",
        "--iter",
        "7",
        "--report_pep=true",
        "--pthreadpool_size=1",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == ["Starting benchmark.", "Running warmup runs.", "Main runs."]
    samples = [json.loads(m) for m in PEP.findall(out.stdout)]
    assert len(samples) == 7
    for s in samples:
        assert s["type"] == "NET" and s["unit"] == "us" and s["metric"] == "latency"
        assert float(s["value"]) >= 0
    m = FINISHED.search(out.stdout)
    assert m is not None and lines[-1] == m.group(0)
    per_iter, per_sec = float(m.group(1)), float(m.group(2))
    # the summary is the loop's total time: at least the sum of truncated samples
    assert per_iter * 7 >= sum(float(s["value"]) for s in samples)
    assert per_sec == pytest.approx(1e6 / per_iter, rel=1e-4)
    assert len(m.group(1).replace(".", "").lstrip("0")) <= 6  # 6 significant digits


def test_channels_last_and_iter_zero(models: dict[str, Path]) -> None:
    out = run(
        f"--model={models['ptl']}",
        "--input_dims=1,3,16,16",
        "--input_type=float",
        "--input_memory_format=channels_last",
        "--iter=0",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == (
        "Main run finished. Microseconds per iter: inf. Iters per second: 0"
    )


def test_unknown_flag_fails_like_the_binary(models: dict[str, Path]) -> None:
    out = run(f"--model={models['pt']}", "--bogus=3")
    assert out.returncode == 1
    err = out.stderr.splitlines()
    assert "C10 flag: unrecognized commandline argument: --bogus=3" in err
    assert err[-1] == "Failed to parse command line flags!"
    assert "Starting benchmark." not in out.stdout


def test_bare_boolean_swallows_the_next_argument(models: dict[str, Path]) -> None:
    out = run(f"--model={models['pt']}", "--report_pep", "--iter=3")
    assert out.returncode == 1
    assert "Cannot convert argument to bool: --iter=3" in out.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--input_dims=1,3,16,16", "--input_type=double"], "Unsupported input type: double"),
        (["--input_dims=1,3,16,16;1,2", "--input_type=float"], "Input dims and type"),
        (["--input_dims=1,3,x", "--input_type=float"], "std::invalid_argument: stoi"),
        (["--input_dims=1,3,16", "--input_type=float"], "c10::Error"),
    ],
)
def test_errors_abort_with_a_cpp_style_message(
    models: dict[str, Path], args: list[str], needle: str
) -> None:
    out = run(f"--model={models['pt']}", *args)
    assert out.returncode == -signal.SIGABRT
    assert "terminating with uncaught exception of type" in out.stderr
    assert needle in out.stderr
    assert FINISHED.search(out.stdout) is None


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ptl"
    out = run(f"--model={missing}", "--input_dims=1,3", "--input_type=float")
    assert out.returncode == -signal.SIGABRT
    assert f"file path: {missing}" in out.stderr


def test_print_output_prints_before_the_benchmark(models: dict[str, Path]) -> None:
    out = run(
        f"--model={models['pt']}",
        "--input_dims=1,3,4,4",
        "--input_type=float",
        "--print_output=true",
        "--iter=1",
    )
    assert out.returncode == 0, out.stderr
    head, _, _ = out.stdout.partition("Starting benchmark.")
    assert "tensor(" in head


def test_parse_flags_semantics() -> None:
    f = parse_flags(["--iter=abc", "--warmup", "12x", "positional", "--no_inputs=TRUE"])
    assert f["iter"] == 0 and f["warmup"] == 12 and f["no_inputs"] is True
    assert f["input_memory_format"] == "contiguous_format"
    assert atoi("  -42z") == -42 and atoi("+7") == 7 and atoi("") == 0
    assert atoi("4294967297") == 1  # 32-bit wrap


@pytest.mark.parametrize(
    ("value", "text"),
    [(3782.25, "3782.25"), (264.393012, "264.393"), (1234567.0, "1.23457e+06"), (2142.0, "2142")],
)
def test_numbers_print_like_cpp_floats(value: float, text: str) -> None:
    assert fmt(value) == text


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["--bogus=1"], "bad_arguments"),
        (["--input_dims=1,3,16,16", "--input_type=double"], "bad_arguments"),
        (["--input_dims=1,3,16,16", "--input_type=float", "--model=/nonexistent/m.ptl"], None),
    ],
)
def test_parser_reads_runner_failures(
    models: dict[str, Path], args: list[str], kind: str | None
) -> None:
    from benchorch.parse import parse_output

    out = run(f"--model={models['pt']}", *args)
    result = parse_output(out.stdout, out.stderr, out.returncode)
    assert not result.ok
    assert result.error_kind is not None
    if kind is not None:
        assert result.error_kind.value == kind
    else:
        assert result.error_kind.value == "model_not_found"


def test_parser_round_trip(models: dict[str, Path]) -> None:
    from benchorch.parse import parse_output

    out = run(
        f"--model={models['ptl']}",
        "--input_dims=1,3,16,16",
        "--input_type=float",
        "--iter=5",
        "--report_pep=true",
    )
    result = parse_output(out.stdout, out.stderr, out.returncode)
    assert result.ok
    samples = [float(json.loads(m)["value"]) for m in PEP.findall(out.stdout)]
    assert list(result.samples_us) == samples
    m = FINISHED.search(out.stdout)
    assert m is not None and result.us_per_iter == pytest.approx(float(m.group(1)))
    assert result.iters_per_sec == pytest.approx(float(m.group(2)))


@settings(deadline=None)
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.text(alphabet=" \t", max_size=3))
def test_atoi_reads_any_int32(n: int, pad: str) -> None:
    assert atoi(f"{pad}{n}") == n
    assert atoi(f"{n}abc") == n
    assert parse_flags([f"--iter={pad}{n}"])["iter"] == n


def test_start_up_imports_nothing_heavy() -> None:
    """Importing the runner and parsing flags loads no torch, numpy or benchorch extras."""
    code = (
        "import sys, benchorch.hostrunner as h; h.parse_flags(['--iter=3']); "
        "heavy = ('torch', 'numpy', 'pandas', 'click', 'rich'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    usage = run("--help")
    assert usage.returncode == 0 and "--model" not in usage.stderr
    assert "Arguments:" in usage.stdout and "    iter: " in usage.stdout
