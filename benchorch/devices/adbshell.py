"""One phone's adb transport and shell: the hand-written host protocol's device side.

``AdbShell`` addresses the phone by ``transport_id`` (from ``host:devices-l``;
a stale id is refreshed once), opens device services on a fresh server socket
each, and runs shell scripts:

* shell v2 (``shell,v2,raw:``): ``echo MARK$$ >&2; SCRIPT``; stdout, stderr
  and the exit code arrive in packets. The PID line lets a command that runs
  past its timeout be killed on the phone (its children, its process group if
  it leads one, then the PID itself); the result has ``timed_out=True``. A
  stream that ends without an exit packet gives ``complete=False`` with the
  output read so far; one that ends before the PID line raises
  ``DeviceDropped``.
* phones without shell v2 (Android 6 and older; their adbd ``features`` lack
  ``shell_v2``) get the same script over ``shell:`` v1, wrapped with exit and
  end markers (``shellv1``).

Why not adbutils here (issue 10 item 11; the reasons are measured, see
README "Speed" ``device_overhead.py``: a run costs 0.54x an ``adb shell``):
adbutils' ``shell2`` closes each stream with a ``time.sleep`` of about 10 ms
and asks ``host:version`` once more per call when a device is addressed by
serial; it gives no partial output when the connection drops mid-command (it
raises), and no PID to kill a command that outlives its timeout.
adbutils serves the rarely used administrative calls (``connect`` /
``disconnect`` in ``AdbDevice.reconnect``).

Every failure leaves as a ``benchorch.errors.DeviceError`` with the serial.
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import socket
import threading
import time
import weakref
from collections.abc import Mapping, Sequence

from benchorch.devices import adbhost, shellv1
from benchorch.devices.adbhost import HostFail, HostSocket, ServerAddr, StreamLost
from benchorch.devices.base import device_log
from benchorch.devices.cpumask import mask_hex
from benchorch.domain import ShellResult
from benchorch.errors import (
    AdbServerUnreachable,
    DeviceDropped,
    DeviceError,
    DeviceNotFound,
    DeviceTimeout,
    DeviceUnreachable,
    UsageError,
)

PID_MARK = "@@benchorch-pid@@"


def quote_argv(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def command(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str] | None,
    cpu_mask: int | None,
    exec_: bool,
) -> str:
    """``argv`` as one quoted shell command: env, ``taskset`` pinning, ``cd cwd``.

    With ``exec_`` the command replaces the shell, so the PID the shell prints
    is the command's.
    """
    if not argv:
        raise UsageError("run needs a command", hint="pass at least the program to run")
    parts: list[str] = []
    if env:
        for key in env:
            if not key.isidentifier():
                raise UsageError(f"bad environment variable name {key!r}")
        parts += ["env", *(f"{k}={v}" for k, v in env.items())]
    if cpu_mask is not None:
        parts += ["taskset", mask_hex(cpu_mask)]
    text = ("exec " if exec_ else "") + quote_argv([*parts, *argv])
    if cwd is not None:
        text = f"cd {shlex.quote(cwd)} && {text}"
    return text


class AdbShell:
    """The transport to one phone and the shell scripts run over it."""

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
        self.addr = addr or ServerAddr.resolve()
        self._tid: int | None = transport_id
        self.state: str | None = state
        self._v2: bool | None = None  # shell v2 or v1 (adbd before Android 7)
        self.last_remote_pid: int | None = None
        self.log = device_log("benchorch.devices.adb", serial)
        #: why every call fails at once (``abort``), None while calls may go
        self.aborted: str | None = None
        self._open: weakref.WeakSet[HostSocket] = weakref.WeakSet()
        self._open_lock = threading.Lock()

    def abort(self, why: str) -> None:
        """From another thread: every call in flight fails now and every later one at
        once (``DeviceUnreachable(why)``). For a host that went away: its hung adb
        server would hold each call until its own timeout (a launch's: minutes)."""
        with self._open_lock:
            self.aborted = why
            socks = list(self._open)
        for hs in socks:
            with contextlib.suppress(OSError):
                hs.sock.shutdown(socket.SHUT_RDWR)

    def _track(self, hs: HostSocket) -> None:
        with self._open_lock:
            self._open.add(hs)
            aborted = self.aborted
        if aborted is not None:
            with contextlib.suppress(OSError):
                hs.sock.shutdown(socket.SHUT_RDWR)

    def _check_aborted(self) -> None:
        if self.aborted is not None:
            raise DeviceUnreachable(self.aborted, serial=self._serial)

    @property
    def serial(self) -> str:
        return self._serial

    def adopt(self, entry: adbhost.DeviceEntry) -> None:
        """The phone is listed again (after a reconnect): use its new transport."""
        self._tid, self.state = entry.transport_id, entry.state

    def lookup(self) -> adbhost.DeviceEntry | None:
        self._check_aborted()
        try:
            entries = adbhost.list_entries(self.addr)
        except AdbServerUnreachable as exc:
            raise DeviceUnreachable(str(exc), serial=self._serial) from exc
        return next((e for e in entries if e.serial == self._serial), None)

    def transport_id(self, *, refresh: bool = False) -> int:
        if self._tid is not None and not refresh:
            return self._tid
        entry = self.lookup()
        if entry is None:
            raise DeviceNotFound(
                f"no such device on the adb server at {self.addr}",
                serial=self._serial,
                hint="see `benchorch devices`; attach a TCP phone with `adb connect HOST:PORT`",
            )
        self.state = entry.state
        if entry.state != "device":
            hint = "accept the USB debugging prompt" if entry.state == "unauthorized" else None
            raise DeviceUnreachable(f"device is {entry.state}", serial=self._serial, hint=hint)
        if entry.transport_id is None:
            raise DeviceUnreachable(
                f"adb server at {self.addr} gives no transport id (adb older than 1.0.40)",
                serial=self._serial,
                hint="update platform-tools",
            )
        self._tid = entry.transport_id
        return self._tid

    def open(self, service: str, *, timeout: float | None) -> HostSocket:
        """``service`` opened on this device; a stale transport id is refreshed once."""
        for attempt in (0, 1):
            self._check_aborted()
            tid = self.transport_id(refresh=attempt == 1)
            try:
                return adbhost.open_service(
                    self.addr, tid, service, timeout=timeout, track=self._track
                )
            except AdbServerUnreachable as exc:
                raise DeviceUnreachable(str(exc), serial=self._serial) from exc
            except HostFail as exc:
                msg = exc.message
                if attempt == 0 and ("transport" in msg or "not found" in msg):
                    continue  # the device came back under a new transport id
                if "offline" in msg or "not found" in msg or "no device" in msg:
                    raise DeviceUnreachable(msg, serial=self._serial) from exc
                kind = service.split(":", 1)[0]
                raise DeviceError(
                    f"cannot open {kind}: {msg}",
                    serial=self._serial,
                    hint="check the phone with `adb -s SERIAL shell true`",
                ) from exc
            except (StreamLost, OSError) as exc:
                raise DeviceDropped(
                    f"connection lost opening {service.split(':', 1)[0]}: {exc}",
                    serial=self._serial,
                ) from exc
        raise AssertionError("unreachable")

    def has_shell_v2(self) -> bool:
        """Whether the phone's adbd speaks shell v2 (its ``features``; asked once)."""
        if self._v2 is None:
            self._check_aborted()
            for attempt in (0, 1):
                tid = self.transport_id(refresh=attempt == 1)
                try:
                    text = adbhost.host_query(self.addr, f"host-transport-id:{tid}:features")
                except HostFail as exc:
                    if attempt == 0:
                        continue  # the device came back under a new transport id
                    raise DeviceUnreachable(exc.message, serial=self._serial) from exc
                except (AdbServerUnreachable, StreamLost, OSError) as exc:
                    raise DeviceUnreachable(str(exc), serial=self._serial) from exc
                self._v2 = "shell_v2" in text.strip().split(",")
                if not self._v2:
                    self.log.info("no shell v2 (adbd before Android 7): using shell v1")
                break
        return bool(self._v2)

    def shell(self, script: str, *, timeout: float, argv: Sequence[str] = ()) -> ShellResult:
        """Run ``script`` (already quoted) under ``sh -c``; see module doc."""
        self.last_remote_pid = None  # this command's, once known (never a stale one)
        if not self.has_shell_v2():
            return self._shell_v1(script, timeout=timeout, argv=argv)
        return self._shell_v2(script, timeout=timeout, argv=argv)

    def _shell_v1(self, script: str, *, timeout: float, argv: Sequence[str]) -> ShellResult:
        """``script`` over ``shell:`` with exit and end markers (``shellv1``)."""
        nonce = secrets.token_hex(8)
        start = time.monotonic()
        deadline = start + timeout
        hs = self.open("shell:" + shellv1.wrap(script, nonce), timeout=max(timeout, 10.0))
        buf = bytearray()
        pid: int | None = None
        timed_out = False
        try:
            while not shellv1.ended(bytes(buf[-80:]), nonce):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                hs.sock.settimeout(remaining)
                chunk = hs.read_some(1 << 16)
                if not chunk:
                    break  # closed: a normal end comes after the end line
                buf += chunk
                if pid is None:
                    pid = shellv1.take_pid(bytes(buf[:200]))[1]
        except TimeoutError:
            timed_out = True
            self._kill_timed_out(pid, argv, timeout)
        except StreamLost as exc:
            self.log.warning("output ended early (%s)", exc)
        finally:
            hs.close()
        out = shellv1.parse(bytes(buf), nonce)
        if not out.started and not timed_out:
            raise DeviceDropped("connection lost before the command started", serial=self._serial)
        if out.started and not out.complete and not timed_out:
            self.log.warning("output ended early (no end marker)")
        self.last_remote_pid = pid
        return ShellResult(
            argv=tuple(argv) or ("sh", "-c", script),
            exit_code=out.exit_code,
            stdout=out.stdout.decode("utf-8", "replace"),
            stderr=out.stderr.decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
            timed_out=timed_out,
            complete=out.complete and not timed_out,
        )

    def _kill_timed_out(self, pid: int | None, argv: Sequence[str], timeout: float) -> None:
        """A command ran past its timeout: kill it on the phone by its PID."""
        if pid is not None:
            self.kill(pid)
        self.log.warning(
            "%s timed out after %.1f s; killed pid %s",
            argv[:1] or "command",
            timeout,
            pid,
        )

    def _shell_v2(self, script: str, *, timeout: float, argv: Sequence[str]) -> ShellResult:
        """``script`` over ``shell,v2,raw:`` (exit code and stderr in packets)."""
        wrapped = f"echo {PID_MARK}$$ >&2; {script}"
        start = time.monotonic()
        deadline = start + timeout
        # The handshake gets at least 10 s: a short command timeout is for the command.
        hs = self.open("shell,v2,raw:" + wrapped, timeout=max(timeout, 10.0))
        out, err = bytearray(), bytearray()
        exit_code: int | None = None
        pid: int | None = None
        timed_out = complete = False
        try:
            hs.send(adbhost.shell_packet(adbhost.SHELL_CLOSE_STDIN))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                hs.sock.settimeout(remaining)
                kind, data = adbhost.read_shell_packet(hs)
                if kind == adbhost.SHELL_STDOUT:
                    out += data
                elif kind == adbhost.SHELL_STDERR:
                    err += data
                    if pid is None:
                        pid, err = self._take_pid(err)
                elif kind == adbhost.SHELL_EXIT:
                    exit_code = data[0] if data else None
                    complete = exit_code is not None
                    break
        except TimeoutError:
            timed_out = True
            self._kill_timed_out(pid, argv, timeout)
        except StreamLost as exc:
            if pid is None and not out:
                raise DeviceDropped(
                    f"connection lost before the command started: {exc}", serial=self._serial
                ) from exc
            self.log.warning("output ended early (%s)", exc)
        finally:
            hs.close()
        self.last_remote_pid = pid
        if pid is None and err.startswith(PID_MARK.encode()):
            err = bytearray()
        return ShellResult(
            argv=tuple(argv) or ("sh", "-c", script),
            exit_code=exit_code,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
            timed_out=timed_out,
            complete=complete and not timed_out,
        )

    @staticmethod
    def _take_pid(err: bytearray) -> tuple[int | None, bytearray]:
        mark = PID_MARK.encode()
        if not err.startswith(mark[: len(err)]) or b"\n" not in err:
            return None, err
        line, _, rest = bytes(err).partition(b"\n")
        digits = line[len(mark) :]
        return (int(digits) if digits.isdigit() else None), bytearray(rest)

    def kill(self, pid: int) -> None:
        """Kill ``pid`` on the phone: children, its group (if it leads one), itself."""
        script = (
            f"pkill -9 -P {pid} 2>/dev/null; kill -9 -- -{pid} 2>/dev/null; "
            f"kill -9 {pid} 2>/dev/null; true"
        )
        try:
            self.shell(script, timeout=10.0)
        except DeviceError as exc:
            self.log.warning("could not kill pid %d after a timeout: %s", pid, exc)

    def require_complete(self, res: ShellResult, what: str) -> None:
        if res.timed_out:
            raise DeviceTimeout(
                f"{what} took longer than {res.duration_s:.0f} s and was killed",
                serial=self._serial,
                hint="check the phone is responsive: adb shell true",
            )
        if not res.complete:
            raise DeviceDropped(f"{what} output ended early", serial=self._serial)
