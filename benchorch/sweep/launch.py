"""One launch on one device: argv, cooldown, run, parse, classify. No store, no threads.

A *launch* is one process of the benchmark binary (docs/STATISTICS.md). This module
turns a planned launch into the argv the binary takes (docs/FACTS.md's flags), waits
for the device to cool, runs it with a timeout, and classifies the outcome into
a ``LaunchOutcome`` that the executor stores as it is.

Load-time launches (``kind == "load"``) run with ``--iter=0`` inside a tiny
``sh`` wrapper that reads the device's clock before and after, so the load time
is measured on the device and not polluted by adb round-trips::

    sh -c 'a=$(date +%s%N); "$@"; r=$?; b=$(date +%s%N);
           echo "BENCHORCH_CLOCK_NS=$a $b" >&2; exit $r' sh BINARY --model=...

The difference is taken on the host: the phone's mksh does 32-bit arithmetic.

The device facts say once per phone which clock it has (``LoadClock``): a
phone whose ``date`` knows no ``%N`` is timed by ``/proc/uptime`` (10 ms
resolution) instead; the report shows the clock with the phone's facts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from benchorch.devices.base import Device, FoldsHealth
from benchorch.domain import (
    DeviceInfo,
    ErrorKind,
    Health,
    LoadClock,
    ParseResult,
    ShellResult,
    Status,
)
from benchorch.errors import DeviceError, DeviceNotFound, DeviceTimeout, DeviceUnreachable
from benchorch.etparse import parse_et_output
from benchorch.parse import parse_output
from benchorch.sweep.plan import LaunchSpec

LOAD_WRAPPER = (
    'a=$(date +%s%N); "$@"; r=$?; b=$(date +%s%N); echo "BENCHORCH_CLOCK_NS=$a $b" >&2; exit $r'
)
#: For a phone whose ``date`` knows no ``%N``: ``/proc/uptime``, seconds in hundredths.
UPTIME_WRAPPER = (
    'read a _ </proc/uptime; "$@"; r=$?; read b _ </proc/uptime;'
    ' echo "BENCHORCH_CLOCK_S=$a $b" >&2; exit $r'
)
WRAPPERS = {LoadClock.DATE_NS: LOAD_WRAPPER, LoadClock.UPTIME: UPTIME_WRAPPER}
#: The two readings; the difference is taken here, not by the phone's shell:
#: Android's mksh does 32-bit arithmetic, so ``$((b-a))`` in nanoseconds wraps
#: for a load over 2.147 s.
_CLOCK_RE = re.compile(r"^BENCHORCH_CLOCK_(NS|S)=(\d+(?:\.\d+)?) (\d+(?:\.\d+)?)\s*$", re.MULTILINE)
_WALL_RE = re.compile(r"^BENCHORCH_WALL_NS=(\d+)\s*$", re.MULTILINE)  # a difference, given


def load_time(stderr: str) -> tuple[float | None, str]:
    """The load time the wrapper's clock line gives (seconds; None without one) and
    ``stderr`` without that line."""
    clock = _CLOCK_RE.search(stderr)
    wall = _WALL_RE.search(stderr)
    rest = _WALL_RE.sub("", _CLOCK_RE.sub("", stderr))
    if clock is not None:
        a, b = Decimal(clock.group(2)), Decimal(clock.group(3))
        scale = Decimal(10) ** 9 if clock.group(1) == "NS" else Decimal(1)
        seconds = (b - a) / scale
        return (float(seconds) if seconds >= 0 else None), rest
    if wall is not None:
        return int(wall.group(1)) / 1e9, rest
    return None, rest


def launch_argv(
    binary: Sequence[str], spec: LaunchSpec, model_path: str, clock: LoadClock | None = None
) -> tuple[str, ...]:
    """The command of one launch on the device: the binary and ``spec``'s flags.

    A load launch (``--iter=0``) runs inside the wrapper of the device's
    ``clock`` (``LOAD_WRAPPER`` when not probed) so the device's own clock
    times it.
    """
    argv = (*binary, *spec.benchmark_args(model_path))
    if spec.kind != "load" or spec.executorch:  # an ExecuTorch runner times its own load
        return argv
    return ("sh", "-c", WRAPPERS[clock or LoadClock.DATE_NS], "sh", *argv)


@dataclass(frozen=True)
class LaunchPolicy:
    """How every launch of a sweep runs: its timeout, cooldown and pinning."""

    timeout_s: float
    cooldown_temp_c: float | None
    cooldown_max_wait_s: float
    cpu_mask: int | None = None


@dataclass(frozen=True)
class LaunchOutcome:
    argv: tuple[str, ...]
    parsed: ParseResult
    shell: ShellResult | None
    load_s: float | None
    hot: bool
    health_before: Health | None
    health_after: Health | None
    started_at: float
    finished_at: float
    retryable: bool  # the device dropped: reconnect and run it again
    drops: int = 0  # times the device dropped during this launch and it was run again

    @property
    def ok(self) -> bool:
        return self.parsed.ok


#: A health snapshot younger than this (seconds) stands for the next launch's
#: "before": the previous launch's "after", taken a few milliseconds earlier, is
#: the same state, and a real phone's ``dumpsys battery`` costs tens of ms.
HEALTH_REUSE_S = 1.0


def wait_until_cool(
    device: Device,
    *,
    max_temp_c: float | None,
    max_wait_s: float,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    recent: Health | None = None,
) -> tuple[Health, bool]:
    """Poll ``health()`` until every temperature is under ``max_temp_c``.

    ``recent`` (a snapshot taken less than ``HEALTH_REUSE_S`` ago) is used as
    the first reading instead of asking the device again. Returns the last
    snapshot and whether the device was still hot when the bounded wait ran out
    (such a launch is marked hot, never dropped).
    """
    fresh = recent is not None and 0 <= time.time() - recent.taken_at < HEALTH_REUSE_S
    health = recent if fresh and recent is not None else device.health()
    if max_temp_c is None:
        return health, False
    deadline = time.monotonic() + max_wait_s
    while True:
        temp = health.max_temp_c
        if temp is None or temp <= max_temp_c:
            return health, False
        if time.monotonic() >= deadline:
            return health, True
        sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        health = device.health()


def classify(
    shell: ShellResult, kind: str, et_warmup: int | None = None
) -> tuple[ParseResult, float | None]:
    """Parse a finished command and add what only the execution layer knows.

    ``et_warmup`` (not None): an ExecuTorch runner's launch, parsed by
    ``etparse`` with that many warm-up executions dropped; its load time is its
    own ``Model loaded in``.
    """
    if et_warmup is not None:
        return classify_et(shell, kind, et_warmup)
    stderr = shell.stderr
    load_s: float | None = None
    if kind == "load":
        load_s, stderr = load_time(stderr)
    if shell.timed_out:
        return _failed(ErrorKind.TIMEOUT, "killed on the device after the launch timeout"), None
    if not shell.complete:
        return _failed(ErrorKind.DEVICE_LOST, "the device dropped before the launch ended"), None
    parsed = parse_output(shell.stdout, stderr, shell.exit_code, load=kind == "load")
    if kind == "load" and parsed.ok and load_s is None:
        parsed = _failed(ErrorKind.UNPARSEABLE, "the device clock gave no load time")
    return parsed, load_s


def classify_et(shell: ShellResult, kind: str, warmup: int) -> tuple[ParseResult, float | None]:
    """An ExecuTorch runner's launch (stderr, or the logcat text passed in its place)."""
    if shell.timed_out:
        return _failed(ErrorKind.TIMEOUT, "killed on the device after the launch timeout"), None
    if not shell.complete:
        return _failed(ErrorKind.DEVICE_LOST, "the device dropped before the launch ended"), None
    load = kind == "load"
    parsed = parse_et_output(
        shell.stdout, shell.stderr, shell.exit_code, warmup=0 if load else warmup, load=load
    )
    load_s = parsed.load_ms / 1000.0 if load and parsed.ok and parsed.load_ms else None
    if load and parsed.ok and load_s is None:
        parsed = _failed(ErrorKind.UNPARSEABLE, "the runner printed no 'Model loaded in' time")
    return parsed, load_s


def _failed(kind: ErrorKind, message: str) -> ParseResult:
    return ParseResult(status=Status.FAILED, error_kind=kind, message=message)


def run_launch(
    device: Device,
    argv: Sequence[str],
    kind: str,
    policy: LaunchPolicy,
    *,
    cwd: str | None = None,
    recent_health: Health | None = None,
    et_warmup: int | None = None,
) -> LaunchOutcome:
    """Cool down, run one launch with health before and after it, classify the outcome.

    ``recent_health``: the latest snapshot (the previous launch's after one).
    A cool one lets the launch start at once; a hot one, or none, makes the
    cooldown gate poll ``health()`` (``wait_until_cool``). A device that reads
    its health in the launch's own round trip (``FoldsHealth``: a phone) costs
    one adb service per launch; others take the snapshots around ``run``.

    A device that drops (``DeviceDropped`` or output that ended early) or is
    already gone (``DeviceUnreachable``: offline; ``DeviceNotFound``: no longer
    listed) gives an outcome with ``retryable=True``; the caller reconnects and
    runs it again.
    """
    started = time.time()
    limit = policy.cooldown_temp_c
    folds = isinstance(device, FoldsHealth)
    after: Health | None = None
    try:
        hot = False
        gate = recent_health
        if limit is not None and not _cool(gate, limit):
            gate, hot = wait_until_cool(
                device, max_temp_c=limit, max_wait_s=policy.cooldown_max_wait_s
            )
        if isinstance(device, FoldsHealth):
            run = device.run_with_health(
                argv, timeout=policy.timeout_s, cwd=cwd, cpu_mask=policy.cpu_mask
            )
            shell, before, after = run.shell, run.before, run.after
        else:
            before = gate if _fresh(gate) else device.health()
            shell = device.run(argv, timeout=policy.timeout_s, cwd=cwd, cpu_mask=policy.cpu_mask)
    except (DeviceTimeout, DeviceUnreachable, DeviceNotFound) as exc:
        # A timeout is final. Dropped mid-launch, or already gone before it began
        # (adb says offline, or no longer lists it): the caller reconnects and runs
        # it again, bounded.
        lost = not isinstance(exc, DeviceTimeout)
        parsed = _failed(ErrorKind.DEVICE_LOST if lost else ErrorKind.TIMEOUT, str(exc))
        return LaunchOutcome(
            tuple(argv), parsed, None, None, False, None, None, started, time.time(), retryable=lost
        )
    finished = time.time()
    parsed, load_s = classify(shell, kind, et_warmup)
    retryable = parsed.error_kind is ErrorKind.DEVICE_LOST
    if not folds and not retryable:
        try:
            after = device.health()
        except DeviceError:
            after = None
    if limit is not None and before is not None and not _cool(before, limit):
        hot = True  # the gate's reading was cool, the one taken just before the launch not
    return LaunchOutcome(
        argv=tuple(argv),
        parsed=parsed,
        shell=shell,
        load_s=load_s,
        hot=hot,
        health_before=before,
        health_after=after,
        started_at=started,
        finished_at=finished,
        retryable=retryable,
    )


def facts_reading(info: DeviceInfo) -> Health:
    """The temperatures in a device's facts as a first cooldown reading.

    Its ``taken_at`` is 0 (unknown), so it only ever lets the gate pass or
    poll; it never stands for a launch's stored before-snapshot.
    """
    zones = info.thermal_zones
    hottest = max(zones, key=lambda z: zones[z]) if zones else None
    return Health(
        taken_at=0.0,
        battery_level=info.battery_level,
        battery_temp_c=info.battery_temp_c,
        charging=info.charging,
        hottest_zone=hottest,
        hottest_zone_c=zones[hottest] if hottest is not None else None,
    )


def _cool(health: Health | None, limit: float) -> bool:
    """A snapshot that lets a launch start: every temperature at or under ``limit``."""
    if health is None:
        return False
    temp = health.max_temp_c
    return temp is None or temp <= limit


def _fresh(health: Health | None) -> bool:
    return health is not None and 0 <= time.time() - health.taken_at < HEALTH_REUSE_S
