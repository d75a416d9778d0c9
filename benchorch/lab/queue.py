"""The lab's job engine: procrastinate on the lab's PostgreSQL.

Every procrastinate import of benchorch lives in this module (nothing else
knows the engine). What it offers the rest of benchorch:

* ``init_schema``: procrastinate's schema, once (idempotent).
* ``defer_hold``: a reservation's job, on the phone's host queue, holding the
  lock ``device:<serial>`` at ``RESERVATION`` priority (reservations outrank ad-hoc
  sweeps, which outrank the nightly).
* ``defer_health``: a phone's health check, on its host queue, holding its lock, at
  ``HEALTH`` priority (after reservations, before sweeps).
* ``defer_part``: a ``sweep --lab`` phone's part, on the phone's host queue, holding
  the lock ``device:<serial>``, at ``ADHOC`` (a person's sweep) or ``NIGHTLY``.
* ``cancel``: a job that has not started is cancelled; a running one is asked to abort.
* ``run_worker``: a host's worker: one slot per phone, polling about every second
  (a job waiting on a phone's lock starts at the next poll; docs/LAB.md).
* ``reap_stalled``: jobs of workers whose heartbeat lapsed go back to ``todo``
  (procrastinate leaves a killed worker's job ``doing``, holding its lock).

Pitfalls designed around (docs/LAB.md): no device-locked job is ever deferred into
the future (#1599), the reaper is not itself a locked task (#1408), and no
``queueing_lock`` is combined with ``lock`` (#1543).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from procrastinate import sync_psycopg_connector

from benchorch.errors import InfraError, StoreUnavailable
from benchorch.lab import state
from benchorch.lab.config import mask_url

__all__ = [
    "ADHOC",
    "HEALTH",
    "NIGHTLY",
    "RESERVATION",
    "JobRow",
    "Reaped",
    "cancel",
    "cancel_queued",
    "defer_health",
    "defer_hold",
    "defer_part",
    "device_lock",
    "host_queue",
    "init_schema",
    "job_status",
    "jobs_on_lock",
    "make_app",
    "reap_stalled",
    "run_worker",
]

RESERVATION = 100
HEALTH = 75
ADHOC = 50
NIGHTLY = 0
POLL_S = 1.0
HEARTBEAT_S = 2.0
STALLED_AFTER_S = 10.0
POOL_BACK_S = 30.0


log = logging.getLogger("benchorch.lab.queue")
_wrapped = sync_psycopg_connector.wrap_exceptions  # psycopg's errors as procrastinate's


def _db_away(exc: BaseException) -> bool:
    return isinstance(exc, pexc.ConnectorException) and state.db_away(exc.__cause__ or exc)


class PatientConnector(procrastinate.PsycopgConnector):
    """procrastinate's connector, riding out a database restart.

    procrastinate 3.10 stops a worker at the first query that fails (its heartbeat, its
    fetch, its listener), and its running jobs with it. Here a query that failed because
    the server went away is tried again until the server answers, for at most
    ``state.OUTAGE_S`` (then it fails as before: the worker stops, and the reaper retries
    its jobs once the database is back). The tries after a failure each open a
    connection of their own: the pool re-opens its connections with a growing back-off
    (1, 2, 4... s), which would leave a live worker's heartbeat silent for seconds after
    the server is back; the pool is used again ``POOL_BACK_S`` after the last failure.
    The listener (LISTEN/NOTIFY) waits out any outage: polling every second does without
    it meanwhile. A statement cut off by a restart did not commit,
    so trying it again is safe; the one window left (the commit reached the server, its
    answer did not) is a fetched job its worker never heard of: it stays ``doing`` under
    a live worker's heartbeat.
    """

    _pool_back_at = 0.0  # until then, every query opens a connection of its own

    async def _patiently(
        self, what: str, query: Any, arguments: dict[str, Any], fetch: str | None
    ) -> Any:
        deadline: float | None = None
        while True:
            try:
                if deadline is None and time.monotonic() >= self._pool_back_at:
                    async with self._get_cursor() as cursor:
                        return await self._run(cursor, query, arguments, fetch)
                async with self._get_standalone_connection() as conn:
                    async with self._get_cursor(connection=conn) as cursor:
                        return await self._run(cursor, query, arguments, fetch)
            except Exception as exc:
                if not state.db_away(exc):
                    raise
                now = time.monotonic()
                self._pool_back_at = now + POOL_BACK_S
                if deadline is None:
                    deadline = now + state.OUTAGE_S
                    log.warning("queue %s: the lab database is away; waiting for it", what)
                if now >= deadline:
                    raise
                await asyncio.sleep(state.RETRY_S)

    async def _run(
        self, cursor: Any, query: Any, arguments: dict[str, Any], fetch: str | None
    ) -> Any:
        await cursor.execute(query, self._wrap_json(arguments))
        if fetch == "all":
            return await cursor.fetchall()
        if fetch == "one":
            result = await cursor.fetchone()
            if result is None:
                raise pexc.NoResult
            return result
        return None

    async def execute_query_async(self, query: Any, **arguments: Any) -> None:
        with _wrapped():
            await self._patiently("write", query, arguments, None)

    async def execute_query_one_async(self, query: Any, **arguments: Any) -> dict[str, Any]:
        with _wrapped():
            return dict(await self._patiently("query", query, arguments, "one"))

    async def execute_query_all_async(self, query: Any, **arguments: Any) -> list[dict[str, Any]]:
        with _wrapped():
            return list(await self._patiently("query", query, arguments, "all"))

    async def listen_notify(self, on_notification: Any, channels: Iterable[str]) -> None:
        parent = super().listen_notify
        while True:
            try:
                await parent(on_notification, channels)
            except pexc.ConnectorException as exc:
                if not _db_away(exc):
                    raise
                await asyncio.sleep(state.RETRY_S)


def device_lock(serial: str) -> str:
    return f"device:{serial}"


def host_queue(host: str) -> str:
    return f"host:{host}"


def make_app(url: str) -> procrastinate.App:
    # a short wait for a pooled connection: a try during an outage fails and is tried again
    connector = PatientConnector(conninfo=url, timeout=5.0, kwargs={"connect_timeout": 5})
    app = procrastinate.App(connector=connector)

    from benchorch.lab.hold import HandBack
    from benchorch.lab.sweeppart import PartHandBack

    # A stopping worker hands its holds and parts back: retried at once (never scheduled
    # into the future, which would block the phone's lock: #1599), no queueing_lock (#1543).
    handback = procrastinate.RetryStrategy(retry_exceptions=[HandBack, PartHandBack])

    @app.task(name="benchorch.lab.hold", pass_context=True, retry=handback)
    async def hold(context: procrastinate.JobContext, rid: int) -> None:
        from benchorch.lab.hold import run_hold

        extra = context.additional_context
        await run_hold(
            extra["lab_url"], rid, context.job.id, context.worker_name or "?", context.should_abort
        )

    @app.task(name="benchorch.lab.health", pass_context=True)
    async def health(context: procrastinate.JobContext, serial: str) -> None:
        from benchorch.lab.health import run_health_job

        extra = context.additional_context
        link = extra.get("host_link")
        await run_health_job(
            extra["lab_url"],
            serial,
            context.job.id,
            context.worker_name or "?",
            extra.get("adb_addr"),
            link is None or link.status.up,
            int(extra.get("quarantine_after", 3)),
        )

    @app.task(name="benchorch.lab.sweep_part", pass_context=True, retry=handback)
    async def sweep_part(context: procrastinate.JobContext, part_id: int) -> None:
        from benchorch.lab.sweeppart import run_part_job

        extra = context.additional_context
        link = extra.get("host_link")

        def shutting_down() -> bool:
            return context.abort_reason() == procrastinate.job_context.AbortReason.SHUTDOWN

        await run_part_job(
            extra["lab_url"],
            part_id,
            context.job.id,
            context.worker_name or "?",
            extra.get("adb_addr"),
            shutting_down,
            lambda: link is None or link.status.up,
            int(extra.get("quarantine_after", 3)),
            dict(extra.get("phone_storage", {})),
        )

    return app


def _infra(url: str, exc: BaseException) -> InfraError:
    cause = exc.__cause__ if isinstance(exc, pexc.ConnectorException) else exc
    first = (str(cause or exc).strip().splitlines() or [type(exc).__name__])[0]
    kind = StoreUnavailable if state.db_away(cause or exc) else InfraError
    return kind(f"lab queue on {mask_url(url)} failed: {mask_url(first)}")


def init_schema(url: str) -> bool:
    """procrastinate's schema; False when it was already there. Run under ``state.init_lock``."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row and row[0]:
            return False
    app = make_app(url)
    try:
        with app.open():
            app.schema_manager.apply_schema()
    except (pexc.ProcrastinateException, OSError) as exc:
        raise _infra(url, exc) from exc
    return True


def defer_hold(url: str, serial: str, host: str, rid: int) -> int:
    app = make_app(url)
    try:
        with app.open():
            task = app.tasks["benchorch.lab.hold"]
            return int(
                task.configure(
                    queue=host_queue(host), lock=device_lock(serial), priority=RESERVATION
                ).defer(rid=rid)
            )
    except (pexc.ProcrastinateException, OSError) as exc:
        raise _infra(url, exc) from exc


def defer_health(url: str, serial: str, host: str) -> int:
    """A health check of ``serial`` on ``host``'s queue, holding the phone's lock."""
    app = make_app(url)
    try:
        with app.open():
            task = app.tasks["benchorch.lab.health"]
            return int(
                task.configure(
                    queue=host_queue(host), lock=device_lock(serial), priority=HEALTH
                ).defer(serial=serial)
            )
    except (pexc.ProcrastinateException, OSError) as exc:
        raise _infra(url, exc) from exc


def defer_part(url: str, serial: str, host: str, part_id: int, priority: int) -> int:
    """A sweep part's job on ``host``'s queue, holding the phone's lock."""
    app = make_app(url)
    try:
        with app.open():
            task = app.tasks["benchorch.lab.sweep_part"]
            return int(
                task.configure(
                    queue=host_queue(host), lock=device_lock(serial), priority=priority
                ).defer(part_id=part_id)
            )
    except (pexc.ProcrastinateException, OSError) as exc:
        raise _infra(url, exc) from exc


def cancel_queued(url: str, job_id: int) -> bool:
    """Cancel a job that has not started; False when a worker has it (or it ended)."""
    app = make_app(url)
    try:
        with app.open():
            return bool(app.job_manager.cancel_job_by_id(job_id))
    except (pexc.ProcrastinateException, OSError) as exc:
        raise _infra(url, exc) from exc


def job_status(url: str, job_id: int) -> str | None:
    """The queue's status of a job (todo, doing, succeeded, failed, cancelled, aborted)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT status::text FROM procrastinate_jobs WHERE id = %s", (job_id,)
        ).fetchone()
    return None if row is None else str(row[0])


def cancel(url: str, job_id: int) -> None:
    """A job not started yet is cancelled; a running one is asked to abort."""
    app = make_app(url)
    with app.open():
        if not app.job_manager.cancel_job_by_id(job_id):
            app.job_manager.cancel_job_by_id(job_id, abort=True)


@dataclass(frozen=True)
class JobRow:
    id: int
    task: str
    status: str
    lock: str | None
    queue: str
    worker_id: int | None


def jobs_on_lock(url: str, lock: str) -> list[JobRow]:
    """The queue's own view of a lock's jobs (for checks and tests; benchorch trusts its tables)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT id, task_name, status::text, lock, queue_name, worker_id"
            " FROM procrastinate_jobs WHERE lock = %s ORDER BY id",
            (lock,),
        ).fetchall()
    return [JobRow(*r) for r in rows]


@dataclass(frozen=True)
class Reaped:
    job_id: int
    lock: str | None
    queue: str


UPTIME_SQL = "SELECT extract(epoch FROM now() - pg_postmaster_start_time()) AS s"


def reap_stalled(url: str, stalled_after_s: float = STALLED_AFTER_S) -> list[Reaped]:
    """Jobs whose worker's heartbeat lapsed go back to ``todo`` (retried now, same lock).

    Nothing is reaped while the database server has been up for less than
    ``stalled_after_s``: a restart stopped every worker's heartbeat, and a live worker
    needs that long to be heard again. Not a locked periodic task (#1408): the control
    worker calls it in a plain loop.
    """
    app = make_app(url)

    async def run() -> list[Reaped]:
        async with app.open_async():
            manager = app.job_manager
            (row,) = await app.connector.execute_query_all_async(UPTIME_SQL)
            if float(row["s"]) < stalled_after_s:
                return []
            stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s))
            for job in stalled:
                await manager.retry_job(job)
            return [Reaped(int(j.id or 0), j.lock, j.queue) for j in stalled]

    try:
        return asyncio.run(run())
    except (pexc.ProcrastinateException, OSError, psycopg.Error) as exc:
        raise _infra(url, exc) from exc


def worker_name(host: str) -> str:
    return f"benchorch-lab-{host}-{socket.gethostname()}-{os.getpid()}"


def run_worker(
    url: str, host: str, slots: int, context: dict[str, Any] | None = None, **extra: Any
) -> None:
    """Serve ``host``'s queue in the foreground until SIGTERM/SIGINT.

    A job body finds ``context`` in ``JobContext.additional_context`` beside
    ``lab_url``: the worker passes ``adb_addr`` (``"HOST:PORT"`` of the host's adb
    server as this process reaches it: the hub's forward or the local server;
    ``ServerAddr.resolve`` reads it), ``host_link`` (its ``link.HostLink``:
    ``.status.up`` before using a phone) and ``quarantine_after`` (lab.toml).
    Running jobs get ``shutdown_graceful_timeout`` to finish, then are cancelled.
    """
    app = make_app(url)
    app.run_worker(
        queues=[host_queue(host)],
        name=worker_name(host),
        concurrency=max(1, slots),
        fetch_job_polling_interval=POLL_S,
        abort_job_polling_interval=POLL_S,
        update_heartbeat_interval=HEARTBEAT_S,
        stalled_worker_timeout=STALLED_AFTER_S,
        shutdown_graceful_timeout=extra.pop("shutdown_graceful_timeout", 5.0),
        additional_context={**(context or {}), "lab_url": url},
        install_signal_handlers=True,
        delete_jobs="never",
        **extra,
    )
