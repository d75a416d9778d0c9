"""Parse one launch's output of ``speed_benchmark_torch`` into a ``ParseResult``.

Pure: no I/O. The sweep calls :func:`parse_output` on every launch and
``benchorch parse`` exposes it.

What a successful run prints (``binaries/speed_benchmark_torch.cc``)::

    Starting benchmark.
    Running warmup runs.
    Main runs.
    PyTorchObserver {"type": "NET", "unit": "us", "metric": "latency", "value": "2142"}
    ...                                       (one per iteration, --report_pep=true)
    Main run finished. Microseconds per iter: 3782.25. Iters per second: 264.393

Variants understood:

* ``Milliseconds per iter`` (builds from early 2020) and the iOS TestApp log
  (``Main run finished. Milliseconds per iter: 28.767`` then, on its own line,
  ``Iters per second: : 34.762``): milliseconds are converted to microseconds
  (x 1000).
* C++ stream numbers: 6 significant digits, so ``1.23457e+06``.
* Noise: anything before, between or after the lines (shell prompts, echoed
  command lines, warnings, blank lines), CRLF or CR line ends, indentation and
  line prefixes (logcat ``threadtime``/``brief``, NSLog): the parser searches
  for its markers inside each line.
* ``PyTorchObserver {json}`` lines: keys in any order, ``value`` a string or a
  number, ``unit`` one of ``ns``/``us``/``ms``/``s`` (scaled to us). Only
  ``"type": "NET"`` lines whose ``metric`` is ``latency`` (or absent) are
  samples; other observer lines (operator-level, other metrics, other tools)
  are ignored.

Decision, in this order:

1. The *finished line* is the last ``Main run finished. (Micro|Milli)seconds
   per iter: X`` in stdout+stderr, with ``Iters per second: Y`` after it (same
   line, or a later line for iOS). Samples are the observer lines between the
   previous finished line (if any) and this one.
2. Found, no uncaught exception after it, both numbers finite and positive,
   ``X * Y`` (in us x 1/s) within a factor of 2 of 1e6 (the two are the
   same quantity printed twice, so a placeholder or a unit mix-up shows
   here), every sample finite and >= 0, and
   ``exit_code`` 0 or unknown (``None``): ``ok``.
   A *load launch* (``--iter=0``, ``LOAD_ITERS``: the model is loaded and
   nothing is timed; the sweep times it on the device's clock) divides by zero:
   it prints ``inf`` per iter (micros / 0) and ``0`` iters per second, or
   ``nan`` for both when the timer read 0. Told it is one (``load=True``), the
   parser takes any finished line of a clean run as ``ok`` with
   ``us_per_iter=None``, ``iters_per_sec`` 0.0 when printed as 0 (else None)
   and no samples. Not told (``benchorch parse`` of a file), the ``inf``/``0``
   form with no samples is recognised as one.
3. Found but the numbers are placeholders or garbage: ``unparseable`` with
   ``error_kind=unparseable``.
4. Otherwise (no finished line, or a non-zero exit after it) the run failed: the
   reason is classified from the runtime's own words (the uncaught exception's
   ``what()``, a flag parser's complaint, a shell's refusal) into an
   ``ErrorKind``; ``message`` is that one line, without C++ stack frames,
   ``Exception raised from ...`` lines or TorchScript tracebacks. With no words
   to go on, a non-zero exit or a signal is a ``crash``; a clean or unknown
   exit without a finished line is ``unparseable`` (the output ended early).

A run that never printed its finished line is never ``ok``. Samples parsed
before a failure are kept in the result (what was measured is not thrown
away); ``us_per_iter`` is then ``None``.
"""

from __future__ import annotations

import json
import math
import re
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from benchorch.domain import ErrorKind, ParseResult, Status

__all__ = ["LOAD_ITERS", "parse_output"]

#: A load launch's ``--iter``: the binary loads the model and times nothing.
LOAD_ITERS = 0

# A C++ ``operator<<`` / printf number, or inf/nan which must be caught as garbage.
_NUMBER = re.compile(
    r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf(?:inity)?|nan)", re.I
)

_FINISHED = re.compile(
    r"Main run finished\.\s*(?P<unit>Micro|Milli)seconds per iter:[ \t]*(?P<per>\S*)", re.I
)
_IPS = re.compile(r"Iters per second:[ \t]*(?::[ \t]*)?(?P<ips>\S*)", re.I)
_OBSERVER = re.compile(r"PyTorchObserver\s*(?P<json>\{.*)$")  # to the end: a cut line is garbage

# Line prefixes stripped before looking at a line: logcat -v threadtime, logcat -v
# brief, NSLog, and a shell's or a runner's indentation.
_PREFIXES = (
    re.compile(r"^\s*\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEFAS]\s+[^:]*?\s*:\s?"),
    re.compile(r"^\s*[VDIWEFAS]/[^(:]*\(\s*\d+\):\s?"),
    re.compile(r"^\s*\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[.:]\d+(?:[+-]\d{4})?\s+\S+\[\d+:\w+\]\s"),
)

_UNIT_SCALE_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}

# --- failure classification --------------------------------------------------

# An uncaught C++ exception, as glibc's and the NDK's libc++abi (old and new) say it.
_GLIBC_THROW = re.compile(r"terminate called after throwing an instance of '(?P<type>[^']+)'")
_WHAT = re.compile(r"^\s*what\(\):\s*(?P<msg>.*)$")
_LIBCXX_THROW = re.compile(
    r"(?:terminating with|terminating due to) uncaught exception of type (?P<type>[\w:<>]+)"
    r"(?::\s*(?P<msg>.*))?$"
)
_PY_TRACEBACK = "Traceback (most recent call last):"
_PY_ERROR = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)):\s*(?P<msg>.*)$")
_TS_INTERPRETER = "The following operation failed in the TorchScript interpreter"

#: (kind, pattern) in priority order; matched against the exception message first,
#: then against every output line.
_RULES: tuple[tuple[ErrorKind, re.Pattern[str]], ...] = (
    (
        ErrorKind.NOT_EXECUTABLE,
        re.compile(
            r"can't execute|cannot execute|Exec format error|not executable"
            r"|(?:^|\s)\S*sh: (?:\d+: )?\S+: (?:Permission denied|inaccessible or not found"
            r"|not found$)"
            r"|^\S+: Permission denied$",
            re.I,
        ),
    ),
    (
        ErrorKind.BYTECODE_VERSION,
        re.compile(
            r"Lite Interpreter version number does not match|model version must be between", re.I
        ),
    ),
    (
        ErrorKind.MISSING_OPS,
        re.compile(
            r"Following ops cannot be found|Unknown builtin op"
            r"|Could not run '[\w:.]+' with arguments from the",
            re.I,
        ),
    ),
    (
        ErrorKind.MODEL_NOT_FOUND,
        re.compile(
            r"open file failed|No such file or directory.*file path|file path:.*No such file", re.I
        ),
    ),
    (
        ErrorKind.MODEL_FORMAT,
        re.compile(
            r"PytorchStreamReader failed|bytecode\.pkl|not a ZIP archive"
            r"|failed finding central directory|is not a valid flatbuffer"
            r"|Flatbuffer input file but the build hasn't enabled flatbuffer",
            re.I,
        ),
    ),
    (
        ErrorKind.BAD_ARGUMENTS,
        re.compile(
            r"C10 flag:|unknown command line flag|Failed to parse command line flags"
            r"|should have the same number of items|Unsupported input type"
            r"|Unsupported input memory format"
            r"|memory format only available on 4D tensors|should be non negative"
            r"|must be specified|bundled inputs"
            r"|^std::(?:invalid_argument|out_of_range): sto[a-z]+$",
            re.I,
        ),
    ),
)

# Lines that end a C++ exception message: stack frames, source locations, blank.
_TRAILER = re.compile(r"^\s*(?:Exception raised from |frame #\d+|Debug info for handle|$)")


@dataclass(frozen=True)
class _Finished:
    index: int  # line index of the finished line
    per_iter: str
    per_iter_unit_us: float  # 1.0 micro, 1000.0 milli
    ips: str | None


def _clean_lines(stdout: str, stderr: str) -> list[str]:
    """stdout then stderr, split on any line end, prefixes and outer blanks removed."""
    lines: list[str] = []
    for text in (stdout, stderr):
        for raw in text.splitlines():
            line = raw
            for prefix in _PREFIXES:
                line = prefix.sub("", line, count=1)
            lines.append(line.strip())
    return lines


def _number(token: str | None) -> float | None:
    """A finite or non-finite float from a printed token, else None (a placeholder)."""
    if token is None:
        return None
    token = token.rstrip(".,;")  # "3782.25." before ". Iters per second"
    match = _NUMBER.fullmatch(token)
    if match is None:
        return None
    return float(token)


def _find_finished(lines: Sequence[str]) -> tuple[_Finished | None, int]:
    """The last finished line and the index of the one before it (or -1)."""
    hits = [i for i, line in enumerate(lines) if _FINISHED.search(line)]
    if not hits:
        return None, -1
    index = hits[-1]
    previous = hits[-2] if len(hits) > 1 else -1
    match = _FINISHED.search(lines[index])
    assert match is not None
    scale = 1000.0 if match["unit"].lower() == "milli" else 1.0
    ips: str | None = None
    for offset, line in enumerate(lines[index:]):
        ips_match = _IPS.search(line, match.end() if offset == 0 else 0)
        if ips_match is not None:
            ips = ips_match["ips"]
            break
    return _Finished(index, match["per"], scale, ips), previous


def _samples(lines: Iterable[str]) -> tuple[tuple[float, ...], str | None]:
    """Per-iteration latencies in us from NET latency observer lines, or a garbage note."""
    samples: list[float] = []
    for line in lines:
        match = _OBSERVER.search(line)
        if match is None:
            continue
        try:
            obj = json.loads(match["json"])
        except json.JSONDecodeError:
            return tuple(samples), f"malformed PyTorchObserver line: {line[:120]}"
        if not isinstance(obj, dict) or obj.get("type") != "NET":
            continue
        if obj.get("metric", "latency") != "latency":
            continue
        unit = str(obj.get("unit", "us")).lower()
        value = obj.get("value")
        number = _number(str(value)) if isinstance(value, str | int | float) else None
        if unit not in _UNIT_SCALE_US or number is None or not math.isfinite(number) or number < 0:
            return tuple(samples), f"garbage in PyTorchObserver line: {line[:120]}"
        samples.append(number * _UNIT_SCALE_US[unit])
    return tuple(samples), None


def _exception_message(lines: Sequence[str]) -> str | None:
    """The runtime's own one-line reason for an uncaught exception, if one was thrown."""
    for i, line in enumerate(lines):
        glibc = _GLIBC_THROW.search(line)
        if glibc is not None:
            for follow in lines[i + 1 : i + 4]:
                what = _WHAT.match(follow)
                if what is not None:
                    return _exception_text(glibc["type"], what["msg"], lines[i + 2 :])
            return f"uncaught exception of type {glibc['type']}"
        libcxx = _LIBCXX_THROW.search(line)
        if libcxx is not None:
            if libcxx["msg"]:
                return _exception_text(libcxx["type"], libcxx["msg"], lines[i + 1 :])
            return f"uncaught exception of type {libcxx['type']}"
        if line == _PY_TRACEBACK:
            for follow in lines[i + 1 :]:
                py = _PY_ERROR.match(follow)
                if py is not None:
                    return f"{py['type']}: {py['msg']}".rstrip(": ")
    return None


def _exception_text(exc_type: str, message: str, rest: Sequence[str]) -> str:
    """Trim c10's decorations; a TorchScript traceback yields its final error line."""
    message = re.sub(r"\s*\(\)\s*$", "", message.strip())  # c10's empty context "()"
    if message.startswith(_TS_INTERPRETER):
        for follow in rest:
            py = _PY_ERROR.match(follow)
            if py is not None:
                return f"{py['type']}: {py['msg']}"
        return message
    if not message:
        for follow in rest:
            if _TRAILER.match(follow):
                break
            return follow
    if not exc_type.startswith("c10::") and not exc_type.startswith("torch::"):
        return f"{exc_type}: {message}"
    return message


def _classify(lines: Sequence[str], exception: str | None) -> tuple[ErrorKind, str] | None:
    """The first rule matching the exception's message (else a crash), or any line."""
    if exception is not None:
        for kind, pattern in _RULES:
            if pattern.search(exception):
                return kind, exception
        return ErrorKind.CRASH, exception
    for kind, pattern in _RULES:
        for line in lines:
            if pattern.search(line):
                return kind, line
    return None


def _signal_note(exit_code: int | None) -> str | None:
    """'killed by signal 11 (SIGSEGV)' for a negative (Python) or > 128 (shell) status."""
    if exit_code is None:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    if number <= 0:
        return None
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return f"killed by signal {number} ({name})"


def _failure(
    lines: Sequence[str], exit_code: int | None, samples: tuple[float, ...], *, after_finish: bool
) -> ParseResult:
    found = _classify(lines, _exception_message(lines))
    if found is not None:
        kind, message = found
        return ParseResult(Status.FAILED, samples_us=samples, error_kind=kind, message=message)
    where = "after" if after_finish else "before"
    note = _signal_note(exit_code)
    if note is not None:
        message = f"{note} {where} 'Main run finished'"
    elif exit_code not in (None, 0):
        message = f"exited with status {exit_code} {where} 'Main run finished'"
    else:
        return ParseResult(
            Status.UNPARSEABLE,
            samples_us=samples,
            error_kind=ErrorKind.UNPARSEABLE,
            message="no 'Main run finished' line (the output ended early or is not a benchmark's)",
        )
    for line in reversed(lines):  # a crash without words: the last thing it said helps
        if re.search(
            r"Segmentation fault|Aborted|Killed|Fatal signal|Bus error|Illegal instruction", line
        ):
            message = line
            break
    return ParseResult(
        Status.FAILED, samples_us=samples, error_kind=ErrorKind.CRASH, message=message
    )


def _garbage(note: str, samples: tuple[float, ...] = ()) -> ParseResult:
    return ParseResult(
        Status.UNPARSEABLE, samples_us=samples, error_kind=ErrorKind.UNPARSEABLE, message=note
    )


def parse_output(
    stdout: str, stderr: str = "", exit_code: int | None = None, *, load: bool = False
) -> ParseResult:
    """Parse one launch's output; see the module docstring for the rules.

    ``exit_code`` is the process's status when known (``None`` for a captured
    file): negative for a signal (Python's convention), > 128 for a signal seen
    through a shell (adb). ``load``: the launch ran with ``--iter=0``
    (``LOAD_ITERS``). Never raises on any input.
    """
    lines = _clean_lines(stdout, stderr)
    finished, previous = _find_finished(lines)
    if finished is None:
        samples, _ = _samples(lines)
        return _failure(lines, exit_code, samples, after_finish=False)

    samples, sample_note = _samples(lines[previous + 1 : finished.index])
    if exit_code not in (None, 0) or _exception_message(lines[finished.index + 1 :]):
        return _failure(lines, exit_code, samples, after_finish=True)

    per = _number(finished.per_iter)
    ips = _number(finished.ips)
    shown = lines[finished.index]
    if load:  # --iter=0: micros / 0 and 0 / micros. The model loaded; nothing was timed.
        return ParseResult(Status.OK, us_per_iter=None, iters_per_sec=0.0 if ips == 0 else None)
    if per is None or ips is None:
        return _garbage(f"no number where one belongs: {shown}", samples)
    if ips == 0 and per == math.inf and not samples:  # the same, unannounced
        return ParseResult(Status.OK, us_per_iter=None, iters_per_sec=0.0)
    if not (math.isfinite(per) and math.isfinite(ips) and per > 0 and ips > 0):
        return _garbage(f"non-finite or non-positive number: {shown}", samples)
    us_per_iter = per * finished.per_iter_unit_us
    ratio = us_per_iter * ips / 1e6
    if not 0.5 <= ratio <= 2.0:
        return _garbage(
            f"per-iter time and iters per second disagree ({us_per_iter:g} us, {ips:g}/s): {shown}",
            samples,
        )
    if sample_note is not None:
        return _garbage(sample_note, samples)
    return ParseResult(Status.OK, us_per_iter=us_per_iter, iters_per_sec=ips, samples_us=samples)
