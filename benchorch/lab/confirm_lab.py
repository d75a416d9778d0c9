"""The confirm step's A/B re-runs through the lab (a nightly with ``lab = ...``).

``sweep.confirm.confirm_run`` plans the A/B launches (the baseline's exact binary
and variant files and tonight's, interleaved ABBA on the suspect's own phone) and
creates the two runs they are stored in. Through the lab, each phone's launches
are one part (``benchorch_lab_parts``) whose ``spec`` holds both sides: each
side's run, its binaries (stored by content hash from here) and its variant files
(by content hash: the night's lab sweep stored their bytes in the lab database,
so the baseline night's files need not be on this machine any more), and the
launches in their order with their side. Its job holds the phone's lock
``device:<serial>`` on the phone's host queue at nightly priority, like the
night's own parts; the worker of the phone's host runs it
(``sweeppart._run_sides``), fenced and guarded, each launch stored in its side's
run. The parts are never moved: an A/B re-run means something only on the
suspect's own phone. A part that cannot run (its phone quarantined or in
maintenance, its host down) ends "not run", and the confirm step fails with an
``InfraError`` naming the phone (the nightly then leaves the suspects
unconfirmed and exits 3). So does a part still queued after ``wait_s`` (its phone held
all that time by a reservation or another sweep): it is taken off the queue and ends
"not run", naming what held the phone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchorch.errors import InfraError, UsageError
from benchorch.lab import parts, queue, state
from benchorch.lab.config import load_lab_config
from benchorch.lab.reroute import OVER, trouble
from benchorch.lab.submit import binary_spec, part_settings
from benchorch.lab.sweeppart import launch_to_json
from benchorch.sweep.confirm import AbStep
from benchorch.sweep.inputs import Binary
from benchorch.sweep.settings import SweepConfig

__all__ = ["run_ab_in_lab"]

log = logging.getLogger("benchorch.lab.confirm")
POLL_S = 0.5


def run_ab_in_lab(
    lab_path: Path,
    steps: Sequence[AbStep],
    sides: dict[str, dict[str, Any]],
    cfg: SweepConfig,
    *,
    wait_s: float | None = None,
) -> dict[str, int]:
    """Queue each phone's steps as one part, wait for every part to end; the launches
    stored per suspect label. ``sides``: side -> ``{"run", "binaries", "files"}``;
    ``wait_s``: how long a part may stay queued (None: until its phone is free)."""
    config = load_lab_config(lab_path)
    url = config.database_url
    by_phone: dict[str, list[AbStep]] = {}
    for step in steps:
        by_phone.setdefault(step.serial, []).append(step)
    with state.connect(url) as conn:
        if not state.tables_exist(conn):
            raise UsageError(
                "the lab database has no benchorch tables", hint="run `benchorch lab init` first"
            )
        parts.create_tables(conn)
        side_specs: dict[str, dict[str, Any]] = {}
        for name, side in sides.items():
            binaries: dict[str, Binary] = side["binaries"]
            files: dict[str, str] = side["files"]  # file name -> sha256
            for f, sha in files.items():
                if not parts.has_blob(conn, sha):
                    raise InfraError(
                        f"run {side['run']}'s variant file {f} (sha256 {sha}) is not in the lab"
                        f" database of {config.path}",
                        hint="confirm against a night whose sweep ran through this lab",
                    )
            side_specs[name] = {
                "run_id": side["run"],
                "binaries": {sha: binary_spec(conn, b) for sha, b in binaries.items()},
                "files": files,
            }
        made: dict[int, list[AbStep]] = {}
        for serial, mine in by_phone.items():
            phone = config.phone(serial)
            spec = {
                "settings": part_settings(cfg),
                "sides": side_specs,
                "launches": [
                    {"side": s.side, "binary": s.binary_sha, "launch": launch_to_json(s.spec)}
                    for s in mine
                ],
            }
            part_id = parts.create_part(
                conn,
                run_id=sides["cand"]["run"],
                serial=serial,
                host=phone.host,
                model=phone.model,
                priority=queue.NIGHTLY,
                spec=spec,
                total=len(mine),
            )
            parts.set_job(
                conn, part_id, queue.defer_part(url, serial, phone.host, part_id, queue.NIGHTLY)
            )
            made[part_id] = mine
        ended = _wait(url, conn, list(made), wait_s)
    bad = [p for p in ended if p.status not in ("ok", "failed")]
    if bad:
        raise InfraError(
            "the confirm step's A/B re-run did not run to its end on "
            + "; ".join(f"{p.serial} ({p.host}): {p.status}: {p.summary or '-'}" for p in bad),
            hint="see `benchorch lab devices` and `benchorch lab hosts`; then `benchorch nightly"
            " report` again",
        )
    spent: dict[str, int] = {}
    for mine in made.values():
        for s in mine:
            spent[s.label] = spent.get(s.label, 0) + 1
    return spent


def _free(url: str, p: parts.Part) -> bool:
    """No worker holds the part's job: cancelled now, or over (its worker found the
    phone unusable and left the part queued)."""
    if p.job_id is None or queue.cancel_queued(url, p.job_id):
        return True
    return p.move_reason is not None and queue.job_status(url, p.job_id) in OVER


def _holder(device: state.DeviceRow | None) -> str:
    """What holds the phone now, in words."""
    owner = device.owner if device is not None else None
    if owner is None:
        return "the phone was busy"
    return f"the phone was held by {owner.kind} {owner.owner}"


def _wait(url: str, conn: state.Conn, ids: list[int], wait_s: float | None) -> list[parts.Part]:
    """Every part ended; a queued one whose phone or host cannot run it ends not run, and
    so does one still queued after ``wait_s``."""
    give_up = None if wait_s is None else time.monotonic() + wait_s
    while True:
        now = [p for p in (parts.part(conn, i) for i in ids) if p is not None]
        if all(p.ended for p in now):
            return now
        devices = {d.serial: d for d in state.devices(conn)}
        hosts = state.hosts(conn)
        for p in now:
            if not p.ended and p.job_id is not None and queue.job_status(url, p.job_id) == "failed":
                raise InfraError(
                    f"the confirm step's A/B re-run on {p.serial} ({p.host}): its job"
                    f" {p.job_id} failed before the part ended",
                    hint=f"see the log of {p.host}'s `benchorch lab worker`",
                )
            if p.status != "queued" or p.token is not None:
                continue
            why = trouble(p, devices, hosts)
            if why is not None:
                note = f"not run: {why[0]} (an A/B re-run is never moved to another phone)"
            elif give_up is not None and time.monotonic() >= give_up:
                note = (
                    f"not run: not started within confirm_wait ({wait_s:.0f} s):"
                    f" {_holder(devices.get(p.serial))}"
                )
            else:
                continue
            if _free(url, p):
                parts.end_unstarted(conn, p.id, parts.NOT_RUN, note)
                log.warning("%s: %s", p.serial, note)
        time.sleep(POLL_S)
