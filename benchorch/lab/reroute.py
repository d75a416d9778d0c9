"""Moving a ``sweep --lab`` part whose phone cannot run it, before its first launch.

A queued part is stuck when its host is down or misconfigured (``benchorch_lab_hosts``,
kept by the hosts' workers and ``lab hosts``), its phone is quarantined or in
maintenance, or its attempt found the phone gone and handed it back
(``parts.move_reason``). The submitting ``sweep --lab`` calls ``reroute`` while it
waits: such a part moves to a healthy phone of the same lab.toml ``model`` (state
good, its host up, on another host when the host is the trouble, and not already in
this run: a launch key names its phone) with a new job on that phone's host queue;
with no such phone it ends "not run" with the reason (the report and exit code 3
say so). A job a worker already holds is never taken away: only a job still in the
queue is cancelled, or one whose attempt handed the part back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from benchorch.lab import parts, queue, state
from benchorch.lab.config import LabConfig

__all__ = ["Moved", "reroute", "trouble"]

log = logging.getLogger("benchorch.lab.reroute")
UNUSABLE_PHONE = ("quarantined", "maintenance")
DOWN_HOST = ("down", "misconfigured")
OVER = ("succeeded", "failed", "cancelled", "aborted")


@dataclass(frozen=True)
class Moved:
    part_id: int
    serial: str  # where it was
    to: str | None  # where it went (None: it ended not run)
    reason: str


def trouble(
    p: parts.Part, devices: dict[str, state.DeviceRow], hosts: dict[str, state.HostRow]
) -> tuple[str, bool] | None:
    """Why ``p``'s phone cannot run it (and whether its host is the trouble), or None."""
    if p.move_reason:
        return p.move_reason, False
    host = hosts.get(p.host)
    if host is not None and host.status in DOWN_HOST:
        detail = f": {host.detail}" if host.detail else ""
        return f"its host {p.host} is {host.status}{detail}", True
    d = devices.get(p.serial)
    if d is not None and d.state in UNUSABLE_PHONE:
        why = f" ({d.state_reason})" if d.state_reason else ""
        return f"{p.serial} is {d.state}{why}", False
    return None


def _target(
    config: LabConfig,
    p: parts.Part,
    taken: set[str],
    devices: dict[str, state.DeviceRow],
    hosts: dict[str, state.HostRow],
    other_host: bool,
) -> str | None:
    for phone in config.phones.values():
        if phone.model != p.model or phone.serial in taken:
            continue
        if other_host and phone.host == p.host:
            continue
        d = devices.get(phone.serial)
        h = hosts.get(phone.host)
        if d is None or d.state != "good" or (h is not None and h.status in DOWN_HOST):
            continue
        return phone.serial
    return None


def _free(url: str, p: parts.Part) -> bool:
    """True once no worker holds the part's job (cancelled now, or already over)."""
    if p.job_id is None:
        return True
    if queue.cancel_queued(url, p.job_id):
        return True
    return p.move_reason is not None and queue.job_status(url, p.job_id) in OVER


def reroute(url: str, conn: state.Conn, config: LabConfig, run_id: str) -> list[Moved]:
    """One pass over the run's queued parts; the moves and "not run" ends it made."""
    run_parts = parts.parts_of_run(conn, run_id)
    stuck = [p for p in run_parts if p.status == "queued" and p.token is None]
    if not stuck:
        return []
    devices = {d.serial: d for d in state.devices(conn)}
    hosts = state.hosts(conn)
    taken = {p.serial for p in run_parts}
    done: list[Moved] = []
    for p in stuck:
        why = trouble(p, devices, hosts)
        if why is None or not _free(url, p):
            continue
        reason, host_trouble = why
        to = _target(config, p, taken, devices, hosts, host_trouble)
        if to is None:
            where = "on another host " if host_trouble else ""
            note = f"not run: {reason}; no other healthy phone of model {p.model} {where}"
            parts.end_unstarted(conn, p.id, parts.NOT_RUN, note.strip())
            done.append(Moved(p.id, p.serial, None, reason))
            continue
        phone = config.phones[to]
        note = f"moved from {p.serial}: {reason}"
        if not parts.move(conn, p.id, to, phone.host, note):
            continue
        taken.add(to)
        job_id = queue.defer_part(url, to, phone.host, p.id, p.priority)
        parts.set_job(conn, p.id, job_id)
        state.log_event(conn, p.serial, "part:moved", f"run {run_id} part {p.id} to {to}: {reason}")
        log.warning("%s: %s", to, note)
        done.append(Moved(p.id, p.serial, to, reason))
    return done
