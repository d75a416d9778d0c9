"""An ExecuTorch runner that logs to logcat (the android PAL): read that launch's lines there.

A runner built with the android preset's PAL prints nothing on stderr; its
lines go to logcat with the tag ``ExecuTorch``. For such a runner (its
provenance says ``pal: android``) the executor clears logcat before each
``.pte`` launch (``adb logcat -c``, so the buffer holds only that launch), and
when the launch's stderr had no timing line reads ``logcat -d -s ExecuTorch:I``
and parses that in its place.
"""

from __future__ import annotations

import dataclasses

from benchorch.devices.base import Device
from benchorch.errors import DeviceError
from benchorch.etparse import LOGCAT_TAG
from benchorch.sweep.launch import LaunchOutcome, classify_et

TIMEOUT_S = 30.0


def clear(device: Device) -> None:
    """Empty the logcat buffer so the next launch's lines are the only ones."""
    try:
        device.run(["logcat", "-c"], timeout=TIMEOUT_S)
    except DeviceError:
        pass  # the launch itself will tell whether the device is there


def reparse(device: Device, outcome: LaunchOutcome, kind: str, warmup: int) -> LaunchOutcome:
    """``outcome`` parsed again from the launch's logcat lines (kept as it is when none)."""
    if outcome.shell is None:
        return outcome
    try:
        dump = device.run(["logcat", "-d", "-s", f"{LOGCAT_TAG}:I"], timeout=TIMEOUT_S)
    except DeviceError:
        return outcome
    shell = dataclasses.replace(outcome.shell, stdout="", stderr=dump.stdout + dump.stderr)
    parsed, load_s = classify_et(shell, kind, warmup)
    if parsed.message is not None and parsed.message == outcome.parsed.message:
        return outcome
    return dataclasses.replace(outcome, parsed=parsed, load_s=load_s)
