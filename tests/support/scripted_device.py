"""A scripted, in-memory ``Device`` for unit tests of the sweep executor.

A fake, and said so: it stands for a phone (what cannot be had here) so the
executor's decisions (retry, reconnect, time out, give up, stop on Ctrl-C) can be
tested in milliseconds, each one on purpose instead of through timing faults. The
virtual-phone sweeps in ``tests/sweep/`` stay the integration layer.

Each call of ``run`` takes the next *action* of the device's script (the default
action once the script is used up) and does what it says:

* ``Succeed()``: the launch prints what ``speed_benchmark_torch`` prints (one
  observer line per ``--iter``, then the finished line; a load launch's wrapper
  adds its ``BENCHORCH_WALL_NS`` line) and exits 0;
* ``Drop()``: the connection breaks mid-launch: half the output and
  ``complete=False`` (or ``DeviceDropped`` with ``partial=False``); the device is
  offline until ``reconnect``;
* ``Vanish()``: like ``Drop`` but the device never comes back (``reconnect``
  raises ``DeviceUnreachable`` for good);
* ``GoOffline()``: the launch succeeds, then the device drops *between* launches:
  the next call of any method raises ``DeviceUnreachable`` until ``reconnect``;
* ``Hang()``: the launch never returns on its own: the double waits the launch's
  timeout and reports what a real device reports then (killed, ``timed_out``);
* ``Call(fn)``: runs ``fn(argv)`` on the worker's thread (to signal the test, send
  a SIGINT, wait for an event) and then does the action it returns.

Pushes take the next entry of ``push_script`` (``None`` for a normal push, or an
exception to raise). Every call is recorded (``calls``, ``run_argvs``,
``reconnects``) so tests assert what the executor asked, not only what it stored.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchorch.domain import CpuCluster, DeviceInfo, Health, PushResult, ShellResult
from benchorch.errors import DeviceDropped, DeviceUnreachable
from benchorch.sweep.launch import LOAD_WRAPPER


@dataclass(frozen=True)
class Succeed:
    us_per_iter: float = 1000.0


@dataclass(frozen=True)
class Drop:
    partial: bool = True  # False: nothing could be read, ``run`` raises DeviceDropped


@dataclass(frozen=True)
class Vanish:
    pass


@dataclass(frozen=True)
class GoOffline:
    us_per_iter: float = 1000.0


@dataclass(frozen=True)
class Hang:
    pass


@dataclass(frozen=True)
class Call:
    fn: Callable[[tuple[str, ...]], Action]


Action = Succeed | Drop | Vanish | GoOffline | Hang | Call


def benchmark_output(argv: Sequence[str], us_per_iter: float) -> tuple[str, str]:
    """stdout and stderr of a successful ``speed_benchmark_torch`` launch of ``argv``."""
    iters = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--iter=")), 10)
    lines = ["Starting benchmark.", "Running warmup runs.", "Main runs."]
    lines += [
        'PyTorchObserver {"type": "NET", "unit": "us", "metric": "latency", '
        f'"value": "{us_per_iter:g}"}}'
        for _ in range(iters)
    ]
    if iters:
        lines.append(
            f"Main run finished. Microseconds per iter: {us_per_iter:g}. "
            f"Iters per second: {1e6 / us_per_iter:g}"
        )
    else:
        lines.append("Main run finished. Microseconds per iter: inf. Iters per second: 0")
    stderr = ""
    if LOAD_WRAPPER in argv:  # the device clock's reading of a load launch
        stderr = "BENCHORCH_WALL_NS=12500000\n"
    return "\n".join(lines) + "\n", stderr


@dataclass
class ScriptedDevice:
    """A ``Device`` (``benchorch.devices.base``) whose behaviour is a script."""

    serial: str
    script: list[Action] = field(default_factory=list)
    default: Action = field(default_factory=Succeed)
    push_script: list[Exception | None] = field(default_factory=list)
    cpus: int = 8
    battery_level: int = 90
    charging: bool = True
    workdir: str = "/data/local/tmp/benchorch"
    # what the executor did
    calls: list[str] = field(default_factory=list)
    run_argvs: list[tuple[str, ...]] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    reconnects: int = 0
    closed: bool = False
    online: bool = True
    gone_for_good: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # --- the script ----------------------------------------------------------------

    def _record(self, call: str) -> None:
        with self._lock:
            self.calls.append(call)

    def _check_online(self) -> None:
        if not self.online:
            raise DeviceUnreachable("offline (scripted)", serial=self.serial)

    def _next(self) -> Action:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    # --- the Device protocol ---------------------------------------------------------

    def info(self) -> DeviceInfo:
        self._record("info")
        self._check_online()
        half = self.cpus // 2
        return DeviceInfo(
            serial=self.serial,
            state="device",
            model="Scripted",
            abis=("arm64-v8a",),
            clusters=(
                CpuCluster("little", tuple(range(half)), 1_800_000),
                CpuCluster("big", tuple(range(half, self.cpus)), 2_800_000),
            ),
            battery_level=self.battery_level,
            charging=self.charging,
        )

    def health(self) -> Health:
        self._record("health")
        self._check_online()
        return Health(
            taken_at=time.time(),
            battery_level=self.battery_level,
            battery_temp_c=30.0,
            charging=self.charging,
            online_cpus=tuple(range(self.cpus)),
        )

    def push(self, local: Path, name: str, *, executable: bool = False) -> PushResult:
        self._record(f"push {name}")
        self._check_online()
        with self._lock:
            failure = self.push_script.pop(0) if self.push_script else None
        if failure is not None:
            if isinstance(failure, DeviceUnreachable):
                self.online = False
            raise failure
        data = local.read_bytes()
        with self._lock:
            self.pushed.append(name)
        return PushResult(
            remote_path=f"{self.workdir}/{name}",
            size_bytes=len(data),
            bytes_sent=len(data),
            skipped=False,
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        cpu_mask: int | None = None,
    ) -> ShellResult:
        args = tuple(argv)
        self._record("run")
        with self._lock:
            self.run_argvs.append(args)
        self._check_online()
        action = self._next()
        while isinstance(action, Call):
            action = action.fn(args)
        started = time.monotonic()
        if isinstance(action, Succeed | GoOffline):
            stdout, stderr = benchmark_output(args, action.us_per_iter)
            if isinstance(action, GoOffline):
                self.online = False
            return ShellResult(args, 0, stdout, stderr, time.monotonic() - started)
        if isinstance(action, Hang):
            time.sleep(timeout)  # the tests give launches a timeout of milliseconds
            return ShellResult(args, None, "Starting benchmark.\n", "", timeout, timed_out=True)
        # Drop or Vanish: the connection broke in the middle of the launch
        self.online = False
        if isinstance(action, Vanish):
            self.gone_for_good = True
        if isinstance(action, Drop) and not action.partial:
            raise DeviceDropped("connection dropped (scripted)", serial=self.serial)
        stdout, _ = benchmark_output(args, 1000.0)
        half = stdout[: len(stdout) // 2]
        return ShellResult(args, None, half, "", time.monotonic() - started, complete=False)

    def reconnect(self, *, within_s: float) -> None:
        self._record("reconnect")
        with self._lock:
            self.reconnects += 1
        if self.gone_for_good:
            raise DeviceUnreachable(
                f"did not come back within {within_s:g} s (scripted)", serial=self.serial
            )
        self.online = True

    def close(self) -> None:
        self._record("close")
        self.closed = True
