"""``run_sweep``: the plain callable behind ``benchorch sweep``.

Order of work, each step able to fail before anything is measured:

1. settings: ``sweep.toml`` validated fully, flags override it, the report
   folder writable, all before the results store is opened (``--resume``
   takes the stored settings of that run instead, and refuses other settings);
   the store then opens in a thread (``storeopen``) while step 2 runs;
2. inputs: variants (export or ``--variants``), devices (open, lock, facts),
   one binary per device (host runner, ``--binary`` or ``--build-from``);
3. plan per device (pure), skips stored with their reasons;
4. execute (``sweep.Executor``), every launch stored as it ends;
5. report, and the outcome that says whether every launch succeeded
   (``Outcome``: the CLI maps it to the exit code).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch import kept
from benchorch.abi import host_abi
from benchorch.devices import open_device
from benchorch.devices.base import BoundsStorage, Device
from benchorch.devices.lock import DeviceLock
from benchorch.devices.phonestore import check_fits
from benchorch.domain import DeviceInfo, ModelFormat, Outcome
from benchorch.errors import (
    BenchorchError,
    OutputNotWritable,
    RunNotFound,
    StoreUnavailable,
    UsageError,
)
from benchorch.paths import cache_root
from benchorch.store import sweep_store
from benchorch.store.location import DbLocation
from benchorch.sweep.emptyplan import (
    DeviceBinary,
    NothingToRun,
    device_note,
    loadable,
    nothing_to_run,
    recipe_mismatches,
)
from benchorch.sweep.executor import (
    DeviceProgress,
    DeviceWork,
    Executor,
    SweepSettings,
    overall_status,
    part_files,
    remaining,
)
from benchorch.sweep.inputs import Binary, check_abi, local_binary, resolve_variants
from benchorch.sweep.launch import LaunchPolicy
from benchorch.sweep.plan import make_plan, plan_variants
from benchorch.sweep.prewarm import ReportWarmup
from benchorch.sweep.prewarm import prewarm_report as prewarm_report  # the lab's sweep
from benchorch.sweep.progress import ProgressDisplay
from benchorch.sweep.settings import (
    RESUME_FLAGS,
    SweepConfig,
    given,
    load_toml,
    merge,
    refuse_with_resume,
)
from benchorch.sweep.storeopen import StoreOpening
from benchorch.variants.manifest import Manifest
from benchorch.variants.steps import recipe_formats

if TYPE_CHECKING:
    from benchorch.store.store import Store

log = logging.getLogger("benchorch.sweep")

#: A device's status when its plan is empty while another device's is not.
DEVICE_NOTHING = "nothing to run"


@dataclass
class SweepSummary:
    run_id: str | None
    status: Outcome  # ok, failed, interrupted or partial; also the stored run status
    report_path: Path | None = None
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: int = 0
    report_error: str | None = None
    nothing_left: bool = False  # --resume of a run whose every launch is stored
    spooled: int = 0  # launches that waited in the local spool (the database was away)
    replayed: int = 0  # of those, written to the database since

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "report": str(self.report_path) if self.report_path else None,
            "devices": self.devices,
            "skipped": self.skipped,
            "report_error": self.report_error,
            "nothing_left": self.nothing_left,
            "spooled": self.spooled,
            "replayed": self.replayed,
        }

    def lines(self) -> list[str]:
        out = [f"run {self.run_id}: {self.status}"]
        if self.nothing_left:
            out.append("  nothing left to run: every planned launch is stored")
        if self.spooled:
            out.append(
                f"  {self.spooled} launches waited in the local spool while the database was"
                f" away; {self.replayed} replayed"
            )
        for serial, d in self.devices.items():
            msg = f" ({d['message']})" if d.get("message") else ""
            out.append(
                f"  {serial}: {d['status']}, {d['done']}/{d['total']} launches, "
                f"{d['failed']} failed{msg}"
            )
        if self.skipped:
            out.append(
                f"  {self.skipped} planned launches skipped as incompatible (see the report)"
            )
        if self.report_error:
            out.append(f"  report not written: {self.report_error}")
        if self.run_id and self.status in (Outcome.INTERRUPTED, Outcome.PARTIAL):
            out.append(f"  finish it with: benchorch sweep --resume {self.run_id}")
        return out


@dataclass(frozen=True)
class SweepHooks:
    """What a caller driving sweeps (the nightly) may add to one.

    ``on_run(run_id, planned)``: called once the run exists, with the launches
    planned per device (the whole plan, also on ``--resume``);
    ``stop_at``: unix time after which no launch starts (the ones running end
    and are stored; the rest are not run, and the run ends ``partial``).
    """

    on_run: Callable[[str, Mapping[str, int]], None] | None = None
    stop_at: float | None = None


def _resumed(
    store: Store, resume_run: str, flags: dict[str, Any], flag_names: dict[str, str]
) -> tuple[SweepConfig, dict[str, Any], str]:
    """``--resume``: the run's stored settings (and their raw values) and the
    status the run had; ``--adb`` still says where the adb server is."""
    prior = str(store.run(resume_run).get("status"))
    stored = store.resume_run(resume_run)
    values = dict(stored.get("params", {}).get("settings", {}))
    still = {name: flags.get(name) for name in RESUME_FLAGS}
    return merge(values, still, flag_names=flag_names), values, prior


def _binary_for(cfg: SweepConfig, info: DeviceInfo, cache: dict[str, Binary]) -> Binary:
    """The benchmark binary for one device: registered, built for its ABI, or the host runner."""
    if cfg.binary is not None:
        if "registered" not in cache:
            from benchorch.build.provenance import register_binary

            cache["registered"] = Binary.from_provenance(register_binary(Path(cfg.binary)))
        return cache["registered"]
    if cfg.build_from is not None:
        return _built_binary(Path(cfg.build_from), info, cache)
    if info.serial == "local":
        if "local" not in cache:
            cache["local"] = local_binary(cfg.runner)
        return cache["local"]
    raise UsageError(
        f"{info.serial}: no benchmark binary for this phone",
        hint="pass --binary PATH (a speed_benchmark_torch for its ABI) or --build-from PYTORCH_DIR",
    )


def et_binary_for(cfg: SweepConfig, info: DeviceInfo, cache: dict[str, Binary]) -> Binary | None:
    """The ExecuTorch runner for one device's ``.pte`` launches, or None (they are planned away).

    ``--et-binary`` is registered (and checked against the device's ABI); a
    device of this host's ABI (``local``, the x86_64 virtual phone) otherwise
    gets benchorch's host runner, built against the executorch wheel (cached),
    when the wheel is installed.
    """
    if cfg.et_binary is not None:
        if "registered" not in cache:
            from benchorch.etrunner.register import register_runner

            cache["registered"] = Binary.from_provenance(register_runner(Path(cfg.et_binary)))
        check_abi(cache["registered"], info)
        return cache["registered"]
    if info.serial != "local" and info.abis[:1] != (host_abi(),):
        return None
    if "host" not in cache:
        from benchorch.etrunner.host import build_host_runner

        try:
            cache["host"] = Binary.from_provenance(build_host_runner())
        except UsageError as exc:
            log.warning("the .pte variants will not run: %s", exc)
            return None
    return cache["host"]


def _built_binary(root: Path, info: DeviceInfo, cache: dict[str, Binary]) -> Binary:
    """``--build-from``: a lite binary (Android's default) for the device's first ABI.

    A device whose ABI is this host's (``local``, an x86_64 emulator) gets a
    host build against the installed libtorch; any other ABI an NDK build.
    """
    host = host_abi()
    abi = host if info.serial == "local" or not info.abis else info.abis[0]
    if abi not in cache:
        from benchorch.build import BuildRequest, build

        if abi == host:
            prov = build(BuildRequest(target="host", pytorch_root=root))
        else:
            prov = build(BuildRequest(target="android", pytorch_root=root, abi=abi))
        cache[abi] = Binary.from_provenance(prov)
    return cache[abi]


def run_sweep(
    *,
    db: Path | DbLocation,
    flags: dict[str, Any],
    flag_names: dict[str, str],
    config_file: Path | None,
    resume_run: str | None,
    command: str,
    quiet: bool,
    hooks: SweepHooks | None = None,
) -> SweepSummary:
    """``flags``: the command line's settings by ``SweepConfig`` field
    (``flag_names``: how each is spelled there, for messages).

    Every setting is validated before the results store is opened (a bad flag
    leaves no database behind); the store is closed when the sweep ends.
    """
    if resume_run is None:
        file_values = load_toml(config_file) if config_file is not None else {}
        cfg = merge(file_values, given(flags), flag_names=flag_names)
        _check_writable(Path(cfg.out or "reports"))
        opening = StoreOpening(db)  # in a thread, while the devices are probed
        try:
            return _sweep(
                opening, db, cfg, cfg.to_dict(), "running", None, command, quiet, hooks or _NO_HOOKS
            )
        finally:
            opening.close()
    refuse_with_resume(flags, flag_names, config_file)
    file = db if isinstance(db, Path) else db.path
    if file is not None and not file.exists():
        raise RunNotFound(
            f"no results database at {db} to resume run {resume_run} from",
            hint="point --db / BENCHORCH_DB at the database the sweep wrote",
        )
    with sweep_store(db) as store:
        cfg, stored_settings, prior_status = _resumed(store, resume_run, flags, flag_names)
        _check_writable(Path(cfg.out or "reports"))
        return _sweep(
            StoreOpening(opened=store),
            db,
            cfg,
            stored_settings,
            prior_status,
            resume_run,
            command,
            quiet,
            hooks or _NO_HOOKS,
        )


def _sweep(
    opening: StoreOpening,
    db: Path | DbLocation,
    cfg: SweepConfig,
    stored_settings: dict[str, Any],
    prior_status: str,
    resume_run: str | None,
    command: str,
    quiet: bool,
    hooks: SweepHooks,
) -> SweepSummary:
    """The sweep, its settings validated (steps 2-5 above); the store is needed
    (and waited for) once the plans are made."""
    out_dir = Path(cfg.out or "reports")
    adb_addr = cfg.adb_server
    serials = _serials(cfg, adb_addr)
    with contextlib.ExitStack() as stack:
        devices: list[tuple[Device, DeviceInfo]] = []
        for serial in serials:
            stack.enter_context(DeviceLock(serial))
            device = open_device(serial, adb_addr=adb_addr)
            stack.callback(device.close)
            devices.append((device, device.info()))

        binaries: dict[str, Binary] = {}
        per_device: list[tuple[Device, DeviceInfo, Binary]] = []
        for device, info in devices:
            binary = _binary_for(cfg, info, binaries)
            check_abi(binary, info)
            per_device.append((device, info, binary))

        manifest = _variants(cfg, [(info.serial, binary) for _, info, binary in per_device])
        variant_files = {f.name: f.abspath(manifest.root) for f in manifest.files}
        et_binaries: dict[str, Binary | None] = {}
        if any(f.format is ModelFormat.EXECUTORCH for f in manifest.files):
            et_cache: dict[str, Binary] = {}
            for _, info, _binary in per_device:
                et_binaries[info.serial] = et_binary_for(cfg, info, et_cache)
        plans = {
            info.serial: make_plan(
                plan_variants(manifest), binary, cfg, et_binaries.get(info.serial)
            )
            for _, info, binary in per_device
        }
        if not any(p.launches for p in plans.values()):
            # Nothing is stored or pushed: a sweep that measures nothing is not a success.
            raise nothing_to_run(
                plans, from_recipe=cfg.variants is None, candidates=len(manifest.files)
            )
        for device, info, binary in per_device:  # a bound too small: refused before any push
            launches = plans[info.serial].launches
            if launches and isinstance(device, BoundsStorage):
                et = et_binaries.get(info.serial)
                needed = part_files(binary, et, launches, variant_files)
                check_fits(info.serial, needed, cfg.max_phone_storage)

        store = opening.store()
        run_id = resume_run or store.create_run(
            command=command,
            params={
                "settings": stored_settings,
                "manifest": str(manifest.root),
                "devices": serials,
            },
        )
        if hooks.on_run is not None:
            hooks.on_run(run_id, {serial: len(p.launches) for serial, p in plans.items()})
        done = store.done_launch_keys(run_id) if resume_run else set()
        work: list[DeviceWork] = []
        empty: dict[str, str] = {}  # serial -> why its plan is empty while others' are not
        skipped = 0
        for device, info, binary in per_device:
            store.record_device(run_id, info)
            store.record_binary(run_id, binary.provenance)
            et_binary = et_binaries.get(info.serial)
            if et_binary is not None:
                store.record_binary(run_id, et_binary.provenance)
            plan = plans[info.serial]
            if not plan.launches:
                empty[info.serial] = device_note(plan)
            if not resume_run:
                for skip in plan.skipped:
                    store.record_skip(
                        run_id,
                        device=info.serial,
                        variant=skip.file,  # a planned configuration is named by its file
                        config=skip.config,
                        reason=skip.reason,
                    )
                if not plan.launches:
                    store.record_skip(
                        run_id,
                        device=info.serial,
                        variant="*",
                        config={},
                        reason=empty[info.serial],
                    )
                skipped += len(plan.skipped)
            if plan.launches:
                todo = remaining(plan, info.serial, done)
                work.append(DeviceWork(device, info, binary, todo, et_binary))
        _keep_inputs([b for _, _, b in per_device] + [*filter(None, et_binaries.values())],
                     variant_files, {f.name: f.sha256 for f in manifest.files})  # fmt: skip
        if not resume_run:
            for f in manifest.files:
                store.record_variant(run_id, f)
            for s in manifest.skipped:
                store.record_skip(run_id, device="*", variant=s.variant, config={}, reason=s.reason)
        elif not any(w.launches for w in work):
            return _nothing_left(store, run_id, prior_status, out_dir)

        settings = SweepSettings(
            run_id=run_id,
            launch=LaunchPolicy(
                timeout_s=cfg.timeout,
                cooldown_temp_c=cfg.cooldown_c,
                cooldown_max_wait_s=cfg.cooldown_max_wait,
            ),
            min_battery=cfg.min_battery,
            retries=cfg.retries,
            reconnect_s=cfg.reconnect_timeout,
            pin=cfg.pin,
            max_phone_storage=cfg.max_phone_storage,
        )
        display = ProgressDisplay(enabled=not quiet)
        warmup = ReportWarmup(db, run_id)
        executor = Executor(
            store_path=db,
            settings=settings,
            variant_files=variant_files,
            progress=warmup.progress(display.update),
        )
        timer = _stop_timer(executor, hooks.stop_at)
        try:
            with display:
                result = executor.run(work)
        finally:
            warmup.finish()
            if timer is not None:
                timer.cancel()
    for serial, note in empty.items():
        result.devices[serial] = DeviceProgress(serial, 0, status=DEVICE_NOTHING, message=note)
    status = Outcome(overall_status(result))
    store.finish_run(run_id, status.value)
    summary = SweepSummary(run_id=run_id, status=status, skipped=skipped)
    summary.spooled, summary.replayed = _flush_spool(store, run_id)
    summary.devices = {
        s: {
            "status": p.status,
            "done": p.done,
            "total": p.total,
            "failed": p.failed,
            "message": p.message,
        }
        for s, p in result.devices.items()
    }
    summary.report_path, summary.report_error = _report(store, run_id, out_dir)
    return summary


_NO_HOOKS = SweepHooks()


def _keep_inputs(binaries: list[Binary], files: dict[str, Path], shas: dict[str, str]) -> None:
    """Keep the run's binaries and variant files by content hash (``benchorch.kept``):
    the confirm step re-runs them after their original paths changed."""
    for b in {b.sha256: b for b in binaries}.values():
        if b.local_path is not None:
            kept.keep(b.local_path, b.sha256, executable=True)
    for name, path in files.items():
        kept.keep(path, shas[name])


def _stop_timer(executor: Executor, stop_at: float | None) -> threading.Timer | None:
    """A timer that stops the executor at ``stop_at`` (no new launch starts)."""
    if stop_at is None:
        return None
    timer = threading.Timer(max(0.0, stop_at - time.time()), executor.stop.set)
    timer.daemon = True
    timer.start()
    return timer


def _flush_spool(store: Store, run_id: str) -> tuple[int, int]:
    """Replay what waits in the store's spool; (spooled, replayed) launches of the
    run. Launches still waiting: ``StoreUnavailable`` (exit 3) with the command
    that flushes them."""
    if store.spool is None:
        return 0, 0
    with contextlib.suppress(StoreUnavailable):
        store.flush_spool()
    counts = store.spool.counts(run_id)
    if store.spool.has_pending():
        raise StoreUnavailable(
            f"{counts.pending} launches of run {run_id} wait in the local spool"
            f" {store.spool.path}: the results database {store.where} does not answer",
            hint=f"when it does, run: benchorch --db {store.where} db flush",
        )
    return counts.spooled, counts.replayed


def _variants(cfg: SweepConfig, binaries: list[tuple[str, Binary]]) -> Manifest:
    """The sweep's variants: ``--variants DIR``, or ``--model`` exported (cached).

    A user-given recipe whose formats a device's binary cannot load is said per
    device and binary before the export (an error when no device can load
    any); with the default recipe only the formats some binary loads are kept.
    """
    devices = [
        DeviceBinary(serial, Path(b.provenance.path).name, b.flavour) for serial, b in binaries
    ]
    if cfg.variants is None and cfg.model is not None and cfg.recipe:
        lines = recipe_mismatches(cfg.recipe, recipe_formats(tuple(cfg.recipe)), devices)
        if len(lines) == len(devices):
            raise NothingToRun(
                f"nothing to run: {lines[0]}"
                if len(lines) == 1
                else "nothing to run: " + "; ".join(lines)
            )
        for line in lines:
            log.warning("%s", line)
    manifest = resolve_variants(
        variants_dir=Path(cfg.variants) if cfg.variants else None,
        model=cfg.model,
        dims=cfg.dims[0] if len(cfg.dims) == 1 else None,  # one value: the export's inputs
        types=cfg.types[0] if len(cfg.types) == 1 else None,
        recipe=tuple(cfg.recipe) if cfg.recipe else None,
        cache_dir=cache_root(),
        bytecode_version=cfg.bytecode_version,
    )
    if cfg.variants is None and not cfg.recipe:
        keep = loadable(d.flavour for d in devices)
        files = tuple(f for f in manifest.files if f.format in keep)
        if len(files) < len(manifest.files):
            manifest = dataclasses.replace(manifest, files=files)
    return manifest


def _nothing_left(store: Store, run_id: str, prior_status: str, out_dir: Path) -> SweepSummary:
    """``--resume`` of a run whose every planned launch is stored: a success (exit 0).

    The run keeps the status its launches give it (``failed`` when one failed).
    """
    stored = prior_status
    if stored not in (Outcome.OK.value, Outcome.FAILED.value):  # stopped after its last launch
        stored = Outcome.FAILED.value if store.run(run_id).get("failures") else Outcome.OK.value
    store.finish_run(run_id, stored)
    summary = SweepSummary(run_id=run_id, status=Outcome.OK, nothing_left=True)
    summary.report_path, summary.report_error = _report(store, run_id, out_dir)
    return summary


def _serials(cfg: SweepConfig, adb_addr: str | None) -> list[str]:
    serials = list(dict.fromkeys(cfg.devices))
    if cfg.all:
        from benchorch.devices import list_devices

        serials += [
            i.serial
            for i in list_devices(adb_addr=adb_addr)
            if i.state == "device" and i.serial not in serials
        ]
    if not serials:
        raise UsageError("no device given", hint="pass --device SERIAL (or 'local'), or --all")
    return serials


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".benchorch-write-test-{time.time_ns()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write the report folder {out_dir}: {exc.strerror or exc}",
            hint="pass --out DIR with a folder you can write",
        ) from exc


def _report(store: Store, run_id: str, out_dir: Path) -> tuple[Path | None, str | None]:
    from benchorch.report import write_run_report

    try:
        return write_run_report(store, run_id, out_dir / f"{run_id}.html"), None
    except (BenchorchError, OSError) as exc:
        # The measurements are stored; a report can be made later with `benchorch report`.
        log.error("report for %s failed: %s", run_id, exc)
        return None, str(exc)
