"""The control worker (``benchorch lab worker --control``): the lab's reaper, the
scheduler of health checks and the host probes.

Every ``interval_s`` it hands the jobs of workers whose heartbeat lapsed back
to the queue (the job keeps its phone lock, so the retry waits for nothing but
a worker), and logs each one on its phone. A retried job's new attempt
supersedes the dead one's fencing token. Then it defers a health check
(``queue.defer_health``: a job holding the phone's lock) for each suspect or
benchorch-quarantined phone whose last check is older than ``health_every_s``
and that has none queued or running. Every ``probe_every_s``, in a thread of its own,
it probes each host as ``lab hosts`` does and records the answer (``set_host_probe``)
beside what the host's worker records: a host whose worker died with it is seen down
too. Engine-free: it calls ``queue``.
"""

from __future__ import annotations

import logging
import threading

from benchorch.errors import InfraError
from benchorch.lab import queue, state
from benchorch.lab.config import LabConfig
from benchorch.lab.hosts import HostReport, probe_hosts

__all__ = ["run_control"]

log = logging.getLogger("benchorch.lab.control")


def reap_once(url: str, stalled_after_s: float) -> list[queue.Reaped]:
    reaped = queue.reap_stalled(url, stalled_after_s)
    if reaped:
        with state.connect(url) as conn:
            for r in reaped:
                serial = (r.lock or "").removeprefix("device:")
                if serial:
                    state.log_event(
                        conn, serial, "reaped", f"job {r.job_id} of a dead worker retried"
                    )
                log.warning("job %d (%s) of a dead worker retried", r.job_id, r.lock)
    return reaped


HEALTH_TASK = "benchorch.lab.health"


def schedule_health(config: LabConfig, every_s: float) -> list[str]:
    """Defer a health check for each phone that wants one; the serials deferred."""
    url = config.database_url
    with state.connect(url) as conn:
        due = [d for d in state.health_due(conn, every_s) if d.serial in config.phones]
    deferred = []
    for d in due:
        jobs = queue.jobs_on_lock(url, queue.device_lock(d.serial))
        if any(j.task == HEALTH_TASK and j.status in ("todo", "doing") for j in jobs):
            continue
        job_id = queue.defer_health(url, d.serial, config.phones[d.serial].host)
        with state.connect(url) as conn:
            state.log_event(conn, d.serial, "health:queued", f"job {job_id} ({d.state})")
        deferred.append(d.serial)
    return deferred


def probe_once(config: LabConfig) -> list[HostReport]:
    """Probe every host as ``lab hosts`` does (its adb server's version first, then the
    phones it lists; hub hosts through their verified SSH forward; every call with a
    deadline) and record each answer beside what the host's worker recorded."""
    reports = probe_hosts(config)
    with state.connect(config.database_url) as conn:
        for r in reports:
            if state.set_host_probe(conn, r.name, r.mode, r.status, r.detail, r.missing):
                level = logging.INFO if r.status == "up" else logging.WARNING
                log.log(level, "host %s probed %s %s", r.name, r.status, r.detail)
    return reports


def _probe_loop(config: LabConfig, every_s: float, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            probe_once(config)
        except InfraError as exc:
            log.error("host probes: %s", exc)
        except Exception:  # a defect in one round must not end the probes
            log.exception("host probes failed")
        stop.wait(every_s)


def run_control(
    url: str,
    stalled_after_s: float,
    interval_s: float,
    stop: threading.Event,
    config: LabConfig | None = None,
    health_every_s: float = 60.0,
    probe_every_s: float = 0.0,
) -> None:
    """Reap (and schedule health checks when given ``config``) until ``stop`` is set;
    a database outage is logged and retried, never fatal. With ``config`` and
    ``probe_every_s`` > 0, the hosts are probed that often in a thread of their own (a
    black-holed host's deadlines never delay the reaper)."""
    probes = None
    if config is not None and probe_every_s > 0:
        probes = threading.Thread(
            target=_probe_loop, args=(config, probe_every_s, stop), name="lab-probes", daemon=True
        )
        probes.start()
    while not stop.is_set():
        try:
            reap_once(url, stalled_after_s)
            if config is not None:
                schedule_health(config, health_every_s)
        except InfraError as exc:
            log.error("%s", exc)
        stop.wait(interval_s)
    if probes is not None:
        probes.join(30)
