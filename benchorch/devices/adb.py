"""``AdbDevice``: a phone behind an adb server (a real one or the virtual phone).

The facade the sweep talks to (the ``Device`` protocol); the work is in
``adbshell`` (transport and shell, hand-written host protocol) and ``adbpush``
(verified pushes over sync), each saying in its docstring why it does not use
adbutils. adbutils serves ``reconnect``'s ``connect`` / ``disconnect``. The
phone's properties come with the facts script's one round trip (``getprop``
prints them all) rather than adbutils' ``prop``/``getprop`` (one shell per
property); the sweep needs no port forwards.

Round trips (each one service on a fresh server socket, addressed by
``transport_id`` so the server skips the serial lookup and version check):

* ``info()``: one script (``INFO_SCRIPT``) printing getprop, battery, thermal
  zones, cpufreq, df, the load clock and root facts in sections split by
  marker lines.
* ``health()``: one script (``HEALTH_SCRIPT``).
* ``push()``: ``AdbPusher.push``.
* ``run()``: ``[cd DIR &&] exec [env K=V...] [taskset MASK] argv`` with every
  element ``shlex.quote``'d (``adbshell.command``), over ``AdbShell.shell``.
* ``run_with_health()``: a launch's one round trip: ``HEALTH_SCRIPT``, a
  nonce marker line, the command (not ``exec``'d: the shell lives on), a
  newline and the end marker, ``HEALTH_SCRIPT`` again, ``exit`` with the
  command's status. The snapshots' stderr goes to /dev/null; the markers carry
  a fresh random nonce, so the command's output is cut out exactly (the one
  newline before the end marker is ours) and can never pass for health.

Log lines carry the serial through one ``LoggerAdapter`` per device
(``base.device_log``). Every failure leaves as a
``benchorch.errors.DeviceError`` with the serial.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchorch.devices import adbhost
from benchorch.devices import androidfacts as af
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.adbpush import AdbPusher
from benchorch.devices.adbshell import AdbShell, command
from benchorch.devices.base import REMOTE_ROOT, HealthFoldedRun
from benchorch.devices.battery import require_battery
from benchorch.devices.phonestore import PhoneFolder
from benchorch.domain import DeviceInfo, Health, PushResult, ShellResult
from benchorch.errors import DeviceUnreachable


class AdbDevice:
    """One phone, addressed by serial through the adb server at ``addr``."""

    #: How long the facts and health scripts may take.
    _script_timeout_s: float = 30.0

    def __init__(
        self,
        serial: str,
        *,
        addr: ServerAddr | None = None,
        transport_id: int | None = None,
        state: str | None = None,
    ) -> None:
        """``transport_id``/``state`` from a fresh ``host:devices-l`` save one lookup."""
        self._serial = serial
        self.conn = AdbShell(serial, addr=addr, transport_id=transport_id, state=state)
        self._pusher = AdbPusher(self.conn)
        self._abis: tuple[str, ...] | None = None
        self.log = self.conn.log

    # --- protocol surface ---------------------------------------------------------

    @property
    def serial(self) -> str:
        return self._serial

    @property
    def workdir(self) -> str:
        return REMOTE_ROOT

    @property
    def addr(self) -> ServerAddr:
        return self.conn.addr

    @property
    def last_remote_pid(self) -> int | None:
        """The PID of the last command run (for a test that kills it)."""
        return self.conn.last_remote_pid

    def __repr__(self) -> str:
        return f"AdbDevice({self._serial!r}, addr={self.addr})"

    def abort(self, why: str) -> None:
        """Every call in flight on this phone fails now, and every later one at once
        (``AdbShell.abort``): its host went away."""
        self.conn.abort(why)

    def kill(self, pid: int) -> None:
        """Kill ``pid`` on the phone (its children and group too)."""
        self.conn.kill(pid)

    def close(self) -> None:
        """Nothing persistent is held: every call opens its own server socket."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        cpu_mask: int | None = None,
    ) -> ShellResult:
        """Run ``argv`` on the phone; ``cwd=None`` keeps adbd's directory."""
        line = command(argv, cwd=cwd, env=env, cpu_mask=cpu_mask, exec_=True)
        return self.conn.shell(line, timeout=timeout, argv=tuple(argv))

    def run_with_health(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: str | None = None,
        cpu_mask: int | None = None,
    ) -> HealthFoldedRun:
        """``run``, with a health snapshot before and after in the same shell: one service.

        The snapshots go to stdout between marker lines that carry a fresh
        random nonce, so nothing the command prints can be read as health (or
        hide its own output); their stderr goes to /dev/null. The shell exits
        with the command's status.
        """
        nonce = secrets.token_hex(8)
        run_mark, end_mark = f"@@{nonce}@@run", f"@@{nonce}@@end"
        line = command(argv, cwd=cwd, env=None, cpu_mask=cpu_mask, exec_=False)
        script = (
            f"{{ {af.HEALTH_SCRIPT}; }} 2>/dev/null; echo {run_mark}; {line}; r=$?; "
            f"echo; echo {end_mark}; {{ {af.HEALTH_SCRIPT}; }} 2>/dev/null; exit $r"
        )
        started = time.time()
        res = self.conn.shell(script, timeout=timeout, argv=tuple(argv))
        ended = time.time()
        text = res.stdout
        head, found_run, rest = text.partition(run_mark + "\n")
        if not found_run:  # dropped or killed before the command began
            return HealthFoldedRun(dataclasses.replace(res, stdout=""), None, None)
        before = af.health(af.split_sections(head), started)
        out, found_end, tail = rest.rpartition("\n" + end_mark + "\n")
        if not found_end:  # the command did not end normally: its output as far as it got
            return HealthFoldedRun(dataclasses.replace(res, stdout=rest), before, None)
        after = af.health(af.split_sections(tail), ended) if res.complete else None
        return HealthFoldedRun(dataclasses.replace(res, stdout=out), before, after)

    def _script(self, script: str, what: str) -> dict[str, str]:
        res = self.conn.shell(script, timeout=self._script_timeout_s)
        self.conn.require_complete(res, what)
        return af.split_sections(res.stdout)

    def info(self) -> DeviceInfo:
        sections = self._script(af.INFO_SCRIPT, "device facts")
        info = af.device_info(self._serial, self.conn.state or "device", sections)
        self._abis = info.abis
        return info

    def health(self) -> Health:
        return af.health(self._script(af.HEALTH_SCRIPT, "health snapshot"), time.time())

    def ensure_battery(self, min_level: int) -> Health:
        """A fresh health snapshot, or ``BatteryTooLow`` when the battery gate
        (``battery.require_battery``) refuses the phone."""
        snap = self.health()
        require_battery(self._serial, snap.battery_level, snap.charging, min_level)
        return snap

    def check_binary_abi(self, elf_path: Path) -> str:
        """The binary's ABI if the phone can run it, else ``AbiMismatch`` naming both."""
        from benchorch.abi import read_abi, require_runs

        abi = read_abi(elf_path)
        if self._abis is None:
            self.info()
        require_runs(abi, self._abis or (), serial=self._serial, what=elf_path.name, device="phone")
        return abi

    def push(
        self,
        local: Path,
        name: str,
        *,
        executable: bool = False,
        verify_hash: bool | None = None,
    ) -> PushResult:
        """``AdbPusher.push``: ``local`` to ``REMOTE_ROOT/name``, deduplicated and verified."""
        return self._pusher.push(local, name, executable=executable, verify_hash=verify_hash)

    def make_room(self, needed: Mapping[str, int], bound: int) -> tuple[str, ...]:
        """``PhoneFolder.make_room``: benchorch's folder kept under ``bound`` bytes with
        ``needed`` (name -> size) in it; the least recently used files benchorch pushed
        go first, never one of ``needed``. Returns the names evicted."""
        return PhoneFolder(self.conn).make_room(needed, bound)

    # --- reconnect ----------------------------------------------------------------

    def reconnect(self, *, within_s: float) -> None:
        """Bring the phone back: TCP serials get ``adb disconnect`` + ``adb connect``
        (through adbutils' client); USB ones are waited for. Polls ``host:devices-l``
        with a growing pause until the state is ``device`` or ``within_s`` passes."""
        deadline = time.monotonic() + within_s
        tcp = bool(adbhost.TCP_SERIAL.match(self._serial))
        pause, last = 0.05, "not listed"
        connected = False
        while True:
            if tcp and not connected:
                connected = self._tcp_reconnect(max(0.5, deadline - time.monotonic()))
            entry = self.conn.lookup()
            if entry is not None and entry.state == "device" and entry.transport_id is not None:
                self.conn.adopt(entry)
                return
            last = entry.state if entry else "not listed"
            if entry is not None and entry.state == "offline":
                connected = False  # the server gave up on it: connect again
            if time.monotonic() + pause > deadline:
                raise DeviceUnreachable(
                    f"did not come back within {within_s:g} s (state: {last})",
                    serial=self._serial,
                    hint="check the phone and its cable or network, then `adb devices`",
                )
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _tcp_reconnect(self, timeout: float) -> bool:
        import adbutils

        client = adbutils.AdbClient(
            host=self.addr.host, port=self.addr.port, socket_timeout=timeout
        )
        try:
            client.disconnect(self._serial)
            answer = client.connect(self._serial, timeout=timeout)
        except (adbutils.AdbError, OSError) as exc:
            self.log.info("reconnect attempt failed: %s", exc)
            return False
        self.log.info("%s", answer)
        return "connected" in answer and "unable" not in answer and "failed" not in answer
