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
  whether or not their submitter lives, so nothing is queued twice;
* ``settle``: the night's account by the phone each part ended on (a part moved
  from a phone counts on its new phone) and the host of each, with the hosts in
  trouble (down, misconfigured) so a phone's "not run" names its host.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from benchorch.errors import UsageError
from benchorch.lab import parts, queue, state
from benchorch.lab.config import LabConfig, load_lab_config
from benchorch.lab.reroute import DOWN_HOST
from benchorch.lab.submit import Selection, run_lab_sweep, select_phones, wait_lab_run
from benchorch.nightly.config import NightlyConfig
from benchorch.nightly.phones import PhonePick
from benchorch.sweep.run import SweepHooks, SweepSummary
from benchorch.sweep.settings import SweepConfig

__all__ = ["pick_lab_phones", "run_lab_night", "settle"]


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
        return wait_lab_run(lab_path=ncfg.lab, run_id=resume, out=out, quiet=quiet, hooks=hooks)
    flags = {**cfg.to_dict(), "devices": (), "all": False}
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


def settle(ncfg: NightlyConfig, run_id: str, detail: dict[str, Any]) -> None:
    """``detail``'s plan by the phones the parts ended on, each phone's host, and the
    hosts in trouble now (``host_trouble``: host -> why)."""
    config = _lab(ncfg)
    with state.connect(config.database_url) as conn:
        run_parts = parts.parts_of_run(conn, run_id)
        hosts = state.hosts(conn)
    if not run_parts:
        return
    detail["planned"] = {p.serial: p.total for p in run_parts}
    detail["healthy"] = [p.serial for p in run_parts]
    detail["hosts"] = {p.serial: p.host for p in run_parts}
    detail["host_trouble"] = {
        name: f"{h.status}" + (f" ({h.detail})" if h.detail else "")
        for name, h in hosts.items()
        if h.status in DOWN_HOST
    }
