"""``benchorch sweep --lab``: today's sweep, each phone's part a job of the lab's queue.

The submitting process, in order (each step able to fail before anything is queued):

1. the phones: ``--device SERIAL``, ``--phone-model MODEL``, ``--tag TAG`` or
   ``--all`` against lab.toml (a phone quarantined or in maintenance gets a part
   that ends "not run" with the reason, never a job);
2. the settings as today (``sweep.toml``, flags over it); a lab sweep needs
   ``--binary`` (the phones are on other hosts: nothing is built or probed here);
3. the variants (exported or ``--variants``) and the plan, which does not depend
   on the phone (``LaunchSpec.key_for`` adds the serial);
4. the binaries and variant files stored by content hash in the lab database
   (``parts.put_blob``), where a worker on any machine fetches them;
5. the run in the results store (the lab's PostgreSQL), then one part per phone
   (``parts``) and its job (``queue.defer_part``: the phone's host queue, the
   lock ``device:<serial>``, ``ADHOC`` or ``NIGHTLY`` priority);
6. waiting, with today's progress display fed from the parts' rows; about every
   second a part stuck on an unusable phone or host moves to another phone of its
   model, or ends "not run" with the reason (``reroute``);
7. the summary and report from benchorch's tables (the launches stored, the
   parts' statuses), never from the queue's status.

Ctrl-C asks every part to stop (queued ones end interrupted, running ones finish
the launch they are in); a second Ctrl-C stops waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.devices.phonestore import check_fits
from benchorch.errors import UsageError
from benchorch.lab import parts, queue, state
from benchorch.lab.config import LabConfig, PhoneConfig, load_lab_config
from benchorch.lab.reroute import reroute
from benchorch.lab.sweeppart import launch_to_json
from benchorch.store import Store
from benchorch.sweep.emptyplan import nothing_to_run
from benchorch.sweep.executor import (
    DEVICE_INTERRUPTED,
    DeviceProgress,
    SweepResult,
    overall_status,
    part_files,
)
from benchorch.sweep.inputs import Binary
from benchorch.sweep.plan import make_plan, plan_variants
from benchorch.sweep.progress import ProgressDisplay
from benchorch.sweep.run import (
    SweepHooks,
    SweepSummary,
    _check_writable,
    _report,
    _variants,
    prewarm_report,
)
from benchorch.sweep.settings import SweepConfig, given, load_toml, merge

__all__ = [
    "Selection",
    "binary_spec",
    "part_settings",
    "run_lab_sweep",
    "select_phones",
    "wait_lab_run",
]

log = logging.getLogger("benchorch.lab.submit")
POLL_S = 0.25
REROUTE_EVERY = 4  # polls: a stuck part is looked at about every second
UNUSABLE = ("quarantined", "maintenance")


@dataclass(frozen=True)
class Selection:
    """Which lab phones a sweep runs on (any mix; ``all``: every configured phone)."""

    devices: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    all: bool = False

    @property
    def empty(self) -> bool:
        return not (self.devices or self.models or self.tags or self.all)


def select_phones(config: LabConfig, selection: Selection) -> list[PhoneConfig]:
    """The configured phones the selection names, in lab.toml's order; an unknown
    serial, model or tag is a usage error naming what is configured."""
    if selection.empty:
        raise UsageError(
            "no lab phone given",
            hint="pass --device SERIAL, --phone-model MODEL, --tag TAG or --all",
        )
    chosen: dict[str, PhoneConfig] = {}
    for serial in selection.devices:
        chosen[serial] = config.phone(serial)
    for model in selection.models:
        found = [p for p in config.phones.values() if p.model == model]
        if not found:
            known = sorted({p.model for p in config.phones.values()})
            raise UsageError(
                f"no phone of model {model!r} in {config.path}",
                hint=f"models there: {', '.join(known) or 'none'}",
            )
        chosen.update((p.serial, p) for p in found)
    for tag in selection.tags:
        found = [p for p in config.phones.values() if tag in p.tags]
        if not found:
            known = sorted({t for p in config.phones.values() for t in p.tags})
            raise UsageError(
                f"no phone tagged {tag!r} in {config.path}",
                hint=f"tags there: {', '.join(known) or 'none'}",
            )
        chosen.update((p.serial, p) for p in found)
    if selection.all:
        chosen.update(config.phones)
    if not chosen:
        raise UsageError(f"{config.path} configures no phones", hint="add [phones.SERIAL] tables")
    return [p for p in config.phones.values() if p.serial in chosen]


def _settings(
    flags: dict[str, Any],
    flag_names: dict[str, str],
    config_file: Path | None,
    serials: Sequence[str],
) -> SweepConfig:
    chosen = given(flags)
    for name in ("adb_server", "build_from", "resume", "max_phone_storage"):
        if name in chosen:
            flag = flag_names.get(name, f"--{name.replace('_', '-')}")
            raise UsageError(
                f"{flag} does not go with --lab",
                hint="a lab phone's storage bound is lab.toml's max_phone_storage"
                if name == "max_phone_storage"
                else "the lab's hosts serve its phones; pass --binary for them",
            )
    chosen.pop("all", None)
    chosen["devices"] = tuple(serials)
    file_values = load_toml(config_file) if config_file is not None else {}
    for name in ("devices", "all", "adb_server", "max_phone_storage"):  # the lab's own
        file_values.pop(name, None)
    cfg = merge(file_values, chosen, flag_names=flag_names)
    if cfg.binary is None:
        raise UsageError(
            "a lab sweep needs --binary (a speed_benchmark_torch for the phones' ABI)",
            hint="build one with `benchorch build` and pass --binary PATH",
        )
    return cfg


def part_settings(cfg: SweepConfig) -> dict[str, Any]:
    """The settings a worker runs a part's launches with (``sweeppart._settings``)."""
    return {
        "timeout_s": cfg.timeout,
        "cooldown_temp_c": cfg.cooldown_c,
        "cooldown_max_wait_s": cfg.cooldown_max_wait,
        "min_battery": cfg.min_battery,
        "retries": cfg.retries,
        "reconnect_s": cfg.reconnect_timeout,
        "pin": cfg.pin,
    }


def binary_spec(conn: state.Conn, binary: Binary | None) -> dict[str, Any] | None:
    """A binary as a part's spec names it: its provenance, its files stored by hash."""
    if binary is None or binary.local_path is None:
        return None
    return {
        "provenance": binary.provenance.to_dict(),
        "sha256": parts.put_blob(conn, binary.local_path),
        "name": binary.local_path.name,
        "extra": {p.name: parts.put_blob(conn, p) for p in binary.extra_files},
    }


def _register(cfg: SweepConfig) -> tuple[Binary, Binary | None]:
    from benchorch.build.provenance import register_binary

    assert cfg.binary is not None
    binary = Binary.from_provenance(register_binary(Path(cfg.binary)))
    et_binary = None
    if cfg.et_binary is not None:
        from benchorch.etrunner.register import register_runner

        et_binary = Binary.from_provenance(register_runner(Path(cfg.et_binary)))
    return binary, et_binary


def run_lab_sweep(
    *,
    lab_path: Path | None,
    selection: Selection,
    flags: dict[str, Any],
    flag_names: dict[str, str],
    config_file: Path | None,
    command: str,
    quiet: bool,
    priority: int = queue.ADHOC,
    hooks: SweepHooks | None = None,
) -> SweepSummary:
    """Steps 1-7 above; the summary's status gives today's exit code."""
    config = load_lab_config(lab_path)
    phones = select_phones(config, selection)
    cfg = _settings(flags, flag_names, config_file, [p.serial for p in phones])
    out_dir = Path(cfg.out or "reports")
    _check_writable(out_dir)
    binary, et_binary = _register(cfg)
    manifest = _variants(cfg, [(p.serial, binary) for p in phones])
    plan = make_plan(plan_variants(manifest), binary, cfg, et_binary)
    if not plan.launches:
        raise nothing_to_run(
            {p.serial: plan for p in phones},
            from_recipe=cfg.variants is None,
            candidates=len(manifest.files),
        )
    variant_files = {f.name: f.abspath(manifest.root) for f in manifest.files}
    needed = part_files(binary, et_binary, plan.launches, variant_files)
    for p in phones:  # a bound too small: refused before anything is queued
        check_fits(p.serial, needed, p.max_phone_storage)
    url = config.database_url
    with state.connect(url) as conn:
        if not state.tables_exist(conn):
            raise UsageError(
                "the lab database has no benchorch tables", hint="run `benchorch lab init` first"
            )
        parts.create_tables(conn)  # a database initialised before sweep parts existed
        state.sync_devices(conn, config)
        rows = {d.serial: d for d in state.devices(conn)}
        spec = {
            "settings": part_settings(cfg),
            "binary": binary_spec(conn, binary),
            "et_binary": binary_spec(conn, et_binary),
            "files": {
                f.name: parts.put_blob(conn, f.abspath(manifest.root))
                for f in manifest.files
                if f.name in {s.file for s in plan.launches}
            },
            "launches": [launch_to_json(s) for s in plan.launches],
        }
        with Store(url) as store:
            run_id = store.create_run(
                command=command,
                params={
                    "settings": cfg.to_dict(),
                    "manifest": str(manifest.root),
                    "devices": [p.serial for p in phones],
                    "lab": str(config.path),
                },
            )
            store.record_binary(run_id, binary.provenance)
            if et_binary is not None:
                store.record_binary(run_id, et_binary.provenance)
            for f in manifest.files:
                store.record_variant(run_id, f)
            for s in manifest.skipped:
                store.record_skip(run_id, device="*", variant=s.variant, config={}, reason=s.reason)
            for p in phones:
                for skip in plan.skipped:
                    store.record_skip(
                        run_id,
                        device=p.serial,
                        variant=skip.file,
                        config=skip.config,
                        reason=skip.reason,
                    )
        if hooks is not None and hooks.on_run is not None:
            hooks.on_run(run_id, {p.serial: len(plan.launches) for p in phones})
        for p in phones:
            part_id = parts.create_part(
                conn,
                run_id=run_id,
                serial=p.serial,
                host=p.host,
                model=p.model,
                priority=priority,
                spec=spec,
                total=len(plan.launches),
            )
            row = rows.get(p.serial)
            if row is not None and row.state in UNUSABLE:
                continue  # no job: the first reroute pass moves it, or ends it not run
            job_id = queue.defer_part(url, p.serial, p.host, part_id, priority)
            parts.set_job(conn, part_id, job_id)
    return _wait_and_report(config, run_id, out_dir, quiet, len(plan.skipped) * len(phones), hooks)


def wait_lab_run(
    *,
    lab_path: Path | None,
    run_id: str,
    out: Path,
    quiet: bool,
    hooks: SweepHooks | None = None,
) -> SweepSummary:
    """Steps 6-7 for a run queued earlier (by a submitter that is gone: the nightly's
    second trigger): its parts go on in the lab; this waits for them and reports."""
    config = load_lab_config(lab_path)
    with state.connect(config.database_url) as conn:
        known = parts.parts_of_run(conn, run_id)
    if not known:
        raise UsageError(f"run {run_id} has no lab parts in {config.path}'s database")
    _check_writable(out)
    return _wait_and_report(config, run_id, out, quiet, 0, hooks)


def _progress(p: parts.Part) -> DeviceProgress:
    return DeviceProgress(p.serial, p.total, p.done, p.failed, p.current, p.status, p.message)


def _stop_all(url: str, conn: state.Conn, run_id: str, why: str) -> None:
    for p in parts.parts_of_run(conn, run_id):
        if p.ended:
            continue
        parts.end_unstarted(conn, p.id, DEVICE_INTERRUPTED, why)
        if p.job_id is not None:  # queued: cancelled; running: asked to abort (ends interrupted)
            queue.cancel(url, p.job_id)


def _wait(config: LabConfig, run_id: str, quiet: bool, stop_at: float | None) -> list[parts.Part]:
    """Poll the run's parts until each has ended. While the lab database is away (a
    restart) the parts go on in the lab: this waits for it (``state.outlast``) and polls on."""
    url = config.database_url
    display = ProgressDisplay(enabled=not quiet)
    polls = 0
    shown: dict[int, tuple[object, ...]] = {}
    interrupted = False
    warmed = False
    conn = state.connect(url)
    try:
        with display:
            while True:
                try:
                    if conn.closed:
                        conn = state.outlast(lambda: state.connect(url), f"sweep {run_id}")
                    if polls % REROUTE_EVERY == 0 and not interrupted:
                        reroute(url, conn, config, run_id)
                    polls += 1
                    now = parts.parts_of_run(conn, run_id)
                    for p in now:
                        key = (p.status, p.done, p.failed, p.current)
                        if shown.get(p.id) != key:
                            shown[p.id] = key
                            display.update(_progress(p))
                        if p.status == "running" and not warmed:
                            warmed = True
                            prewarm_report()
                    if all(p.ended for p in now):
                        return now
                    if stop_at is not None and time.time() >= stop_at and not interrupted:
                        interrupted = True
                        _stop_all(url, conn, run_id, "not run: the sweep's time ran out")
                    time.sleep(POLL_S)
                except Exception as exc:
                    if not state.db_away(exc):
                        raise
                    log.warning(
                        "sweep %s: the lab database is away (%s); waiting for it", run_id, exc
                    )
                    conn.close()
                    time.sleep(state.RETRY_S)
                except KeyboardInterrupt:
                    if interrupted:
                        log.warning("stopped waiting: the parts still running go on in the lab")
                        return parts.parts_of_run(conn, run_id)
                    interrupted = True
                    log.warning(
                        "interrupted: the parts finish the launch they are in (Ctrl-C again)"
                    )
                    _stop_all(url, conn, run_id, "interrupted before it started")
    finally:
        conn.close()


def _stored_counts(url: str, run_id: str) -> dict[str, tuple[int, int]]:
    """Per phone: launches stored and of those failed (benchorch's table, not the queue)."""
    with state.connect(url) as conn:
        rows = conn.execute(
            "SELECT device_serial, count(DISTINCT launch_key) AS done,"
            " count(DISTINCT launch_key) FILTER (WHERE status <> 'ok') AS failed"
            " FROM launches WHERE run_id = %s GROUP BY device_serial",
            (run_id,),
        ).fetchall()
    return {str(r["device_serial"]): (int(r["done"]), int(r["failed"])) for r in rows}


def _wait_and_report(
    config: LabConfig,
    run_id: str,
    out_dir: Path,
    quiet: bool,
    skipped: int,
    hooks: SweepHooks | None,
) -> SweepSummary:
    url = config.database_url
    ended = _wait(config, run_id, quiet, hooks.stop_at if hooks is not None else None)
    counts = _stored_counts(url, run_id)
    devices: dict[str, DeviceProgress] = {}
    for p in ended:
        done, failed = counts.get(p.serial, (0, 0))
        status = p.status if p.ended else DEVICE_INTERRUPTED
        devices[p.serial] = DeviceProgress(p.serial, p.total, done, failed, "", status, p.summary)
    result = SweepResult(
        run_id=run_id,
        devices=devices,
        interrupted=any(d.status == DEVICE_INTERRUPTED for d in devices.values()),
    )
    from benchorch.domain import Outcome

    status = Outcome(overall_status(result))
    with Store(url) as store:
        store.finish_run(run_id, status.value)
        summary = SweepSummary(run_id=run_id, status=status, skipped=skipped)
        summary.devices = {
            s: {
                "status": d.status,
                "done": d.done,
                "total": d.total,
                "failed": d.failed,
                "message": d.message,
            }
            for s, d in devices.items()
        }
        summary.report_path, summary.report_error = _report(store, run_id, out_dir)
    return summary
