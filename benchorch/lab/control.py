"""The control worker (``benchorch lab worker --control``): the lab's reaper.

Every ``interval_s`` it hands the jobs of workers whose heartbeat lapsed back
to the queue (the job keeps its phone lock, so the retry waits for nothing but
a worker), and logs each one on its phone. A retried job's new attempt
supersedes the dead one's fencing token. Engine-free: it calls ``queue``.
"""

from __future__ import annotations

import logging
import threading

from benchorch.errors import InfraError
from benchorch.lab import queue, state

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


def run_control(url: str, stalled_after_s: float, interval_s: float, stop: threading.Event) -> None:
    """Reap until ``stop`` is set; a database outage is logged and retried, never fatal."""
    while not stop.is_set():
        try:
            reap_once(url, stalled_after_s)
        except InfraError as exc:
            log.error("%s", exc)
        stop.wait(interval_s)
