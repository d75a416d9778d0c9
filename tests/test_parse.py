"""benchorch.parse against real captured outputs and generated noise.

Fixtures in tests/fixtures/outputs/: ``*.txt`` is stdout then stderr, the
``*.json`` sidecar gives the exit code, where stdout ends and how the file was
made. Files without the ``handmade_`` prefix were captured (``capture.py``) from
real host builds of speed_benchmark_torch or, ``hostrunner_*``, from benchorch's
own host runner; ``handmade_*`` ones stand in for what
only a phone, an iPhone or the NDK can produce and say so in their sidecar.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from benchorch.domain import ErrorKind, ParseResult, Status
from benchorch.parse import parse_output

FIXTURES = Path(__file__).parent / "fixtures" / "outputs"


@dataclass(frozen=True)
class Capture:
    name: str
    stdout: str
    stderr: str
    exit_code: int | None
    meta: dict[str, object]

    def parse(self) -> ParseResult:
        return parse_output(self.stdout, self.stderr, self.exit_code)


def load(name: str) -> Capture:
    text = (FIXTURES / f"{name}.txt").read_bytes().decode()
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    cut = int(meta["stdout_chars"])
    return Capture(name, text[:cut], text[cut:], meta["exit_code"], meta)


ALL = sorted(p.stem for p in FIXTURES.glob("*.txt"))

# name -> (status, error_kind, a piece of the runtime's own reason)
EXPECTED: dict[str, tuple[Status, ErrorKind | None, str | None]] = {
    "ok_plain_full": (Status.OK, None, None),
    "ok_pep_lite": (Status.OK, None, None),
    "ok_pep_full_ptl": (Status.OK, None, None),
    "ok_pep_two_inputs": (Status.OK, None, None),
    "ok_pep_sci_notation": (Status.OK, None, None),
    "load_only_iter0": (Status.OK, None, None),
    "model_format_lite_given_pt": (Status.FAILED, ErrorKind.MODEL_FORMAT, "bytecode.pkl"),
    "model_format_not_zip": (Status.FAILED, ErrorKind.MODEL_FORMAT, "zip archive"),
    "model_not_found": (Status.FAILED, ErrorKind.MODEL_NOT_FOUND, "missing.ptl"),
    "bad_args_unknown_flag": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "bogus"),
    "bad_args_dims_types_mismatch": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "same number"),
    "bad_args_unsupported_type": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "double"),
    "bad_args_one_memory_format": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "dims and format"),
    "bad_args_channels_last_2d": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "4D tensors"),
    "bad_args_dims_not_int": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "stoi"),
    "bad_args_negative_iter": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "non negative"),
    "crash_wrong_rank_lite": (Status.FAILED, ErrorKind.CRASH, "input of size: [1, 3]"),
    "crash_wrong_rank_full": (Status.FAILED, ErrorKind.CRASH, "RuntimeError: Expected 3D"),
    "crash_signal_segv": (Status.FAILED, ErrorKind.CRASH, "SIGSEGV"),
    "bytecode_version_too_new": (Status.FAILED, ErrorKind.BYTECODE_VERSION, "version is 99"),
    "missing_ops": (Status.FAILED, ErrorKind.MISSING_OPS, "[aten::rulu]"),
    "not_executable_host_sh": (Status.FAILED, ErrorKind.NOT_EXECUTABLE, "Permission denied"),
    "not_executable_mksh_noexec": (Status.FAILED, ErrorKind.NOT_EXECUTABLE, "can't execute"),
    "not_executable_mksh_missing": (Status.FAILED, ErrorKind.NOT_EXECUTABLE, "not found"),
    "not_executable_mksh_bad_elf": (Status.FAILED, ErrorKind.NOT_EXECUTABLE, "ELF"),
    "hostrunner_ok_pep": (Status.OK, None, None),
    "hostrunner_load_only_iter0": (Status.OK, None, None),
    "hostrunner_unknown_flag": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "--bogus=1"),
    "hostrunner_model_not_found": (Status.FAILED, ErrorKind.MODEL_NOT_FOUND, "missing.ptl"),
    "hostrunner_crash_wrong_rank": (Status.FAILED, ErrorKind.CRASH, "input of size: [1, 3]"),
    "hostrunner_bad_args_dims_types_mismatch": (
        Status.FAILED,
        ErrorKind.BAD_ARGUMENTS,
        "[enforce fail at benchorch.hostrunner]",
    ),
    "hostrunner_bytecode_version": (Status.FAILED, ErrorKind.BYTECODE_VERSION, "version is 99"),
    "hostrunner_missing_ops": (Status.FAILED, ErrorKind.MISSING_OPS, "[aten::rulu]"),
    "handmade_milliseconds_old_build": (Status.OK, None, None),
    "handmade_ios_testapp": (Status.OK, None, None),
    "handmade_logcat_pep": (Status.OK, None, None),
    "handmade_observer_mixed_tools": (Status.OK, None, None),
    "handmade_android_noexec": (Status.FAILED, ErrorKind.NOT_EXECUTABLE, "can't execute"),
    "handmade_android_bytecode_too_new": (Status.FAILED, ErrorKind.BYTECODE_VERSION, "3 and 7"),
    "handmade_android_missing_ops": (Status.FAILED, ErrorKind.MISSING_OPS, "quantized::linear"),
    "handmade_ndk_libcxxabi_model_format": (Status.FAILED, ErrorKind.MODEL_FORMAT, "bytecode.pkl"),
    "handmade_android_unknown_flag": (Status.FAILED, ErrorKind.BAD_ARGUMENTS, "--pthreadpool=4"),
    "handmade_placeholder_numbers": (Status.UNPARSEABLE, ErrorKind.UNPARSEABLE, "{us_per_iter}"),
    "handmade_truncated_device_dropped": (Status.UNPARSEABLE, ErrorKind.UNPARSEABLE, "Main run"),
}


def test_every_fixture_has_an_expectation_and_an_honest_label() -> None:
    assert set(EXPECTED) == set(ALL)
    for name in ALL:
        made = load(name).meta["produced_by"]
        assert made == ("hand-made" if name.startswith("handmade_") else "captured"), name


@pytest.mark.parametrize("name", ALL)
def test_fixture_status_kind_and_message(name: str) -> None:
    status, kind, piece = EXPECTED[name]
    result = load(name).parse()
    assert result.status is status
    assert result.error_kind is kind
    if piece is None:
        assert result.message is None
    else:
        assert result.message is not None and piece in result.message
        assert "\n" not in result.message
        assert "Exception raised from" not in result.message
        assert "frame #" not in result.message
    if status is not Status.OK:
        assert result.us_per_iter is None and result.iters_per_sec is None


def _flag(argv: list[str], name: str) -> str | None:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


@pytest.mark.parametrize("name", [n for n in ALL if n.startswith(("ok_", "hostrunner_ok"))])
def test_captured_numbers_agree_with_the_run(name: str) -> None:
    """Real runs: one sample per --iter with --report_pep, and the two summary numbers agree."""
    cap = load(name)
    result = cap.parse()
    argv = [str(a) for a in cap.meta["argv"]]  # type: ignore[attr-defined]
    iters = int(_flag(argv, "iter") or 10)
    assert len(result.samples_us) == (iters if _flag(argv, "report_pep") == "true" else 0)
    assert result.us_per_iter is not None and result.iters_per_sec is not None
    # six significant digits each: the product is 1e6 to within about 1e-5
    assert result.us_per_iter * result.iters_per_sec == pytest.approx(1e6, rel=2e-5)
    line = next(x for x in cap.stdout.splitlines() if x.startswith("Main run finished"))
    assert f"{result.us_per_iter:g}" in line
    # the loop's own timer covers every iteration, so it is at least the mean sample
    if result.samples_us:
        assert result.us_per_iter * 1.0001 + 1 >= sum(result.samples_us) / len(result.samples_us)


def test_milliseconds_become_microseconds() -> None:
    old = load("handmade_milliseconds_old_build").parse()
    assert old.us_per_iter == pytest.approx(3782.25)
    ios = load("handmade_ios_testapp").parse()
    assert ios.us_per_iter == pytest.approx(28767.0)
    assert ios.iters_per_sec == pytest.approx(34.762)


def test_only_net_latency_observer_lines_are_samples() -> None:
    result = load("handmade_observer_mixed_tools").parse()
    assert result.samples_us == pytest.approx((2100.0, 1980.0))


def test_scientific_notation_from_a_real_slow_run() -> None:
    result = load("ok_pep_sci_notation").parse()
    assert result.us_per_iter is not None and result.us_per_iter > 1e6
    assert all(s > 1e6 for s in result.samples_us)


def test_load_only_run_is_ok_without_a_time() -> None:
    result = load("load_only_iter0").parse()
    assert result.ok and result.us_per_iter is None and result.iters_per_sec == 0.0


def test_a_load_launch_is_ok_whatever_its_divisions_by_zero_print() -> None:
    real = load("load_only_iter0")
    told = parse_output(real.stdout, real.stderr, real.exit_code, load=True)
    assert told == real.parse()  # the real binary's --iter=0: inf and 0
    zero_timer = real.stdout.replace("inf", "nan").replace("second: 0", "second: nan")
    assert "nan" in zero_timer and "inf" not in zero_timer
    result = parse_output(zero_timer, "", 0, load=True)
    assert result.ok and result.us_per_iter is None and result.iters_per_sec is None
    # a latency launch printing that is garbage, and a load launch that failed still failed
    assert parse_output(zero_timer, "", 0).status is Status.UNPARSEABLE
    assert parse_output(real.stdout, real.stderr, 134, load=True).status is Status.FAILED
    crashed = load("crash_signal_segv")
    assert parse_output(crashed.stdout, crashed.stderr, crashed.exit_code, load=True) == (
        crashed.parse()
    )


def test_stdout_and_stderr_may_be_merged() -> None:
    for name in ALL:
        cap = load(name)
        assert parse_output(cap.stdout + cap.stderr, "", cap.exit_code) == cap.parse(), name


def test_exit_code_overrides_a_finished_line() -> None:
    cap = load("ok_pep_lite")
    assert cap.parse().ok
    failed = parse_output(cap.stdout, cap.stderr, 1)
    assert failed.status is Status.FAILED and failed.error_kind is ErrorKind.CRASH
    assert "status 1" in (failed.message or "")
    killed = parse_output(cap.stdout, cap.stderr, 137)
    assert "SIGKILL" in (killed.message or "")
    assert failed.samples_us == cap.parse().samples_us  # what was measured is kept


def test_no_finished_line_is_never_ok() -> None:
    cap = load("crash_signal_segv")
    for code in (0, None):
        result = parse_output(cap.stdout, "", code)
        assert result.status is Status.UNPARSEABLE
    assert parse_output("", "", 0).status is Status.UNPARSEABLE
    assert parse_output("", "", 3).error_kind is ErrorKind.CRASH


def _finished(per: str, ips: str) -> str:
    return f"Main runs.\nMain run finished. Microseconds per iter: {per}. Iters per second: {ips}\n"


@pytest.mark.parametrize(
    ("per", "ips"),
    [
        ("nan", "100"),
        ("-nan", "0"),
        ("inf", "12.5"),
        ("0", "0"),
        ("-5", "-200000"),
        ("1", "1"),  # disagree by 1e6
        ("XXX", "264.393"),
        ("", ""),
        ("3782.25", "{ips}"),
    ],
)
def test_garbage_numbers_are_unparseable(per: str, ips: str) -> None:
    result = parse_output(_finished(per, ips), "", 0)
    assert result.status is Status.UNPARSEABLE
    assert result.error_kind is ErrorKind.UNPARSEABLE
    assert result.message and "Main run finished" in result.message


@pytest.mark.parametrize(
    "observer",
    [
        '{"type": "NET", "unit": "us", "metric": "latency", "value": "nan"}',
        '{"type": "NET", "unit": "us", "metric": "latency", "value": "<value>"}',
        '{"type": "NET", "unit": "furlongs", "metric": "latency", "value": "3"}',
        '{"type": "NET", "unit": "us", "metric": "latency", "value": "-4"}',
        '{"type": "NET", "unit": "us", "metric": "latency", "value": "2142"',
    ],
)
def test_garbage_samples_are_unparseable(observer: str) -> None:
    text = f"Main runs.\nPyTorchObserver {observer}\n" + _finished("2142", "466.853")
    assert parse_output(text, "", 0).status is Status.UNPARSEABLE


def test_samples_belong_to_the_last_run_only() -> None:
    first = load("ok_pep_two_inputs")
    second = load("ok_pep_lite")
    result = parse_output(first.stdout + second.stdout, "", 0)
    assert result == second.parse()


# --- hypothesis: noise never changes the result -----------------------------------

_LOGCAT = st.builds(
    lambda m, s, pid, tid, lvl, tag: (
        f"11-26 01:{m:02d}:{s:02d}.123 {pid:5d} {tid:5d} {lvl} {tag}: "
    ),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(1, 99999),
    st.integers(1, 99999),
    st.sampled_from("VDIWEF"),
    st.sampled_from(["PyTorch", "speed_benchmark", "libc", "DEBUG"]),
)
_PREFIX = st.one_of(st.just(""), st.text(" \t", max_size=4), _LOGCAT)
_FIXED_NOISE = [
    "",
    "shell@phone:/data/local/tmp $ ./speed_benchmark_torch --model=m.ptl --report_pep=true",
    "root@host:~# adb -s R58M123 shell /data/local/tmp/speed_benchmark_torch --iter=10",
    "[W NNPACK.cpp:53] Could not initialize NNPACK! Reason: Unsupported hardware.",
    "[W qnnpack_utils.h:80] Warning: QNNPACK is not available on this build.",
    "WARNING: linker: speed_benchmark_torch: unused DT entry: type 0x6ffffffe arg 0x1234",
    "--------- beginning of main",
    "$ echo done",
    "Running warmup runs",
]
_NOISE_LINE = st.one_of(
    st.sampled_from(_FIXED_NOISE),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=60),
)


def _neutral(line: str) -> bool:
    """A noise line that, alone, is not benchmark output of any kind (black-box check)."""
    alone = parse_output(line, "", None)
    return alone.error_kind is ErrorKind.UNPARSEABLE and not alone.samples_us


@st.composite
def noisy(draw: st.DrawFn, text: str) -> str:
    out: list[str] = []
    for line in text.splitlines():
        for noise in draw(st.lists(_NOISE_LINE, max_size=2)):
            assume(_neutral(noise))
            out.append(draw(_PREFIX) + noise)
        out.append(draw(_PREFIX) + line + draw(st.text(" \t", max_size=2)))
    for noise in draw(st.lists(_NOISE_LINE, max_size=2)):
        assume(_neutral(noise))
        out.append(noise)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(out) + end


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(ALL))
def test_noise_around_the_lines_never_changes_the_result(data: st.DataObject, name: str) -> None:
    cap = load(name)
    clean = cap.parse()
    stdout = data.draw(noisy(cap.stdout))
    stderr = data.draw(noisy(cap.stderr)) if cap.stderr else ""
    assert parse_output(stdout, stderr, cap.exit_code) == clean


_KEYS = {"type": "NET", "unit": "us", "metric": "latency"}


@settings(max_examples=80, deadline=None)
@given(
    order=st.permutations(["type", "unit", "metric", "value"]),
    values=st.lists(st.floats(0, 1e7, allow_nan=False), min_size=1, max_size=20),
    unit=st.sampled_from(["us", "ms"]),
    as_string=st.booleans(),
)
def test_observer_keys_in_any_order(
    order: list[str], values: list[float], unit: str, as_string: bool
) -> None:
    lines = ["Main runs."]
    for v in values:
        printed = f"{v:g}"
        fields = {**_KEYS, "unit": unit, "value": printed if as_string else float(printed)}
        lines.append("PyTorchObserver " + json.dumps({k: fields[k] for k in order}))
    scale = 1000.0 if unit == "ms" else 1.0
    expected = tuple(float(f"{v:g}") * scale for v in values)
    mean = max(sum(expected) / len(expected), 1.0)
    lines.append(
        f"Main run finished. Microseconds per iter: {mean:g}. Iters per second: {1e6 / mean:g}"
    )
    result = parse_output("\n".join(lines), "", 0)
    assert result.ok
    assert result.samples_us == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(us=st.floats(1e-3, 1e12), milli=st.booleans())
def test_any_cpp_printed_number(us: float, milli: bool) -> None:
    """C++ streams print 6 significant digits: 1.23457e+06 and friends."""
    per = f"{us / 1000:g}" if milli else f"{us:g}"
    ips = f"{1e6 / us:g}"
    unit = "Milliseconds" if milli else "Microseconds"
    text = f"Main run finished. {unit} per iter: {per}. Iters per second: {ips}"
    result = parse_output(text, "", None)
    assert result.ok
    assert result.us_per_iter == pytest.approx(float(per) * (1000 if milli else 1), rel=1e-12)
    assert result.iters_per_sec == float(ips)
    assert math.isfinite(result.us_per_iter or math.nan)


def test_logcat_brief_and_indentation() -> None:
    text = (
        "I/PyTorch( 4321): Main runs.\n"
        '   I/PyTorch( 4321): PyTorchObserver {"type": "NET", "unit": "us", "value": "10"}\n'
        "\tI/PyTorch( 4321): Main run finished. Microseconds per iter: 10.5. "
        "Iters per second: 95238.1\n"
    )
    result = parse_output(text)
    assert result.ok and result.samples_us == (10.0,)
    assert re.fullmatch(r"10\.5", f"{result.us_per_iter:g}")


def test_an_exception_after_the_finished_line_is_a_failure() -> None:
    cap = load("ok_pep_lite")
    crash = load("crash_wrong_rank_lite")
    result = parse_output(cap.stdout, crash.stderr, None)
    assert result.status is Status.FAILED and result.error_kind is ErrorKind.CRASH
    assert result.samples_us == cap.parse().samples_us


def test_a_missing_binary_through_dash_is_not_executable() -> None:
    result = parse_output("", "sh: 1: ./speed_benchmark_torch: not found\n", 127)
    assert result.error_kind is ErrorKind.NOT_EXECUTABLE
