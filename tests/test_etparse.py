"""benchorch.etparse: an ExecuTorch runner's lines into a ParseResult.

Fixtures in tests/fixtures/executorch/: ``*.txt`` is stdout then stderr of a real
run of benchorch's host runner (``capture.py`` re-makes them), the ``*.json``
sidecar gives the exit code and how it was made; ``handmade_*`` were written by
hand (no phone here) and say so in their sidecar.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.domain import ErrorKind, Status
from benchorch.etparse import NO_LOGGING, has_timing_lines, parse_et_output

FIXTURES = Path(__file__).parent / "fixtures" / "executorch"


def load(name: str) -> tuple[str, str, int]:
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    text = (FIXTURES / f"{name}.txt").read_text()
    cut = meta["stdout_chars"]
    return text[:cut], text[cut:], meta["exit_code"]


def test_a_real_run_gives_every_iteration_and_the_load_time() -> None:
    out, err, code = load("ok_xnnpack_8_executions")
    result = parse_et_output(out, err, code)
    assert result.status is Status.OK
    assert len(result.samples_us) == 8
    assert result.samples_us[0] == pytest.approx(123.357)
    assert result.samples_us[-1] == pytest.approx(22.669)
    assert result.us_per_iter == pytest.approx(sum(result.samples_us) / 8)
    assert result.iters_per_sec == pytest.approx(1e6 / result.us_per_iter)
    assert result.load_ms is not None and result.load_ms > 0
    # cpuinfo's "Failed to open midr file" info lines are not a missing model
    assert "Failed to open midr file" in err


def test_warm_up_executions_are_dropped() -> None:
    out, err, code = load("ok_xnnpack_8_executions")
    all_of_them = parse_et_output(out, err, code).samples_us
    result = parse_et_output(out, err, code, warmup=3)
    assert result.ok and result.samples_us == all_of_them[3:]
    assert result.us_per_iter == pytest.approx(sum(all_of_them[3:]) / 5)
    none_left = parse_et_output(out, err, code, warmup=8)
    assert none_left.status is Status.UNPARSEABLE and "all warm-up" in (none_left.message or "")


def test_logcat_lines_parse_the_same() -> None:
    out, err, code = load("handmade_logcat_android_pal")
    result = parse_et_output(out, err, code, warmup=1)
    assert result.ok
    assert result.samples_us == pytest.approx((4100.0, 4000.0, 3900.0, 4000.0))
    assert result.load_ms == pytest.approx(12.5)
    assert has_timing_lines(out + err)


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("missing_file", ErrorKind.MODEL_NOT_FOUND, "Failed to open absent.pte"),
        ("not_a_pte", ErrorKind.MODEL_FORMAT, "Program identifier '' != expected 'ET12'"),
        ("unknown_flag", ErrorKind.BAD_ARGUMENTS, "unknown command line flag 'warmup'"),
    ],
)
def test_failures_are_named_by_the_runtimes_words(name: str, kind: ErrorKind, words: str) -> None:
    out, err, code = load(name)
    result = parse_et_output(out, err, code)
    assert result.status is Status.FAILED and result.error_kind is kind
    assert result.message is not None and words in result.message
    assert "executorch:" not in result.message  # the PAL prefix is gone
    # a shell's 134 for the abort says the same
    assert parse_et_output(out, err, 134).error_kind is kind


def test_a_runner_without_logging_is_named() -> None:
    result = parse_et_output("", "", 0)
    assert result.status is Status.UNPARSEABLE and result.message == NO_LOGGING
    assert "-DEXECUTORCH_ENABLE_LOGGING=ON" in NO_LOGGING
    assert not has_timing_lines("I 00:00:00.1 executorch:x.cpp:1] Inputs prepared.")


def test_a_cut_or_inconsistent_output_is_never_ok() -> None:
    out, err, _ = load("ok_xnnpack_8_executions")
    text = out + err
    cut = text[: text.index("Iteration 5 of 8")]
    result = parse_et_output(cut, "", None)
    assert result.status is Status.UNPARSEABLE and len(result.samples_us) == 4
    killed = parse_et_output(cut, "", -9)
    assert killed.error_kind is ErrorKind.CRASH and "SIGKILL" in (killed.message or "")
    missing = "\n".join(ln for ln in text.splitlines() if "Iteration 3 of 8" not in ln)
    gap = parse_et_output(missing, "", 0)
    assert gap.status is Status.UNPARSEABLE and "7 'Iteration' line(s) for 8" in (gap.message or "")


def test_the_cli_parses_executorch_output() -> None:
    runner = CliRunner()
    path = str(FIXTURES / "ok_portable_threads.txt")
    done = runner.invoke(cli, ["parse", "--runtime", "executorch", "--warmup", "1", "--json", path])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["status"] == "ok" and len(data["samples_us"]) == 4 and data["load_ms"] > 0
    bad = runner.invoke(cli, ["parse", "--runtime", "executorch", str(FIXTURES / "not_a_pte.txt")])
    assert bad.exit_code == 1 and "model_format" in bad.stdout
    wrong = runner.invoke(cli, ["parse", "--warmup", "2", path])
    assert wrong.exit_code == 2 and "--runtime executorch" in wrong.output
    # speed_benchmark_torch's --json keys are unchanged (no load_ms)
    torch_out = runner.invoke(cli, ["parse", "--json", path])
    assert "load_ms" not in json.loads(torch_out.stdout)
