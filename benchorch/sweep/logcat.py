"""An ExecuTorch runner that logs to logcat (the android PAL): read that launch's lines there.

A runner built with the android preset's PAL (or benchorch's host runner built
with ``--logcat``) prints nothing on stderr; its lines go to logcat with the
tag ``ExecuTorch``. Which runner does is read from its provenance (``pal``
names logcat: ``logs_to_logcat``). For such a runner the executor clears
logcat before each attempt of a ``.pte`` launch (``adb shell logcat -c``) and,
when the launch's own output holds no timing line and no failure in the
runtime's words, reads ``logcat -d -s ExecuTorch:I`` after it and parses that
in its place. The lines read are kept with the launch (after its stderr).

A launch is never given another launch's lines:

* when ``logcat -c`` failed, the buffer may hold an earlier launch's lines, so
  nothing is read: the launch is stored ``unparseable``, saying why;
* lines of more than one process under the tag (another program logging as
  ``ExecuTorch``, or an attempt that outlived its stream) are refused the same
  way, naming the PIDs.
"""

from __future__ import annotations

import dataclasses
import re

from benchorch.devices.base import Device
from benchorch.domain import ErrorKind, ParseResult, Status
from benchorch.errors import DeviceError
from benchorch.etparse import LOGCAT_TAG, has_timing_lines
from benchorch.sweep.inputs import Binary
from benchorch.sweep.launch import LaunchOutcome, classify_et

TIMEOUT_S = 30.0
DUMP = ("logcat", "-d", "-s", f"{LOGCAT_TAG}:I")
#: the writer's PID in logcat's threadtime ("12-04 16:05:51.123  4242  4243 I ExecuTorch: ")
#: and brief ("I/ExecuTorch( 4242): ") lines
_PIDS = (
    re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+(\d+)\s+\d+ [VDIWEF] " + LOGCAT_TAG + r"\s*:"),
    re.compile(r"^[VDIWEF]/" + LOGCAT_TAG + r"\s*\(\s*(\d+)\):"),
)
#: outcomes whose stderr said nothing in the runtime's words: logcat may say it
_SILENT = (ErrorKind.UNPARSEABLE, ErrorKind.CRASH)


def logs_to_logcat(binary: Binary | None) -> bool:
    """Whether this ExecuTorch runner's provenance says it logs to logcat."""
    return binary is not None and "logcat" in binary.provenance.executorch.get("pal", "")


def clear(device: Device) -> bool:
    """Empty the logcat buffer so the next launch's lines are the only ones; False
    when that did not work (the device will tell, at the launch, whether it is there)."""
    try:
        return device.run(["logcat", "-c"], timeout=TIMEOUT_S).ok
    except DeviceError:
        return False


def pids(dump: str) -> list[int]:
    """The PIDs that logged under the tag, in order of first appearance."""
    found: dict[int, None] = {}
    for line in dump.splitlines():
        for pattern in _PIDS:
            if m := pattern.match(line.strip("\r")):
                found[int(m.group(1))] = None
    return list(found)


def _failed(message: str) -> ParseResult:
    return ParseResult(Status.FAILED, error_kind=ErrorKind.UNPARSEABLE, message=message)


def reparse(
    device: Device, outcome: LaunchOutcome, kind: str, warmup: int, *, cleared: bool
) -> LaunchOutcome:
    """``outcome`` parsed again from this launch's logcat lines (see the module doc)."""
    shell = outcome.shell
    if shell is None or shell.timed_out or not shell.complete:
        return outcome
    if has_timing_lines(shell.stdout + shell.stderr) or outcome.parsed.error_kind not in _SILENT:
        return outcome  # it said what happened on stdout/stderr
    if not cleared:
        return dataclasses.replace(
            outcome,
            parsed=_failed(
                "the runner logs to logcat and `logcat -c` failed before this launch, so its"
                " lines cannot be told from an earlier launch's (is logcat there?)"
            ),
        )
    try:
        dump = device.run(list(DUMP), timeout=TIMEOUT_S)
    except DeviceError as exc:
        return dataclasses.replace(outcome, parsed=_failed(f"logcat could not be read: {exc}"))
    if not dump.ok:
        said = (dump.stderr or dump.stdout).strip().splitlines()
        why = said[0] if said else f"exit {dump.exit_code}"
        return dataclasses.replace(outcome, parsed=_failed(f"logcat could not be read: {why}"))
    text = dump.stdout
    writers = pids(text)
    kept = dataclasses.replace(shell, stderr=shell.stderr + text)
    if len(writers) > 1:
        return dataclasses.replace(
            outcome,
            shell=kept,
            parsed=_failed(
                f"logcat held {LOGCAT_TAG} lines of {len(writers)} processes"
                f" ({', '.join(map(str, writers))}): which are this launch's cannot be told"
            ),
        )
    parsed, load_s = classify_et(
        dataclasses.replace(shell, stderr=text + shell.stderr), kind, warmup
    )
    return dataclasses.replace(outcome, shell=kept, parsed=parsed, load_s=load_s)
