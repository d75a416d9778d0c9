"""A reservation's job body: own the phone until released, expired or superseded.

It runs as a job holding the phone's lock (``queue.hold``), so nothing else
runs on the phone meanwhile. It polls its reservation every ``POLL_S``.
Knows nothing of the job engine: ``should_abort`` is handed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from benchorch.lab import state

__all__ = ["POLL_S", "HandBack", "run_hold"]

POLL_S = 0.5
log = logging.getLogger("benchorch.lab.hold")


class HandBack(Exception):
    """The worker is stopping: the queue retries this hold at once on another worker
    (or this one restarted), which takes the reservation over with a new token."""


def _step(url: str, rid: int, token: int, abort: bool) -> bool:
    """One check of a held reservation; False once it has ended."""
    with state.connect(url) as conn:
        r = state.reservation(conn, rid)
        if r is None or r.status != "held":
            return False
        if abort:
            state.end_reservation(conn, rid, "ended", "aborted through the queue")
            return False
        if r.token != token or not state.is_current(conn, r.serial, token):
            # superseded (this worker was presumed dead and its job retried): leave the
            # reservation to the attempt that took it over and touch nothing else
            return False
        if r.expires_at is not None and datetime.now(UTC) >= r.expires_at:
            state.end_reservation(conn, rid, "expired", f"its ttl of {r.ttl_s:.0f}s ran out")
            return False
        return True


def _begin(url: str, rid: int, job_id: int | None, worker: str) -> tuple[int, str] | None:
    with state.connect(url) as conn:
        r = state.reservation(conn, rid)
        if r is None or r.status not in ("waiting", "held"):
            return None  # released while it waited for the phone
        token = state.begin_attempt(conn, r.serial, "reservation", f"{r.holder} ({worker})", job_id)
        # "held": a retry of this job (its worker died) takes the reservation over
        taken = (
            state.hold_reservation(conn, rid, token)
            if r.status == "waiting"
            else state.retake_reservation(conn, rid, token)
        )
        if taken is None:
            state.end_attempt(conn, token, "released before held")
            if r.status == "held":
                state.end_reservation(
                    conn, rid, "expired", "its ttl ran out while its worker was down"
                )
            return None
        return token, r.serial


def _end(url: str, token: int, outcome: str) -> None:
    with state.connect(url) as conn:
        state.end_attempt(conn, token, outcome)


async def run_hold(
    url: str, rid: int, job_id: int | None, worker: str, should_abort: Callable[[], bool]
) -> None:
    began = await asyncio.to_thread(_begin, url, rid, job_id, worker)
    if began is None:
        return
    token, serial = began
    log.info("%s: reservation %d held (token %d)", serial, rid, token)
    outcome = "released"
    try:
        while await asyncio.to_thread(_step, url, rid, token, should_abort()):
            await asyncio.sleep(POLL_S)
    except asyncio.CancelledError:
        outcome = "handed back"  # the reservation stays held; its retry takes it over
        raise HandBack(f"reservation {rid} on {serial} handed back: its worker stopped") from None
    finally:
        await asyncio.to_thread(_end, url, token, outcome)
