"""Domain records shared by every layer: frozen dataclasses and closed enums.

Nothing here does I/O. Every record has ``to_dict()`` giving plain JSON-able
values (what the store, ``--json`` output and the report consume).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Record:
    """Mixin: ``to_dict()`` for frozen dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        result = _plain(self)
        assert isinstance(result, dict)
        return result


# --- outcomes ------------------------------------------------------------------


class Outcome(StrEnum):
    """What a command's work came to; only the CLI turns it into an exit code
    (``benchorch.exits``). A sweep's values are also its stored run status."""

    OK = "ok"
    FAILED = "failed"  # a launch (or a parsed output) failed
    INTERRUPTED = "interrupted"  # Ctrl-C; ``--resume RUN`` finishes a sweep
    PARTIAL = "partial"  # a device was lost or refused; the others' results are kept
    REGRESSION = "regression"  # compare: a confirmed slowdown, or a newly failing configuration
    NOT_COMPARABLE = "not_comparable"  # compare: no configuration could be paired


# --- parse ---------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNPARSEABLE = "unparseable"


class ErrorKind(StrEnum):
    """Why a launch did not produce a number.

    The first eight come from the benchmark's own output (``parse``); the rest
    from the execution layer (``devices``/``sweep``), which knows things the
    output cannot say.
    """

    MODEL_FORMAT = "model_format"  # full-JIT .pt on a lite binary
    BYTECODE_VERSION = "bytecode_version"
    MISSING_OPS = "missing_ops"
    NOT_EXECUTABLE = "not_executable"
    MODEL_NOT_FOUND = "model_not_found"
    BAD_ARGUMENTS = "bad_arguments"
    CRASH = "crash"
    UNPARSEABLE = "unparseable"
    # execution layer
    TIMEOUT = "timeout"  # killed after --timeout
    DEVICE_LOST = "device_lost"  # the phone dropped and the output ended early
    INFRA = "infra"  # push failed, storage full, ...


@dataclass(frozen=True)
class ParseResult(Record):
    """What one launch's output says. ``to_json_obj`` is ``benchorch parse --json``."""

    status: Status
    us_per_iter: float | None = None
    iters_per_sec: float | None = None
    samples_us: tuple[float, ...] = ()
    error_kind: ErrorKind | None = None
    message: str | None = None
    load_ms: float | None = None  # an ExecuTorch runner's "Model loaded in" (ms)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "status": self.status.value,
            "us_per_iter": self.us_per_iter,
            "iters_per_sec": self.iters_per_sec,
            "samples_us": list(self.samples_us),
            "error_kind": self.error_kind.value if self.error_kind else None,
            "message": self.message,
        }
        if self.load_ms is not None:  # only an ExecuTorch runner prints it
            obj["load_ms"] = self.load_ms
        return obj


# --- devices -------------------------------------------------------------------


@dataclass(frozen=True)
class ShellResult(Record):
    """One command on a device.

    ``complete`` is False when the output did not end properly (the device
    dropped, the stream closed without an exit status): such a result is never
    a success, whatever ``exit_code`` says. ``timed_out`` means the command was
    killed on the device after its timeout.
    """

    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    complete: bool = True

    @property
    def ok(self) -> bool:
        return self.complete and not self.timed_out and self.exit_code == 0


@dataclass(frozen=True)
class PushResult(Record):
    remote_path: str
    size_bytes: int
    bytes_sent: int  # 0 when the file was already there (dedup)
    skipped: bool
    sha256: str


@dataclass(frozen=True)
class CpuCluster(Record):
    name: str  # "big" | "mid" | "little" | "all"
    cpus: tuple[int, ...]
    max_khz: int | None


@dataclass(frozen=True)
class Health(Record):
    """One snapshot taken before and after each launch."""

    taken_at: float  # unix time on the host
    battery_level: int | None = None  # percent
    battery_temp_c: float | None = None
    charging: bool | None = None
    hottest_zone: str | None = None
    hottest_zone_c: float | None = None
    online_cpus: tuple[int, ...] = ()
    cpu_cur_khz: dict[int, int] = field(default_factory=dict)

    @property
    def max_temp_c(self) -> float | None:
        temps = [t for t in (self.battery_temp_c, self.hottest_zone_c) if t is not None]
        return max(temps) if temps else None


class LoadClock(StrEnum):
    """The device clock a load launch (``--iter=0``) is timed by, with its resolution."""

    DATE_NS = "date +%s%N (1 ns)"
    UPTIME = "/proc/uptime (10 ms)"  # for a date that knows no %N (old toolbox)


@dataclass(frozen=True)
class DeviceInfo(Record):
    serial: str
    state: str  # "device", "offline", "unauthorized", "local"
    model: str | None = None
    manufacturer: str | None = None
    soc: str | None = None
    abis: tuple[str, ...] = ()
    android_release: str | None = None
    sdk: int | None = None
    fingerprint: str | None = None
    clusters: tuple[CpuCluster, ...] = ()
    battery_level: int | None = None
    charging: bool | None = None
    battery_temp_c: float | None = None
    thermal_zones: dict[str, float] = field(default_factory=dict)
    free_bytes: int | None = None  # under the benchorch work folder
    rooted: bool | None = None
    load_clock: LoadClock | None = None  # None: not probed (this host: date +%s%N)

    @property
    def big_cpus(self) -> tuple[int, ...]:
        for c in self.clusters:
            if c.name in ("big", "all"):
                return c.cpus
        return ()


# --- variants ------------------------------------------------------------------


class ModelFormat(StrEnum):
    FULL_JIT = "full_jit"  # torch.jit.save .pt
    LITE = "lite"  # _save_for_lite_interpreter .ptl (zip/pickle)
    FLATBUFFER = "flatbuffer"  # _save_for_lite_interpreter(_use_flatbuffer=True)
    EXECUTORCH = "executorch"  # an ExecuTorch program .pte (run by an ExecuTorch runner)


class Flavour(StrEnum):
    """What a benchmark binary can load (speed_benchmark_torch's two builds, or ExecuTorch)."""

    LITE = "lite"  # BUILD_LITE_INTERPRETER=1: .ptl and FlatBuffer only
    FULL_JIT = "full_jit"  # BUILD_LITE_INTERPRETER=0: .pt, .ptl, FlatBuffer
    EXECUTORCH = "executorch"  # an ExecuTorch runner (executor_runner's flags): .pte only
