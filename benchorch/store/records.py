"""What the store keeps about one launch, and how run ids are made.

A ``LaunchRecord`` is one process of the benchmark binary on one device: its
configuration (variant, binary, dims, types, memory format, threads, core mask,
kind), its outcome (status, error kind, numbers, raw per-iteration samples) and
its context (health before and after, exit status, argv, raw output).

Resume rule (``Store.done_launch_keys``): a launch key is *done* when one of its
launches has a final outcome. ``ok`` is final; so is a failure that the
benchmark itself reported (a crash, a missing operator, a timeout, an
unparseable output...): re-running it would fail again, and it is a result the
report must show. A launch whose ``error_kind`` is ``device_lost`` or ``infra``
says nothing about the variant (the phone dropped, a push failed), so resume
runs it again.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from benchorch.domain import ErrorKind

#: Error kinds that are the world's fault, not the launch's: resume retries them.
RETRIED_ERROR_KINDS: frozenset[str] = frozenset(
    {ErrorKind.DEVICE_LOST.value, ErrorKind.INFRA.value}
)

#: Statuses ``finish_run`` accepts.
RUN_STATUSES: frozenset[str] = frozenset({"ok", "failed", "interrupted", "partial"})

LAUNCH_KINDS: frozenset[str] = frozenset({"latency", "load"})


def _text(value: object) -> str | None:
    """Enums become their value; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


@dataclass(frozen=True, kw_only=True)
class LaunchRecord:
    """One launch, as the executor stores it (all fields keyword-only).

    ``status`` and ``error_kind`` accept the ``benchorch.domain`` enums or their
    string values; they are stored as strings. ``samples_us`` are the raw
    per-iteration latencies in microseconds, in the order they were printed.
    ``started_at``/``finished_at`` are unix seconds on the host; ``wall_s`` is
    the host's wall time of the launch; ``load_s`` the load time measured on the
    device (load launches only).
    """

    run_id: str
    launch_key: str
    device_serial: str
    variant: str
    variant_file: str
    variant_format: str
    variant_sha256: str
    binary_sha256: str
    dims: str
    types: str
    memory_format: str
    threads: int
    kind: str
    launch_index: int
    iters: int
    warmup: int
    status: str
    started_at: float
    finished_at: float
    core_mask: int | None = None
    error_kind: str | None = None
    message: str | None = None
    us_per_iter: float | None = None
    iters_per_sec: float | None = None
    samples_us: tuple[float, ...] = ()
    load_s: float | None = None
    wall_s: float | None = None
    exit_code: int | None = None
    timed_out: bool = False
    hot: bool = False
    health_before: dict[str, Any] | None = None
    health_after: dict[str, Any] | None = None
    argv: tuple[str, ...] = ()
    stdout: str = ""
    stderr: str = ""

    def __post_init__(self) -> None:
        status = _text(self.status)
        if not status:
            raise ValueError("LaunchRecord.status must be set")
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "error_kind", _text(self.error_kind))
        kind = _text(self.kind)
        if kind not in LAUNCH_KINDS:
            raise ValueError(
                f"LaunchRecord.kind must be one of {sorted(LAUNCH_KINDS)}, not {kind!r}"
            )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "samples_us", tuple(float(s) for s in self.samples_us))
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))

    @property
    def final(self) -> bool:
        """True when resume must not run this launch again (see the module docstring)."""
        return self.error_kind not in RETRIED_ERROR_KINDS

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


#: Every LaunchRecord field, in declaration order.
LAUNCH_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LaunchRecord))


def new_run_id(now: float | None = None) -> str:
    """A sortable, readable run id: ``YYYYMMDD-HHMMSS-xxxxxxxx`` (UTC, then 8 hex
    digits of a random UUID).

    Ids sort by start time to the second; the suffix separates runs that start
    in the same second on any host (one in 4 billion collides). A collision
    still cannot make two runs share an id: ``Store.create_run`` inserts with
    the id as primary key, atomically on both backends, and draws again when
    the id is taken.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{uuid.uuid4().hex[:8]}"
