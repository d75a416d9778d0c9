"""A lab phone's health check, and its job body (``queue``'s ``benchorch.lab.health`` task).

The control worker (``control.schedule_health``) defers one for each suspect phone
and each phone benchorch quarantined; it runs on the phone's host worker holding
the phone's lock ``device:<serial>`` like every use of a phone, as a fenced attempt
(kind ``health``). The checks, in order, each under a timeout (a later one is
skipped when an earlier one failed):

* ``adb``: the host's adb server lists the phone as ``device``;
* ``shell``: a shell on it answers;
* ``battery``: the battery level and a temperature (battery or thermal zone) read;
* ``storage``: benchorch's folder is writable: the guard is claimed there (an
  earlier attempt's leftovers are killed first, as by every attempt) and a small
  file is pushed through sync, verified, and removed.

The result goes to the phone's row (``state.record_health``: its last health
snapshot, shown by ``lab devices``): a pass makes a suspect or benchorch-quarantined
phone good; a failure counts as an infrastructure failure. A check whose host link
is not up records nothing (the host is down, not the phone). Engine-free.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr, host_query, parse_devices_l
from benchorch.errors import BenchorchError
from benchorch.lab import guard, state

__all__ = ["HealthResult", "check_phone", "run_health_job"]

log = logging.getLogger("benchorch.lab.health")
TIMEOUT_S = 20.0


@dataclass(frozen=True)
class HealthResult:
    checks: dict[str, str]  # name -> "ok" | why it failed | "skipped"
    battery_level: int | None = None
    temp_c: float | None = None
    took_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(v == "ok" for v in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": self.checks,
            "battery_level": self.battery_level,
            "temp_c": self.temp_c,
            "took_s": round(self.took_s, 2),
        }


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def check_phone(
    serial: str, addr: ServerAddr, token: int, timeout: float = TIMEOUT_S, lab: str = ""
) -> HealthResult:
    """Run the checks on ``serial`` behind the adb server at ``addr`` (as attempt ``token``
    of the lab ``lab``: ``guard.claim``)."""
    started = time.monotonic()
    checks = {"adb": "skipped", "shell": "skipped", "battery": "skipped", "storage": "skipped"}
    level: int | None = None
    temp: float | None = None

    def done() -> HealthResult:
        return HealthResult(dict(checks), level, temp, time.monotonic() - started)

    try:
        entries = parse_devices_l(host_query(addr, "host:devices-l", timeout=timeout))
        seen = {e.serial: e.state for e in entries}
        if seen.get(serial) != "device":
            checks["adb"] = f"adb server lists it as {seen.get(serial, 'absent')}"
            return done()
        checks["adb"] = "ok"
    except (BenchorchError, OSError, Exception) as exc:  # any failure is the check's answer
        checks["adb"] = _why(exc)
        return done()
    device = AdbDevice(serial, addr=addr)
    try:
        try:
            out = device.run(["echo", f"health-{token}"], timeout=timeout)
            if out.exit_code != 0 or out.stdout.strip() != f"health-{token}":
                checks["shell"] = f"echo answered {out.exit_code}: {out.stdout.strip()[:80]!r}"
                return done()
            checks["shell"] = "ok"
        except Exception as exc:
            checks["shell"] = _why(exc)
            return done()
        try:
            snap = device.health()
            level, temp = snap.battery_level, snap.max_temp_c
            if level is None or temp is None:
                checks["battery"] = f"unreadable (level {level}, temperature {temp})"
            else:
                checks["battery"] = "ok"
        except Exception as exc:
            checks["battery"] = _why(exc)
        try:
            guard.claim(device, token, lab)
            with tempfile.TemporaryDirectory(prefix="benchorch-health-") as folder:
                probe = Path(folder) / "probe"
                probe.write_bytes(f"benchorch lab health check {token}\n".encode() * 64)
                name = f"lab-health-{token}"
                device.push(probe, name, verify_hash=True)
            device.run(["rm", "-f", f"{device.workdir.rstrip('/')}/{name}"], timeout=timeout)
            guard.release(device, token)
            checks["storage"] = "ok"
        except Exception as exc:
            checks["storage"] = _why(exc)
    finally:
        device.close()
    return done()


def _begin(url: str, serial: str, job_id: int | None, worker: str) -> tuple[int, str]:
    with state.connect(url) as conn:
        return state.begin_attempt(conn, serial, "health", worker, job_id), state.lab_id(conn)


def _finish(
    url: str, serial: str, token: int, result: HealthResult | None, why: str, limit: int
) -> None:
    with state.connect(url) as conn:
        if result is not None and state.is_current(conn, serial, token):
            new = state.record_health(
                conn, serial, result.ok, result.to_json(), quarantine_after=limit, token=token
            )
            log.info("%s: health %s, now %s", serial, "ok" if result.ok else "FAILED", new)
        state.end_attempt(conn, token, why)


async def run_health_job(
    url: str,
    serial: str,
    job_id: int | None,
    worker: str,
    adb_addr: str | None,
    link_up: bool,
    quarantine_after: int,
) -> None:
    """The job body: one fenced health check of ``serial`` (its result recorded)."""
    token, lab = await asyncio.to_thread(_begin, url, serial, job_id, worker)
    if not link_up:
        await asyncio.to_thread(_finish, url, serial, token, None, "host down", quarantine_after)
        return
    addr = ServerAddr.resolve(adb_addr)
    result = await asyncio.to_thread(check_phone, serial, addr, token, TIMEOUT_S, lab)
    outcome = "ok" if result.ok else "failed"
    await asyncio.to_thread(_finish, url, serial, token, result, outcome, quarantine_after)
