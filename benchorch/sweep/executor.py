"""The sweep executor: prepare each device, run its launches, store each one at once.

Flow (docs/ARCHITECTURE.md): resolved inputs (variants manifest + binary provenance)
→ ``plan`` (pure) → one worker thread per device → ``launch.run_launch`` →
``Store.record_launch`` (committed before the next launch starts) → report.

Guarantees:

* Nothing measured is lost: each launch is committed as it finishes; a crash,
  a dropped phone or Ctrl-C leaves every finished launch in the store, and
  ``--resume RUN`` runs only the launch keys that are missing.
* A failed launch is stored with its error kind and the sweep goes on.
* A phone that drops is reconnected and its launch retried (bounded); a phone
  that stays away ends its own part with status ``lost`` while the others go on.
* No phone is used by two sweeps at once (``DeviceLock``, which dies with its
  holder).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from benchorch.devices.base import BoundsStorage, Device
from benchorch.devices.battery import require_battery
from benchorch.devices.cpumask import pin_mask
from benchorch.devices.phonestore import DEFAULT_MAX_PHONE_STORAGE
from benchorch.domain import DeviceInfo, ErrorKind, Flavour, Health
from benchorch.errors import (
    BatteryTooLow,
    BenchorchError,
    DeviceNotFound,
    DeviceStorageFull,
    DeviceUnreachable,
)
from benchorch.store import LaunchRecord, sweep_store
from benchorch.store.location import DbLocation
from benchorch.sweep import logcat
from benchorch.sweep.inputs import Binary
from benchorch.sweep.launch import (
    LaunchOutcome,
    LaunchPolicy,
    facts_reading,
    launch_argv,
    run_launch,
)
from benchorch.sweep.plan import LaunchSpec, Plan

if TYPE_CHECKING:
    from benchorch.store.store import Store

log = logging.getLogger("benchorch.sweep")
_T = TypeVar("_T")

#: Statuses a device's part of a sweep can end with.
DEVICE_OK = "ok"
DEVICE_FAILED = "failed"  # finished, some launches failed
DEVICE_LOST = "lost"  # the device went away and did not come back
DEVICE_REFUSED = "refused"  # not started: battery, ABI, space, lock
DEVICE_INTERRUPTED = "interrupted"
DEVICE_ERROR = "error"  # the worker itself failed (a bug): never counted as a success
DEVICE_SUPERSEDED = "superseded"  # a lab attempt whose phone was handed to a later attempt

#: A lab attempt's fence: True while this attempt still owns the phone (its token is current).
Fence = Callable[[], bool]
#: A lab attempt's write: stores the launch only while the attempt is current, checked in
#: the write's own transaction; False: superseded, nothing stored.
FencedWrite = Callable[["Store", LaunchRecord], bool]
#: A lab attempt's launch command around the planned one (the phone's guard).
Wrap = Callable[[Sequence[str]], Sequence[str]]


@dataclass(frozen=True)
class DeviceWork:
    """One device's share of a sweep: its binary and its launches, in order."""

    device: Device
    info: DeviceInfo
    binary: Binary
    launches: Sequence[LaunchSpec]
    et_binary: Binary | None = None  # the ExecuTorch runner for the .pte launches
    # lab mode: asked before each launch and before its result is stored; False ends
    # the part as superseded, storing nothing more (issue 12's fencing)
    fence: Fence | None = None
    write: FencedWrite | None = None  # lab mode: the fenced write (else ``record_launch``)
    wrap: Wrap | None = None  # lab mode: the guard around each launch (not stored in argv)
    # lab mode: told each launch's outcome once it is stored (the phone's health rules);
    # raising a BenchorchError ends the device's part with that message
    on_launch: Callable[[LaunchOutcome], None] | None = None

    def binary_of(self, spec: LaunchSpec) -> Binary:
        return self.et_binary if spec.executorch and self.et_binary is not None else self.binary


def binary_name(binary: Binary) -> str:
    """The binary's name on the device: content-addressed by its hash."""
    name = "et_runner" if binary.flavour is Flavour.EXECUTORCH else "speed_benchmark_torch"
    return f"{name}-{binary.sha256[:12]}"


def part_files(
    binary: Binary,
    et_binary: Binary | None,
    launches: Sequence[LaunchSpec],
    variant_files: dict[str, Path],
) -> dict[str, int]:
    """What a device's part leaves in its folder: name on the device -> bytes."""
    binaries = [binary]
    if et_binary is not None and any(spec.executorch for spec in launches):
        binaries.append(et_binary)
    files: dict[str, Path] = {}
    for b in binaries:
        if b.local_path is not None:
            files.update({extra.name: extra for extra in b.extra_files})
            files[binary_name(b)] = b.local_path
    files.update({name: variant_files[name] for name in {spec.file for spec in launches}})
    return {name: path.stat().st_size for name, path in files.items()}


@dataclass(frozen=True)
class SweepSettings:
    run_id: str
    launch: LaunchPolicy  # timeout and cooldown; each device adds its CPU mask
    min_battery: int | None
    retries: int  # re-runs of a launch after the device dropped
    reconnect_s: float
    pin: str = "big"  # big | all | none | a hex CPU mask ("0xf0")
    #: bytes benchorch's folder on a phone may hold (``phonestore``); None: no bound
    max_phone_storage: int | None = DEFAULT_MAX_PHONE_STORAGE


@dataclass
class DeviceProgress:
    serial: str
    total: int
    done: int = 0
    failed: int = 0
    current: str = ""
    status: str = "pending"
    message: str = ""
    started_at: float = field(default_factory=time.monotonic)


ProgressFn = Callable[[DeviceProgress], None]


@dataclass
class SweepResult:
    run_id: str
    devices: dict[str, DeviceProgress]
    interrupted: bool = False

    @property
    def launches_failed(self) -> int:
        return sum(p.failed for p in self.devices.values())

    @property
    def lost_devices(self) -> list[str]:
        # Any part that did not end as ok/failed (lost, refused, error, or a worker
        # that never reported an end) makes the run partial, never ok.
        return [s for s, p in self.devices.items() if p.status not in (DEVICE_OK, DEVICE_FAILED)]


class Executor:
    """Runs a plan on several devices in parallel, one worker each."""

    def __init__(
        self,
        *,
        store_path: Path | DbLocation,
        settings: SweepSettings,
        variant_files: dict[str, Path],
        progress: ProgressFn | None = None,
    ) -> None:
        self.store_path = store_path
        self.settings = settings
        self.variant_files = variant_files  # variant file name -> local path
        self.progress = progress or (lambda p: None)
        self.stop = threading.Event()

    # --- one device ------------------------------------------------------------

    def run_device(self, work: DeviceWork, prog: DeviceProgress) -> None:
        try:
            with sweep_store(self.store_path) as store:
                self._run_device(work, prog, store)
        except DeviceUnreachable as exc:
            prog.status, prog.message = DEVICE_LOST, str(exc)
        except (BatteryTooLow, DeviceStorageFull) as exc:
            prog.status, prog.message = DEVICE_REFUSED, str(exc)
        except BenchorchError as exc:
            prog.status, prog.message = DEVICE_REFUSED if prog.done == 0 else DEVICE_LOST, str(exc)
        except Exception as exc:  # a bug must not pass for a clean run: end this part, say why
            log.exception("%s: the sweep worker failed", work.device.serial)
            prog.status, prog.message = DEVICE_ERROR, f"internal error: {exc!r}"
        finally:
            self.progress(prog)

    def _run_device(self, work: DeviceWork, prog: DeviceProgress, store: Store) -> None:
        s = self.settings
        device, info, launches = work.device, work.info, work.launches
        require_battery(device.serial, info.battery_level, info.charging, s.min_battery)
        prog.status, prog.current = "preparing", "pushing binary and models"
        self.progress(prog)
        if s.max_phone_storage is not None and isinstance(device, BoundsStorage):
            needed = part_files(work.binary, work.et_binary, launches, self.variant_files)
            bound = s.max_phone_storage
            self._with_reconnect(device, lambda: device.make_room(needed, bound))
        binary_argv, model_paths = self._with_reconnect(
            device, lambda: self._prepare(device, work.binary, launches)
        )
        et_argv: tuple[str, ...] = ()
        if work.et_binary is not None and any(spec.executorch for spec in launches):
            et_binary = work.et_binary
            et_argv, _ = self._with_reconnect(device, lambda: self._prepare(device, et_binary, []))
        et_logcat = logcat.logs_to_logcat(work.et_binary)
        policy = dataclasses.replace(s.launch, cpu_mask=pin_mask(info, s.pin))
        prog.status = "running"
        last_health: Health | None = facts_reading(info)  # the first launch's cooldown gate
        for spec in launches:
            if self.stop.is_set():
                prog.status = DEVICE_INTERRUPTED
                return
            if self._superseded(work, prog):
                return
            prog.current = (
                f"{spec.file} {spec.dims} t{spec.threads} {spec.kind} #{spec.launch_index}"
            )
            self.progress(prog)
            runner = et_argv if spec.executorch else binary_argv
            argv = launch_argv(runner, spec, model_paths[spec.file], info.load_clock)
            et_warmup = spec.warmup if spec.executorch else None
            run_argv = argv if work.wrap is None else tuple(work.wrap(argv))
            outcome = self._launch_with_retries(
                device, run_argv, spec.kind, policy, last_health, et_warmup, et_logcat
            )
            if run_argv is not argv:
                outcome = dataclasses.replace(outcome, argv=tuple(argv))
            last_health = outcome.health_after
            if self._superseded(work, prog):
                return  # this launch's result belongs to no current attempt: not stored
            record = self._record(work, spec, policy.cpu_mask, outcome)
            if work.write is None:
                store.record_launch(record)
            elif not work.write(store, record):
                self._superseded(work, prog, force=True)
                return
            prog.done += 1
            if not outcome.ok:
                prog.failed += 1
            self.progress(prog)
            if work.on_launch is not None:
                work.on_launch(outcome)
            if outcome.retryable:  # retries exhausted: the device is gone
                raise DeviceUnreachable(
                    "dropped and did not come back after "
                    f"{s.retries} retries; its remaining launches were not run",
                    serial=device.serial,
                    hint="reconnect it and rerun with --resume",
                )
        prog.status = DEVICE_FAILED if prog.failed else DEVICE_OK
        prog.current = ""

    @staticmethod
    def _superseded(work: DeviceWork, prog: DeviceProgress, *, force: bool = False) -> bool:
        if not force and (work.fence is None or work.fence()):
            return False
        prog.status = DEVICE_SUPERSEDED
        prog.message = "a later attempt took the phone over; this attempt stored nothing more"
        prog.current = ""
        return True

    def _with_reconnect(self, device: Device, step: Callable[[], _T]) -> _T:
        """``step`` (a preparation: pushes, making room); a phone that drops during it
        is reconnected and the step run again (pushes already there are skipped by
        hash), bounded."""
        s = self.settings
        attempts = 0
        while True:
            try:
                return step()
            except (DeviceUnreachable, DeviceNotFound):
                if attempts >= s.retries or self.stop.is_set():
                    raise
                attempts += 1
                log.warning(
                    "%s: dropped while preparing; reconnecting (try %d)", device.serial, attempts
                )
                device.reconnect(within_s=s.reconnect_s)

    def _prepare(
        self, device: Device, binary: Binary, launches: Sequence[LaunchSpec]
    ) -> tuple[tuple[str, ...], dict[str, str]]:
        binary_argv = binary.argv_prefix
        if binary.local_path is not None:
            for extra in binary.extra_files:
                device.push(extra, extra.name)
            pushed = device.push(binary.local_path, binary_name(binary), executable=True)
            binary_argv = (pushed.remote_path, *binary.argv_prefix)
        model_paths: dict[str, str] = {}
        for name in sorted({spec.file for spec in launches}):
            pushed = device.push(self.variant_files[name], name)
            model_paths[name] = pushed.remote_path
        return binary_argv, model_paths

    def _launch_with_retries(
        self,
        device: Device,
        argv: Sequence[str],
        kind: str,
        policy: LaunchPolicy,
        recent_health: Health | None = None,
        et_warmup: int | None = None,
        et_logcat: bool = False,
    ) -> LaunchOutcome:
        """Run a launch; a device that dropped is reconnected and the launch run
        again, at most ``retries`` times (the last outcome is returned).

        ``et_logcat``: an ExecuTorch runner that logs to logcat: each attempt
        clears logcat before it and reads its lines from there after it
        (``logcat.py``), so no attempt's lines are taken for another's."""
        s = self.settings
        attempts = 0
        while True:
            cleared = et_warmup is not None and et_logcat and logcat.clear(device)
            outcome = run_launch(
                device,
                argv,
                kind,
                policy,
                cwd=device.workdir,
                recent_health=recent_health,
                et_warmup=et_warmup,
            )
            if et_warmup is not None and et_logcat and not outcome.retryable:
                outcome = logcat.reparse(device, outcome, kind, et_warmup, cleared=cleared)
            if not outcome.retryable or attempts >= s.retries or self.stop.is_set():
                return dataclasses.replace(outcome, drops=attempts) if attempts else outcome
            attempts += 1
            recent_health = None
            log.warning(
                "%s: dropped during a launch; reconnecting (try %d)", device.serial, attempts
            )
            with contextlib.suppress(DeviceUnreachable):
                device.reconnect(within_s=s.reconnect_s)
            self._kill_dropped(device)

    @staticmethod
    def _kill_dropped(device: Device) -> None:
        """The dropped try's process may still run on the phone (a lost connection is
        not a dead process): killed before the launch runs again, or the two would run
        at once and both numbers be wrong."""
        pid = getattr(device, "last_remote_pid", None)
        kill = getattr(device, "kill", None)
        if pid is not None and kill is not None:
            kill(pid)  # never raises: a failed kill is logged

    def _record(
        self, work: DeviceWork, spec: LaunchSpec, cpu_mask: int | None, out: LaunchOutcome
    ) -> LaunchRecord:
        p = out.parsed
        shell = out.shell
        return LaunchRecord(
            run_id=self.settings.run_id,
            launch_key=spec.key_for(work.device.serial),
            device_serial=work.device.serial,
            variant=spec.variant,
            variant_file=spec.file,
            variant_format=str(spec.format),
            variant_sha256=spec.sha256,
            binary_sha256=work.binary_of(spec).sha256,
            dims=spec.dims,
            types=spec.types,
            memory_format=spec.memory_format,
            threads=spec.threads,
            core_mask=cpu_mask,
            kind=spec.kind,
            launch_index=spec.launch_index,
            iters=spec.iters,
            warmup=spec.warmup,
            status=p.status.value,
            error_kind=p.error_kind.value if p.error_kind else None,
            message=p.message,
            us_per_iter=p.us_per_iter,
            iters_per_sec=p.iters_per_sec,
            samples_us=tuple(p.samples_us),
            load_s=out.load_s,
            wall_s=out.finished_at - out.started_at,
            exit_code=shell.exit_code if shell else None,
            timed_out=bool(shell.timed_out) if shell else p.error_kind is ErrorKind.TIMEOUT,
            hot=out.hot,
            health_before=out.health_before.to_dict() if out.health_before else None,
            health_after=out.health_after.to_dict() if out.health_after else None,
            started_at=out.started_at,
            finished_at=out.finished_at,
            argv=out.argv,
            stdout=shell.stdout if shell else "",
            stderr=shell.stderr if shell else "",
        )

    # --- all devices -------------------------------------------------------------

    def run(self, work: Sequence[DeviceWork]) -> SweepResult:
        progs = {w.device.serial: DeviceProgress(w.device.serial, len(w.launches)) for w in work}
        done = [threading.Event() for _ in work]

        def worker(w: DeviceWork, finished: threading.Event) -> None:
            try:
                self.run_device(w, progs[w.device.serial])
            finally:
                finished.set()

        for w, finished in zip(work, done, strict=True):
            threading.Thread(
                target=worker, args=(w, finished), name=f"sweep-{w.device.serial}", daemon=True
            ).start()
        # Waiting on events, not Thread.join: on Python 3.11 a Ctrl-C that lands in
        # join() can mark a running thread as stopped (its tstate lock is released
        # by the interrupted join), so is_alive() lies and the launches in flight
        # would be abandoned instead of stored.
        try:
            _wait_all(done)
        except KeyboardInterrupt:
            # Stop cleanly: each worker finishes (and stores) the launch it is in.
            # A second Ctrl-C stops at once: launches in flight are not stored
            # (--resume runs them again) and the workers die with the process.
            self.stop.set()
            log.warning("interrupted: finishing the launches in flight (Ctrl-C again to stop now)")
            try:
                _wait_all(done)
            except KeyboardInterrupt:
                log.warning("stopped now: the launches in flight are not stored")
            ended = (
                DEVICE_LOST,
                DEVICE_REFUSED,
                DEVICE_OK,
                DEVICE_FAILED,
                DEVICE_ERROR,
                DEVICE_SUPERSEDED,
            )
            for p in progs.values():
                if p.status not in ended:
                    p.status = DEVICE_INTERRUPTED
            return SweepResult(run_id=self.settings.run_id, devices=progs, interrupted=True)
        return SweepResult(run_id=self.settings.run_id, devices=progs)


def _wait_all(events: Sequence[threading.Event]) -> None:
    for event in events:
        while not event.wait(0.2):
            pass


def remaining(plan: Plan, serial: str, done_keys: set[str]) -> list[LaunchSpec]:
    """The launches of ``plan`` on ``serial`` whose keys are not in ``done_keys`` (--resume)."""
    return [spec for spec in plan.launches if spec.key_for(serial) not in done_keys]


def overall_status(result: SweepResult) -> str:
    if result.interrupted:
        return "interrupted"
    if result.lost_devices:
        return "partial"
    return "failed" if result.launches_failed else "ok"
