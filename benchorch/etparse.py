"""Parse one launch's output of an ExecuTorch runner into a ``ParseResult``.

Pure: no I/O. Upstream ``executor_runner`` (and benchorch's host runner, which
prints the same lines) logs through ExecuTorch's PAL::

    I 00:00:00.004129 executorch:executor_runner.cpp:789] Model loaded in 12.5 ms.
    I 00:00:00.051234 executorch:executor_runner.cpp:912] Iteration 1 of 20: 4.1 ms
    ...                                           (one per execution, since 1.3)
    I 00:00:00.134510 executorch:executor_runner.cpp:930] Model executed
        successfully 20 time(s) in 83.2 ms.          (one line)

With the posix PAL these go to stderr; with the android PAL to logcat (tag
``ExecuTorch``, e.g. ``12-04 16:05:51.123  4242  4242 I ExecuTorch: Iteration 1
of 20: 4.1 ms``). The markers are searched inside each line, so either prefix
(or none) is read.

The runner has no warm-up flag: every execution is timed. The sweep runs
``warmup + iters`` executions and passes ``warmup``; the ``Iteration`` lines
numbered ``1..warmup`` are dropped. ``samples_us`` are the rest, in
microseconds; ``us_per_iter`` their mean; ``iters_per_sec`` its inverse;
``load_ms`` the ``Model loaded in`` time.

Decision, in this order:

1. The runtime's own words of a failure, anywhere: ``Failed to open`` (a
   missing file: upstream aborts, exit 134; not cpuinfo's ``Failed to open
   midr file``, which every x86 run logs) is ``model_not_found``;
   ``Program identifier '...' != expected 'ET12'`` (not a ``.pte``) is
   ``model_format``; ``Missing operator`` / a kernel that is not registered
   is ``missing_ops``; ``ERROR: unknown command line flag`` (or an illegal
   value) is ``bad_arguments``. The message is that line without its prefix.
2. The ``Model executed successfully N time(s)`` line, with exactly ``N``
   ``Iteration i of N`` lines numbered ``1..N``, all finite and >= 0, more
   than ``warmup`` of them, and exit code 0 or unknown: ``ok``.
3. A non-zero exit or a signal with no words: ``crash``. A clean exit with no
   timing line at all: ``unparseable``, naming ``-DEXECUTORCH_ENABLE_LOGGING=ON``
   (a Release build without logging prints nothing); one whose lines do not
   add up: ``unparseable``.

Samples measured before a failure are kept; ``us_per_iter`` is then None.
"""

from __future__ import annotations

import math
import re
import signal

from benchorch.domain import ErrorKind, ParseResult, Status

__all__ = ["LOGCAT_TAG", "NO_LOGGING", "has_timing_lines", "parse_et_output"]

LOGCAT_TAG = "ExecuTorch"
NO_LOGGING = (
    "the runner printed no timing lines: a build without -DEXECUTORCH_ENABLE_LOGGING=ON"
    " prints none (rebuild it with logging on)"
)

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)"
_LOADED = re.compile(r"Model loaded in " + _NUM + r" ms")
_ITER = re.compile(r"Iteration (\d+) of (\d+): " + _NUM + r" ms")
_DONE = re.compile(r"Model executed successfully (\d+) time\(s\) in " + _NUM + r" ms")
# the PAL's prefix ("I 00:00:00.004129 executorch:file.cpp:12] ") or logcat's ("... I ExecuTorch: ")
_PREFIX = re.compile(
    r"^.*?(?:[IWEDF] \d+:\d\d:\d\d\.\d+ executorch:[^\]]*\] |\b[VDIWEF][ /]"
    + LOGCAT_TAG
    + r"\s*(?:\(\s*\d+\))?: )"
)
_ERRORS: tuple[tuple[re.Pattern[str], ErrorKind], ...] = (
    # not cpuinfo's "Failed to open midr file ...", an info line every x86 run prints
    (re.compile(r"Failed to open (?!midr file)"), ErrorKind.MODEL_NOT_FOUND),
    (re.compile(r"Program identifier '.*' != expected"), ErrorKind.MODEL_FORMAT),
    (re.compile(r"Missing operator|kernel .*not found|Kernel not found"), ErrorKind.MISSING_OPS),
    (
        re.compile(r"ERROR: (?:unknown command line flag|illegal value|flag '.*' is missing)"),
        ErrorKind.BAD_ARGUMENTS,
    ),
)


def _strip(line: str) -> str:
    return _PREFIX.sub("", line.rstrip("\r"), count=1).strip()


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def has_timing_lines(text: str) -> bool:
    """Whether ``text`` holds any of the runner's timing lines (the sweep's logcat fallback)."""
    return bool(_LOADED.search(text) or _ITER.search(text) or _DONE.search(text))


def _failure(lines: list[str]) -> tuple[ErrorKind, str] | None:
    for raw in lines:
        for pattern, kind in _ERRORS:
            if pattern.search(raw):
                return kind, _strip(raw)
    return None


def parse_et_output(
    stdout: str,
    stderr: str = "",
    exit_code: int | None = None,
    *,
    warmup: int = 0,
    load: bool = False,
) -> ParseResult:
    """Parse an ExecuTorch runner's output (stdout+stderr, or logcat) into a ``ParseResult``.

    ``warmup``: how many leading executions were warm-up (dropped). ``load``:
    a load launch, whose result is the load time alone.
    """
    lines = (stdout + "\n" + stderr).splitlines()
    load_ms: float | None = None
    iterations: dict[int, float] = {}
    declared: set[int] = set()
    done: tuple[int, float] | None = None
    for raw in lines:
        if m := _LOADED.search(raw):
            load_ms = _number(m.group(1))
        elif m := _ITER.search(raw):
            iterations[int(m.group(1))] = _number(m.group(3))
            declared.add(int(m.group(2)))
        elif m := _DONE.search(raw):
            done = (int(m.group(1)), _number(m.group(2)))
    kept = tuple(
        ms * 1000.0 for i, ms in sorted(iterations.items()) if i > warmup and math.isfinite(ms)
    )
    failure = _failure(lines)
    if failure is not None:
        kind, message = failure
        return ParseResult(Status.FAILED, samples_us=kept, error_kind=kind, message=message)
    clean = exit_code in (0, None)
    if load and clean and load_ms is not None and math.isfinite(load_ms) and load_ms >= 0:
        return ParseResult(Status.OK, load_ms=load_ms)
    if done is None or not clean:
        if not clean:
            return ParseResult(
                Status.FAILED,
                samples_us=kept,
                error_kind=ErrorKind.CRASH,
                message=_crash_message(exit_code),
                load_ms=load_ms,
            )
        if load_ms is None and not iterations:
            return ParseResult(
                Status.UNPARSEABLE, error_kind=ErrorKind.UNPARSEABLE, message=NO_LOGGING
            )
        return ParseResult(
            Status.UNPARSEABLE,
            samples_us=kept,
            error_kind=ErrorKind.UNPARSEABLE,
            message="the output ended before 'Model executed successfully'",
            load_ms=load_ms,
        )
    count, _total = done
    numbered = sorted(iterations) == list(range(1, count + 1)) and declared <= {count}
    values = [iterations[i] for i in sorted(iterations)]
    if not numbered or not all(math.isfinite(v) and v >= 0 for v in values):
        return ParseResult(
            Status.UNPARSEABLE,
            samples_us=kept,
            error_kind=ErrorKind.UNPARSEABLE,
            message=f"{len(iterations)} 'Iteration' line(s) for {count} execution(s)"
            " (a runner older than 1.3 prints none: rebuild executor_runner)",
            load_ms=load_ms,
        )
    if count <= warmup:
        return ParseResult(
            Status.UNPARSEABLE,
            error_kind=ErrorKind.UNPARSEABLE,
            message=f"{count} execution(s), all warm-up ({warmup}): nothing timed",
            load_ms=load_ms,
        )
    mean = sum(kept) / len(kept)
    return ParseResult(
        Status.OK,
        us_per_iter=mean,
        iters_per_sec=1e6 / mean if mean > 0 else None,
        samples_us=kept,
        load_ms=load_ms,
    )


def _crash_message(exit_code: int | None) -> str:
    if exit_code is None:
        return "the runner stopped without a result"
    number = -exit_code if exit_code < 0 else exit_code - 128
    if 0 < number < 64:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the runner was killed by {name} (exit {exit_code})"
    return f"the runner exited {exit_code} without a result"
