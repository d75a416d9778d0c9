"""A night through the lab (``lab = "lab.toml"`` in nightly.toml).

* the night's results store is the lab's PostgreSQL (``config.night_db``: the
  lab's sweep stores every launch there), so the claim of the night, its account
  and its report live beside the lab's parts;
* ``pick_lab_phones``: the phones the night's ``devices`` select in lab.toml
  (``config.lab_selection``); with ``[nightly] phones_per_model = N``, the first N
  of each model, preferring phones the lab calls ``good`` on hosts that are up.
  A phone that cannot run when its part comes is the lab's business: the part
  moves to another phone of its model or ends "not run" with the reason;
* ``run_lab_night``: the night's sweep as ``sweep --lab`` does it, each phone's
  part a job holding the phone's lock, at ``queue.NIGHTLY`` priority (a person's
  sweep and reservations go first); a second trigger of a night whose parts are
  queued waits for those parts (``submit.wait_lab_run``): the lab runs them
  whether or not their submitter lives, so nothing is queued twice. A phone whose
  part ended before all its launches were stored (lost with its host, refused)
  gets a new part for what is missing (``requeue``: the worker runs only the
  launches not stored yet), before the deadline only; when its phone or host is
  still unusable, the lab moves that part to a phone of the same model (another
  host when the host is the trouble) or ends it not run with the reason;
* ``settle``: the night's account by the phone each part ended on (a part moved
  from a phone counts on its new phone) and the host of each, with the hosts in
  trouble (down, misconfigured) so a phone's "not run" names its host.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchorch.errors import UsageError
from benchorch.lab import parts, queue, state
from benchorch.lab.config import LabConfig, load_lab_config
from benchorch.lab.reroute import DOWN_HOST, trouble
from benchorch.lab.submit import Selection, run_lab_sweep, select_phones, wait_lab_run
from benchorch.nightly.config import NightlyConfig
from benchorch.nightly.phones import PhonePick
from benchorch.sweep.run import SweepHooks, SweepSummary
from benchorch.sweep.settings import SweepConfig

__all__ = ["pick_lab_phones", "requeue", "run_lab_night", "settle"]

log = logging.getLogger("benchorch.nightly")


def _lab(ncfg: NightlyConfig) -> LabConfig:
    assert ncfg.lab is not None
    return load_lab_config(ncfg.lab)


def pick_lab_phones(ncfg: NightlyConfig) -> PhonePick:
    config = _lab(ncfg)
    assert ncfg.selection is not None
    chosen = select_phones(config, ncfg.selection)
    per = ncfg.nightly.phones_per_model
    if per is None:
        return PhonePick(tuple(p.serial for p in chosen), ())
    with state.connect(config.database_url) as conn:
        if not state.tables_exist(conn):
            raise UsageError(
                f"the lab database of {config.path} has no benchorch tables",
                hint="run `benchorch lab init --config LAB.TOML` first",
            )
        state.sync_devices(conn, config)
        devices = {d.serial: d for d in state.devices(conn)}
        hosts = state.hosts(conn)

    def usable(serial: str, host: str) -> bool:
        d, h = devices.get(serial), hosts.get(host)
        return (d is None or d.state == "good") and (h is None or h.status not in DOWN_HOST)

    kept: dict[str, list[str]] = defaultdict(list)
    for p in sorted(chosen, key=lambda p: not usable(p.serial, p.host)):  # stable: lab.toml order
        if len(kept[p.model]) < per:
            kept[p.model].append(p.serial)
    mine = {s for serials in kept.values() for s in serials}
    return PhonePick(tuple(p.serial for p in chosen if p.serial in mine), ())


def run_lab_night(
    ncfg: NightlyConfig,
    cfg: SweepConfig,
    healthy: list[str],
    resume: str | None,
    *,
    command: str,
    quiet: bool,
    hooks: SweepHooks,
) -> SweepSummary:
    """The night's lab sweep (or, when its run exists, the wait for its parts)."""
    out = Path(cfg.out or "reports")
    if resume is not None:
        if hooks.stop_at is None or time.time() < hooks.stop_at:
            requeue(_lab(ncfg), resume)
        return wait_lab_run(lab_path=ncfg.lab, run_id=resume, out=out, quiet=quiet, hooks=hooks)
    # a lab phone's storage bound is its lab.toml's (config.py refuses the key)
    flags = {k: v for k, v in cfg.to_dict().items() if k != "max_phone_storage"}
    flags.update(devices=(), all=False)
    return run_lab_sweep(
        lab_path=ncfg.lab,
        selection=Selection(devices=tuple(healthy)),
        flags=flags,
        flag_names={},
        config_file=None,
        command=command,
        quiet=quiet,
        priority=queue.NIGHTLY,
        hooks=hooks,
    )


def requeue(config: LabConfig, run_id: str) -> list[int]:
    """A new part (same plan, same phone) for each phone whose last part ended with
    launches not stored; the parts made."""
    url = config.database_url
    made: list[int] = []
    with state.connect(url) as conn:
        last = {p.serial: p for p in parts.parts_of_run(conn, run_id)}  # by id: the last wins
        devices = {d.serial: d for d in state.devices(conn)}
        hosts = state.hosts(conn)
        stored = dict.fromkeys(last, 0)
        for r in conn.execute(
            "SELECT device_serial, count(DISTINCT launch_key) AS n FROM launches"
            " WHERE run_id = %s GROUP BY device_serial",
            (run_id,),
        ).fetchall():
            stored[str(r["device_serial"])] = int(r["n"])
        for p in last.values():
            if not p.ended or stored.get(p.serial, 0) >= p.total:
                continue
            part_id = parts.create_part(
                conn,
                run_id=run_id,
                serial=p.serial,
                host=p.host,
                model=p.model,
                priority=p.priority,
                spec=p.spec,
                total=p.total,
            )
            if trouble(dataclasses.replace(p, move_reason=None), devices, hosts) is None:
                job = queue.defer_part(url, p.serial, p.host, part_id, p.priority)
                parts.set_job(conn, part_id, job)
            # else no job: the phone or its host cannot run it (a worker would end it lost
            # at once); the submitter's first reroute pass moves it or ends it not run
            log.warning(
                "%s: %d of %d launches not stored (%s: %s): queued again",
                p.serial,
                p.total - stored.get(p.serial, 0),
                p.total,
                p.status,
                p.summary,
            )
            made.append(part_id)
    return made


_MOVED = re.compile(r"moved from (\S+): ")


def settle(ncfg: NightlyConfig, run_id: str, detail: dict[str, Any]) -> None:
    """``detail``'s plan by the phones the parts ended on (``healthy``, ``planned``),
    each phone's host (``hosts``), where each moved phone's work went (``moved``:
    serial -> serials), the picked phones none of whose parts is left on them listed
    as left out (their work moved), and the hosts in trouble now (``host_trouble``)."""
    config = _lab(ncfg)
    with state.connect(config.database_url) as conn:
        run_parts = parts.parts_of_run(conn, run_id)
        hosts = state.hosts(conn)
    if not run_parts:
        return
    picked = detail.setdefault("picked", list(detail.get("healthy", [])))
    moved: dict[str, list[str]] = {}
    for p in run_parts:
        for src in _MOVED.findall(p.moves or ""):
            moved.setdefault(src, []).append(p.serial)
    detail["moved"] = moved
    detail["planned"] = {p.serial: p.total for p in run_parts}
    detail["healthy"] = list(dict.fromkeys(p.serial for p in run_parts))
    detail["hosts"] = {p.serial: p.host for p in run_parts}
    detail["left_out"] = [
        {"serial": s, "reason": f"its part moved to {', '.join(moved.get(s, [])) or '?'}"}
        for s in picked
        if s not in detail["planned"]
    ]
    detail["host_trouble"] = {
        name: f"{h.status}" + (f" ({h.detail})" if h.detail else "")
        for name, h in hosts.items()
        if h.status in DOWN_HOST
    }
