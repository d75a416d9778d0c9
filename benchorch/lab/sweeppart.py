"""One phone's part of a ``sweep --lab``, run by the worker of the phone's host.

The job (``queue``'s ``benchorch.lab.sweep_part``, holding the lock
``device:<serial>``) calls ``run_part_job``. In order:

1. a fenced attempt begins (``state.begin_attempt``: every older attempt on the
   phone is superseded) and takes the part (``parts.take``); a part that has
   already ended is left alone (a retried job of a finished part);
2. the phone is opened on the host's adb server and the guard on it is claimed
   with the token (``guard.claim``: an older attempt's leftover processes are
   killed first);
3. the binaries and variant files are fetched by content hash from the lab
   database into this machine's cache (``parts.fetch_blob``);
4. the launches not stored yet for this phone (a retried part resumes) run
   through the normal executor with the lab's hooks: the fence asked before
   each launch, every launch run inside the guard, and each result written by
   ``Store.record_launch_if`` in one transaction with the fence (so a
   superseded attempt stores nothing, and a launch key is stored at most once);
5. the part's last status is written (only by the current attempt) and the
   attempt ends with that status as its outcome.

Knows nothing of the job engine: the abort and the shutdown come in as calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchorch.build.provenance import Provenance
from benchorch.devices import open_device
from benchorch.devices.base import Device
from benchorch.devices.phonestore import DEFAULT_MAX_PHONE_STORAGE
from benchorch.domain import ModelFormat
from benchorch.errors import (
    BenchorchError,
    DeviceNotFound,
    DeviceUnreachable,
    StoreUnavailable,
)
from benchorch.lab import guard, parts, state
from benchorch.paths import cache_root
from benchorch.store import LaunchRecord, Store
from benchorch.store.location import parse_db
from benchorch.sweep.executor import (
    DEVICE_ERROR,
    DEVICE_FAILED,
    DEVICE_INTERRUPTED,
    DEVICE_LOST,
    DEVICE_OK,
    DEVICE_REFUSED,
    DEVICE_SUPERSEDED,
    DeviceProgress,
    DeviceWork,
    Executor,
    SweepSettings,
)
from benchorch.sweep.inputs import Binary, check_abi
from benchorch.sweep.launch import LaunchOutcome, LaunchPolicy
from benchorch.sweep.plan import LaunchSpec

__all__ = [
    "INFRA_STATUSES",
    "PartHandBack",
    "failure_kind",
    "launch_from_json",
    "launch_to_json",
    "run_part",
    "run_part_job",
]

log = logging.getLogger("benchorch.lab.sweeppart")

#: Part statuses that are the phone's or the lab's fault (counted against the phone by
#: the health rules), as opposed to a benchmark's own failure (``failed``), which never is.
INFRA_STATUSES = frozenset({DEVICE_LOST, DEVICE_REFUSED, DEVICE_ERROR})
HANDED_BACK = "handed back"
#: the part's phone or host was unusable before its first launch: back to its submitter,
#: which moves it to another phone of the model (``reroute``) or ends it not run
MOVING = "moving"


class PartHandBack(Exception):
    """The worker is stopping: the queue retries this part at once; the retry resumes it."""


def failure_kind(status: str) -> str | None:
    """``"infra"`` (the phone or the lab failed), ``"benchmark"`` (a launch failed on its
    own), or None (ok, superseded, interrupted, handed back)."""
    if status in INFRA_STATUSES:
        return "infra"
    if status == DEVICE_FAILED:
        return "benchmark"
    return None


def launch_to_json(spec: LaunchSpec) -> dict[str, Any]:
    out = dataclasses.asdict(spec)
    out["format"] = spec.format.value
    return out


def launch_from_json(data: dict[str, Any]) -> LaunchSpec:
    values = dict(data)
    values["format"] = ModelFormat(values["format"])
    return LaunchSpec(**values)


def _blobs_cache() -> Path:
    return cache_root() / "lab-files"


def _binary(conn: state.Conn, data: dict[str, Any] | None, cache: Path) -> Binary | None:
    """The binary of the spec, its files fetched into this machine's cache."""
    if data is None:
        return None
    prov = Provenance.from_dict(data["provenance"])
    local = parts.fetch_blob(conn, data["sha256"], data["name"], cache)
    extra = tuple(parts.fetch_blob(conn, sha, name, cache) for name, sha in data["extra"].items())
    prov = dataclasses.replace(prov, path=str(local), extra_files=tuple(str(p) for p in extra))
    return Binary(provenance=prov, local_path=local, extra_files=extra)


def _stored_keys(conn: state.Conn, run_id: str, serial: str) -> set[str]:
    """Launch keys of this phone already stored in the run (whatever their outcome)."""
    rows = conn.execute(
        "SELECT DISTINCT launch_key FROM launches WHERE run_id = %s AND device_serial = %s",
        (run_id, serial),
    ).fetchall()
    return {str(r["launch_key"]) for r in rows}


def _fenced_write(serial: str, token: int) -> Callable[[Store, LaunchRecord], bool]:
    """The executor's write: the launch stored in one transaction with the fence; False
    only when a later attempt took the phone. While the database is away (a restart) the
    measured launch waits here, in memory, and is written when it answers (for at most
    ``state.OUTAGE_S``): it cannot wait in the store's spool, whose replay is unfenced,
    and nothing else may store it (a later attempt measures it again). The next launch
    starts only after the fence answers."""

    def write(store: Store, rec: LaunchRecord) -> bool:
        stored_already = False

        def check(conn: sa.Connection) -> bool:
            nonlocal stored_already
            conn.exec_driver_sql(state.SHARE_DEVICE_SQL, (serial,))
            if not conn.exec_driver_sql(state.CURRENT_SQL, (serial, token, token)).scalar():
                return False
            held = conn.exec_driver_sql(
                "SELECT 1 FROM launches WHERE run_id = %s AND launch_key = %s LIMIT 1",
                (rec.run_id, rec.launch_key),
            ).first()
            # held by this attempt's own earlier try (committed, its answer lost): stored
            stored_already = held is not None
            return held is None

        def once() -> bool:
            return store.record_launch_if(rec, check) is not None or stored_already

        return state.outlast(once, f"{serial}: storing launch {rec.launch_key}")

    return write


class _PartState:
    """The part's row, written by this attempt only (one connection, one thread)."""

    def __init__(self, url: str, part_id: int, serial: str, token: int) -> None:
        self.url, self.part_id, self.serial, self.token = url, part_id, serial, token
        self.conn: state.Conn | None = None
        self.lock = threading.Lock()
        self.db_lost = False  # the lab database stayed away past ``state.OUTAGE_S``

    def _conn(self) -> state.Conn:
        if self.conn is None or self.conn.closed:
            self.conn = state.connect(self.url)
        return self.conn

    def _once(self, call: Callable[[state.Conn], bool]) -> bool:
        try:
            return call(self._conn())
        except Exception:
            self.conn = None  # the next try opens a new connection
            raise

    def _progress(self, prog: DeviceProgress) -> bool:
        return self._once(
            lambda conn: parts.progress(
                conn,
                self.part_id,
                self.token,
                status=prog.status,
                done=prog.done,
                failed=prog.failed,
                current=prog.current,
                message=prog.message,
            )
        )

    def write(self, prog: DeviceProgress) -> bool:
        """The part's last status: waits for the database when it is away (a restart)."""
        with self.lock:
            return state.outlast(lambda: self._progress(prog), f"part {self.part_id}: its status")

    def update(self, prog: DeviceProgress) -> None:
        with self.lock:
            try:
                self._progress(prog)
            except Exception as exc:  # progress is advisory; the fence decides
                log.warning("part %d: progress not written: %s", self.part_id, exc)

    def current(self) -> bool:
        """The fence before each launch. While the database is away (a restart) no launch
        starts: it waits for the answer (at most ``state.OUTAGE_S``, then
        ``StoreUnavailable`` ends the part); any other failure fails closed."""
        with self.lock:
            try:
                return state.outlast(
                    lambda: self._once(
                        lambda conn: state.is_current(conn, self.serial, self.token)
                    ),
                    f"part {self.part_id}: the fence",
                )
            except StoreUnavailable:
                self.db_lost = True
                raise
            except Exception:
                log.exception("part %d: the fence could not be asked", self.part_id)
                return False

    def fenced_write(self) -> Callable[[Store, LaunchRecord], bool]:
        """The executor's write for this attempt (``_fenced_write``); a database away past
        ``state.OUTAGE_S`` is remembered (``db_lost``: not the phone's fault)."""
        fenced = _fenced_write(self.serial, self.token)

        def write(store: Store, rec: LaunchRecord) -> bool:
            try:
                return fenced(store, rec)
            except StoreUnavailable:
                self.db_lost = True
                raise

        return write

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()


class PhoneQuarantined(BenchorchError):
    """The phone was quarantined during the part: its remaining launches are not run."""


class _LaunchHealth:
    """The phone's health rules, launch by launch (``DeviceWork.on_launch``).

    A launch during which the phone dropped counts as an infrastructure failure of the
    phone even when it came back and the launch's retry was stored: a phone that drops
    every other launch never fails a part (each launch's retry succeeds), yet keeps
    failing for infrastructure reasons. A launch that ran without a drop ends the streak
    (whatever the benchmark's own outcome: a bad model or a crash never counts). Reaching
    ``quarantine_after`` in a row quarantines the phone, and the part stops there."""

    def __init__(self, url: str, serial: str, quarantine_after: int) -> None:
        self.url, self.serial, self.quarantine_after = url, serial, quarantine_after
        self.streak = False  # this part counted a failure the phone's row still carries

    def __call__(self, outcome: LaunchOutcome) -> None:
        if outcome.retryable:
            return  # its retries ran out: the part ends lost, counted once at its end
        if not outcome.drops and not self.streak:
            return  # nothing to write: the common case costs no query
        detail = f"dropped {outcome.drops}x during a launch, which ran again"

        def count() -> str:
            with state.connect(self.url) as conn:
                return state.record_use(
                    conn,
                    self.serial,
                    outcome.drops > 0,
                    quarantine_after=self.quarantine_after,
                    detail=detail if outcome.drops else None,
                )

        now = state.outlast(count, f"{self.serial}: counting a launch")
        self.streak = outcome.drops > 0
        if outcome.drops and now == "quarantined":
            raise PhoneQuarantined(
                f"{self.serial} was quarantined: it dropped during {self.quarantine_after}"
                " launches in a row; its remaining launches were not run",
                hint="`benchorch lab devices` shows why; a passing health check or"
                " `benchorch lab unquarantine` puts it back",
            )


class _HostWatch:
    """While a part runs: once the worker's link says the host is down (its checks have
    a few seconds' deadline), the part stops and every adb call in flight on the phone
    fails at once (``AdbDevice.abort``). A black-holed host's adb server answers
    nothing, so without this each call waits for its own timeout and each retry for its
    reconnect (minutes with the default settings)."""

    POLL_S = 0.5

    def __init__(
        self, host_up: Callable[[], bool], device: Device, stop: threading.Event, host: str
    ) -> None:
        self.host_up, self.device, self.stop, self.host = host_up, device, stop, host
        self.lost: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lab-host-watch", daemon=True)

    def _watch(self) -> None:
        while not self._done.wait(self.POLL_S):
            if not self.host_up():
                self.lost = (
                    f"its host {self.host} went down mid-part (the worker's link to its adb"
                    " server); the launches left were not run"
                )
                self.stop.set()
                abort = getattr(self.device, "abort", None)
                if abort is not None:
                    abort(f"its host {self.host} is down")
                return

    def __enter__(self) -> _HostWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)


def _begin(
    url: str, part_id: int, job_id: int | None, worker: str
) -> tuple[parts.Part, int, str] | None:
    with state.connect(url) as conn:
        p = parts.part(conn, part_id)
        if p is None or p.ended:
            return None
        d = state.device(conn, p.serial)
        if d is not None and d.state in ("quarantined", "maintenance"):
            why = d.state + (f" ({d.state_reason})" if d.state_reason else "")
            parts.ask_move(conn, part_id, f"{p.serial} is {why}")
            return None
        token = state.begin_attempt(conn, p.serial, "sweep", f"run {p.run_id} ({worker})", job_id)
        taken = parts.take(conn, part_id, token)
        if taken is None:
            state.end_attempt(conn, token, "part already ended")
            return None
        return taken, token, state.lab_id(conn)


def _settings(run_id: str, data: dict[str, Any], max_phone_storage: int | None) -> SweepSettings:
    """The part's settings; the phone's storage bound is its worker's lab.toml's."""
    return SweepSettings(
        run_id=run_id,
        launch=LaunchPolicy(
            timeout_s=data["timeout_s"],
            cooldown_temp_c=data["cooldown_temp_c"],
            cooldown_max_wait_s=data["cooldown_max_wait_s"],
        ),
        min_battery=data["min_battery"],
        retries=data["retries"],
        reconnect_s=data["reconnect_s"],
        pin=data["pin"],
        max_phone_storage=max_phone_storage or DEFAULT_MAX_PHONE_STORAGE,
    )


def run_part(
    url: str,
    part_id: int,
    job_id: int | None,
    worker: str,
    adb_addr: str | None,
    stop: threading.Event,
    handing_back: threading.Event,
    host_up: Callable[[], bool] = lambda: True,
    quarantine_after: int = state.QUARANTINE_AFTER,
    phone_storage: Mapping[str, int] | None = None,
) -> str | None:
    """Run one part (steps 1-5 above) in this thread; its last status (None: not taken)."""
    began = _begin(url, part_id, job_id, worker)
    if began is None:
        return None
    part, token, lab = began
    spec, serial = part.spec, part.serial
    row = _PartState(url, part_id, serial, token)
    # an A/B part's launches carry their side: {"side", "binary", "launch"}
    launches = [launch_from_json(x.get("launch", x)) for x in spec["launches"]]
    prog = DeviceProgress(serial, len(launches), status="preparing")
    device: Device | None = None
    with state.connect(url) as conn:
        # a part that stored nothing on its phone yet may move to another phone
        movable = not _stored_keys(conn, part.run_id, serial)
    try:
        if not host_up():
            raise DeviceUnreachable(
                f"its host {part.host} is down (the worker's link to its adb server)",
                serial=serial,
            )
        device = open_device(serial, adb_addr=adb_addr)
        info = device.info()
        claim = guard.claim(device, token, lab)
        if claim.killed:
            log.warning("%s: killed %d leftovers of an older attempt", serial, claim.killed)
        if "sides" in spec:  # the nightly's A/B confirm step (``confirm_lab``)
            movable = False
            bound = (phone_storage or {}).get(serial)
            health = _LaunchHealth(url, serial, quarantine_after)
            with _HostWatch(host_up, device, stop, part.host) as watch:
                _run_sides(url, spec, device, info, token, row, stop, prog, bound, health)
            if watch.lost is not None:
                prog.status, prog.message = DEVICE_LOST, watch.lost
            return _finish(url, row, prog, device, token, handing_back, quarantine_after, host_up)
        cache = _blobs_cache()
        with state.connect(url) as conn:
            binary = _binary(conn, spec["binary"], cache)
            et_binary = _binary(conn, spec.get("et_binary"), cache)
            files = {
                name: parts.fetch_blob(conn, sha, name, cache)
                for name, sha in spec["files"].items()
            }
            stored = _stored_keys(conn, part.run_id, serial)
        assert binary is not None
        check_abi(binary, info)
        todo = [s for s in launches if s.key_for(serial) not in stored]
        prog.done = len(launches) - len(todo)
        with Store(url) as store:
            store.record_device(part.run_id, info)
        executor = Executor(
            store_path=parse_db(url),
            settings=_settings(part.run_id, spec["settings"], (phone_storage or {}).get(serial)),
            variant_files=files,
            progress=row.update,
        )
        executor.stop = stop
        dev = device

        def wrap(argv: Sequence[str]) -> list[str]:
            return guard.wrapped(dev, token, argv)

        work = DeviceWork(
            device,
            info,
            binary,
            todo,
            et_binary,
            fence=row.current,
            write=row.fenced_write(),
            wrap=wrap,
            on_launch=_LaunchHealth(url, serial, quarantine_after),
        )
        movable = False  # from here on the part runs on this phone or not at all
        if todo:
            with _HostWatch(host_up, device, executor.stop, part.host) as watch:
                executor.run_device(work, prog)
            if watch.lost is not None:
                prog.status, prog.message = DEVICE_LOST, watch.lost
        else:
            prog.status = DEVICE_OK
    except (DeviceNotFound, DeviceUnreachable) as exc:
        prog.status, prog.message = DEVICE_LOST, str(exc)
        if movable:
            prog.status = MOVING
    except BenchorchError as exc:
        prog.status, prog.message = DEVICE_REFUSED, str(exc)
    except Exception as exc:  # a defect must not pass for a clean part
        log.exception("part %d on %s failed", part_id, serial)
        prog.status, prog.message = DEVICE_ERROR, f"internal error: {exc!r}"
    return _finish(url, row, prog, device, token, handing_back, quarantine_after, host_up)


def _run_sides(
    url: str,
    spec: dict[str, Any],
    device: Device,
    info: Any,
    token: int,
    row: _PartState,
    stop: threading.Event,
    prog: DeviceProgress,
    max_phone_storage: int | None,
    health: _LaunchHealth,
) -> None:
    """An A/B part (``confirm_lab``): its launches in their order, each into its side's run
    with its side's binary and files, every one fenced and guarded like a sweep's, under
    the same health rules (drops counted per launch; the caller's ``_HostWatch`` stops it
    when the host goes down); a launch stored already (a retried part) is not run again."""
    cache = _blobs_cache()
    serial = info.serial
    sides: dict[str, tuple[Executor, dict[str, Binary], set[str]]] = {}
    with state.connect(url) as conn:
        for name, side in spec["sides"].items():
            binaries = {}
            for sha, data in side["binaries"].items():
                binary = _binary(conn, data, cache)
                assert binary is not None
                check_abi(binary, info)
                binaries[sha] = binary
            files = {f: parts.fetch_blob(conn, sha, f, cache) for f, sha in side["files"].items()}
            executor = Executor(
                store_path=parse_db(url),
                settings=_settings(side["run_id"], spec["settings"], max_phone_storage),
                variant_files=files,
            )
            executor.stop = stop
            sides[name] = (executor, binaries, _stored_keys(conn, side["run_id"], serial))
    with Store(url) as store:
        for side in spec["sides"].values():
            store.record_device(side["run_id"], info)
    write = row.fenced_write()

    def wrap(argv: Sequence[str]) -> list[str]:
        return guard.wrapped(device, token, argv)

    prog.status = "running"
    for entry in spec["launches"]:
        executor, binaries, stored = sides[entry["side"]]
        launch = launch_from_json(entry["launch"])
        if launch.key_for(serial) in stored:
            prog.done += 1
            continue
        if stop.is_set():
            prog.status = DEVICE_INTERRUPTED
            return
        one = DeviceProgress(serial, 1)
        work = DeviceWork(
            device,
            info,
            binaries[entry["binary"]],
            [launch],
            fence=row.current,
            write=write,
            wrap=wrap,
            on_launch=health,
        )
        executor.run_device(work, one)
        prog.done, prog.failed = prog.done + one.done, prog.failed + one.failed
        if one.status not in (DEVICE_OK, DEVICE_FAILED):
            prog.status, prog.message = one.status, one.message
            return
        row.update(prog)
    prog.status = DEVICE_FAILED if prog.failed else DEVICE_OK


def _finish(
    url: str,
    row: _PartState,
    prog: DeviceProgress,
    device: Device | None,
    token: int,
    handing_back: threading.Event,
    quarantine_after: int,
    host_up: Callable[[], bool],
) -> str:
    status = prog.status
    try:
        if status == DEVICE_SUPERSEDED:
            return status  # the part belongs to the later attempt: touch nothing
        if status == MOVING:
            reason = prog.message

            def move() -> None:
                with state.connect(url) as conn:
                    parts.release_for_move(conn, row.part_id, token, reason)
                    state.end_attempt(conn, token, f"infra: {DEVICE_LOST} (handed back to move)")
                    if host_up():  # a host that is down is not the phone's fault
                        state.record_use(
                            conn, row.serial, True, quarantine_after=quarantine_after, detail=reason
                        )

            state.outlast(move, f"part {row.part_id}: handing it back to move")
            return status
        if status == DEVICE_INTERRUPTED and handing_back.is_set():
            prog.status, prog.message, prog.current = (
                "queued",
                "handed back: its worker stopped",
                "",
            )
            row.write(prog)
            status = HANDED_BACK
        else:
            prog.current = ""
            if status not in (DEVICE_OK, DEVICE_FAILED) and not prog.message:
                prog.message = status
            row.write(prog)
        kind = failure_kind(status)

        def end() -> None:
            with state.connect(url) as conn:
                state.end_attempt(conn, token, status if kind is None else f"{kind}: {status}")
                if row.db_lost or not host_up():
                    return  # the lab database was away too long, or the host is down:
                    # not the phone's fault
                if status in (DEVICE_OK, DEVICE_FAILED) or kind == "infra":
                    # the phone's health rules count infrastructure failures only
                    state.record_use(
                        conn,
                        row.serial,
                        kind == "infra",
                        quarantine_after=quarantine_after,
                        detail=prog.message or None,
                    )

        state.outlast(end, f"part {row.part_id}: ending its attempt")
        if device is not None:
            with contextlib.suppress(BenchorchError, OSError):
                guard.release(device, token)
        return status
    finally:
        row.close()
        if device is not None:
            with contextlib.suppress(Exception):
                device.close()


async def run_part_job(
    url: str,
    part_id: int,
    job_id: int | None,
    worker: str,
    adb_addr: str | None,
    shutting_down: Callable[[], bool],
    host_up: Callable[[], bool] = lambda: True,
    quarantine_after: int = state.QUARANTINE_AFTER,
    phone_storage: Mapping[str, int] | None = None,
) -> None:
    """The job's body: the part in a thread; cancelled (aborted, or the worker stops), the
    launch in flight ends and is stored, then the part ends interrupted (an abort) or is
    handed back to the queue (``PartHandBack``: retried at once, resuming)."""
    stop, handing_back = threading.Event(), threading.Event()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str | None] = loop.create_future()

    def settle(fn: Callable[..., object], value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the worker stopped
            loop.call_soon_threadsafe(lambda: done.done() or fn(value))

    def body() -> None:
        try:
            result = run_part(
                url,
                part_id,
                job_id,
                worker,
                adb_addr,
                stop,
                handing_back,
                host_up,
                quarantine_after,
                phone_storage,
            )
        except BaseException as exc:
            settle(done.set_exception, exc)
        else:
            settle(done.set_result, result)

    threading.Thread(target=body, name=f"lab-part-{part_id}", daemon=True).start()
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        if shutting_down():
            handing_back.set()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), timeout=60)
        if handing_back.is_set():
            raise PartHandBack(f"part {part_id} handed back: its worker stopped") from None
        raise
