"""``AdbDevice``: a phone behind an adb server (a real one or the virtual phone).

Round trips (each one shell v2 stream on a fresh server socket, addressed by
``transport_id`` so the server skips the serial lookup and version check):

* ``info()``: one script (``INFO_SCRIPT``) printing getprop, battery, thermal
  zones, cpufreq, df and root facts in sections split by marker lines.
* ``health()``: one script (``HEALTH_SCRIPT``).
* ``push()``: one ``sync:`` socket: ``STAT``; a same-size file is hashed on
  the phone (one shell) and compared; else ``SEND`` (the host hashes the
  bytes as they go) and ``STAT`` again (size, mtime); files up to
  ``HASH_VERIFY_MAX_BYTES`` are then hashed on the phone (one shell). See
  ``push`` for what "verified" means. The first push also creates
  ``REMOTE_ROOT`` and picks the phone's hash tool: ``sha256sum``, else
  ``md5sum``, else size + mtime (the mtime is the one we send in ``DONE``).
* ``run()``: ``echo MARK$$ >&2; [cd DIR &&] exec [env K=V...] [taskset MASK] argv``
  with every element ``shlex.quote``'d. Phones without shell v2 (Android 6
  and older; their adbd ``features`` lack ``shell_v2``) get the same script
  over ``shell:`` v1, wrapped with exit and end markers (``shellv1``).
  Since each step ``exec``s, the PID the shell prints is the command's PID.
  On timeout a second shell kills it (its children, its process group if it
  leads one, then the PID itself) and the result has ``timed_out=True``. A
  stream that ends without an exit packet (v1: without the end line) gives
  ``complete=False``; one that ends before the PID line raises
  ``DeviceDropped``.
* ``run_with_health()``: a launch's one round trip: ``HEALTH_SCRIPT``, a
  nonce marker line, the command (not ``exec``'d: the shell lives on), a
  newline and the end marker, ``HEALTH_SCRIPT`` again, ``exit`` with the
  command's status. The snapshots' stderr goes to /dev/null; the markers carry
  a fresh random nonce, so the command's output is cut out exactly (the one
  newline before the end marker is ours) and can never pass for health.

Every failure leaves as a ``benchorch.errors.DeviceError`` with the serial.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shlex
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchorch.devices import adbhost, shellv1
from benchorch.devices import androidfacts as af
from benchorch.devices.adbhost import HostFail, HostSocket, ServerAddr, StreamLost
from benchorch.devices.base import REMOTE_ROOT, HealthFoldedRun
from benchorch.domain import DeviceInfo, Health, PushResult, ShellResult
from benchorch.errors import (
    AdbServerUnreachable,
    BatteryTooLow,
    DeviceDropped,
    DeviceError,
    DeviceNotFound,
    DeviceStorageFull,
    DeviceTimeout,
    DeviceUnreachable,
    PushFailed,
    UsageError,
)

log = logging.getLogger("benchorch.devices.adb")

#: Pushed files up to this size are also hashed on the phone at once (see ``push``).
HASH_VERIFY_MAX_BYTES = 16 * 1024 * 1024

_DigestKey = tuple[str, int, int, int, str]

PID_MARK = "@@benchorch-pid@@"


def _quote_argv(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def _command(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str] | None,
    cpu_mask: int | None,
    exec_: bool,
) -> str:
    """``argv`` as one quoted shell command: env, ``taskset`` pinning, ``cd cwd``."""
    if not argv:
        raise UsageError("run needs a command", hint="pass at least the program to run")
    parts: list[str] = []
    if env:
        for key in env:
            if not key.isidentifier():
                raise UsageError(f"bad environment variable name {key!r}")
        parts += ["env", *(f"{k}={v}" for k, v in env.items())]
    if cpu_mask is not None:
        parts += ["taskset", af.mask_hex(cpu_mask)]
    command = ("exec " if exec_ else "") + _quote_argv([*parts, *argv])
    if cwd is not None:
        command = f"cd {shlex.quote(cwd)} && {command}"
    return command


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
        self.addr = addr or ServerAddr.resolve()
        self._tid: int | None = transport_id
        self._state: str | None = state
        self._v2: bool | None = None  # shell v2 or v1 (adbd before Android 7)
        self._hash_tool: str | None = None  # "sha256sum" | "md5sum" | "stat"; None = unprepared
        self._local_hashes: dict[_DigestKey, str] = {}
        self._abis: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        self.last_remote_pid: int | None = None

    # --- protocol surface ---------------------------------------------------------

    @property
    def serial(self) -> str:
        return self._serial

    @property
    def workdir(self) -> str:
        return REMOTE_ROOT

    def __repr__(self) -> str:
        return f"AdbDevice({self._serial!r}, addr={self.addr})"

    def close(self) -> None:
        """Nothing persistent is held: every call opens its own server socket."""

    # --- transport ----------------------------------------------------------------

    def _lookup(self) -> adbhost.DeviceEntry | None:
        try:
            entries = adbhost.list_entries(self.addr)
        except AdbServerUnreachable as exc:
            raise DeviceUnreachable(str(exc), serial=self._serial) from exc
        return next((e for e in entries if e.serial == self._serial), None)

    def _transport_id(self, *, refresh: bool = False) -> int:
        if self._tid is not None and not refresh:
            return self._tid
        entry = self._lookup()
        if entry is None:
            raise DeviceNotFound(
                f"no such device on the adb server at {self.addr}",
                serial=self._serial,
                hint="see `benchorch devices`; attach a TCP phone with `adb connect HOST:PORT`",
            )
        self._state = entry.state
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

    def _open(self, service: str, *, timeout: float | None) -> HostSocket:
        """``service`` opened on this device; a stale transport id is refreshed once."""
        for attempt in (0, 1):
            tid = self._transport_id(refresh=attempt == 1)
            try:
                return adbhost.open_service(self.addr, tid, service, timeout=timeout)
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

    # --- shell --------------------------------------------------------------------

    def _has_shell_v2(self) -> bool:
        """Whether the phone's adbd speaks shell v2 (its ``features``; asked once)."""
        if self._v2 is None:
            for attempt in (0, 1):
                tid = self._transport_id(refresh=attempt == 1)
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
                    log.info(
                        "%s: no shell v2 (adbd before Android 7): using shell v1", self._serial
                    )
                break
        return bool(self._v2)

    def _shell(self, script: str, *, timeout: float, argv: Sequence[str] = ()) -> ShellResult:
        """Run ``script`` (already quoted) under ``sh -c``; see module doc."""
        if not self._has_shell_v2():
            return self._shell_v1(script, timeout=timeout, argv=argv)
        return self._shell_v2(script, timeout=timeout, argv=argv)

    def _shell_v1(self, script: str, *, timeout: float, argv: Sequence[str]) -> ShellResult:
        """``script`` over ``shell:`` with exit and end markers (``shellv1``)."""
        nonce = secrets.token_hex(8)
        start = time.monotonic()
        deadline = start + timeout
        hs = self._open("shell:" + shellv1.wrap(script, nonce), timeout=max(timeout, 10.0))
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
            log.warning("%s: output ended early (%s)", self._serial, exc)
        finally:
            hs.close()
        out = shellv1.parse(bytes(buf), nonce)
        if not out.started and not timed_out:
            raise DeviceDropped("connection lost before the command started", serial=self._serial)
        if out.started and not out.complete and not timed_out:
            log.warning("%s: output ended early (no end marker)", self._serial)
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
            self._kill(pid)
        log.warning(
            "%s: %s timed out after %.1f s; killed pid %s",
            self._serial,
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
        hs = self._open("shell,v2,raw:" + wrapped, timeout=max(timeout, 10.0))
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
            log.warning("%s: output ended early (%s)", self._serial, exc)
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

    def _kill(self, pid: int) -> None:
        """Kill ``pid`` on the phone: children, its group (if it leads one), itself."""
        script = (
            f"pkill -9 -P {pid} 2>/dev/null; kill -9 -- -{pid} 2>/dev/null; "
            f"kill -9 {pid} 2>/dev/null; true"
        )
        try:
            self._shell(script, timeout=10.0)
        except DeviceError as exc:
            log.warning("%s: could not kill pid %d after a timeout: %s", self._serial, pid, exc)

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
        command = _command(argv, cwd=cwd, env=env, cpu_mask=cpu_mask, exec_=True)
        return self._shell(command, timeout=timeout, argv=tuple(argv))

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
        command = _command(argv, cwd=cwd, env=None, cpu_mask=cpu_mask, exec_=False)
        script = (
            f"{{ {af.HEALTH_SCRIPT}; }} 2>/dev/null; echo {run_mark}; {command}; r=$?; "
            f"echo; echo {end_mark}; {{ {af.HEALTH_SCRIPT}; }} 2>/dev/null; exit $r"
        )
        started = time.time()
        res = self._shell(script, timeout=timeout, argv=tuple(argv))
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

    # --- facts --------------------------------------------------------------------

    def _script(self, script: str, what: str) -> dict[str, str]:
        res = self._shell(script, timeout=self._script_timeout_s)
        self._require_complete(res, what)
        return af.split_sections(res.stdout)

    def _require_complete(self, res: ShellResult, what: str) -> None:
        if res.timed_out:
            raise DeviceTimeout(
                f"{what} took longer than {res.duration_s:.0f} s and was killed",
                serial=self._serial,
                hint="check the phone is responsive: adb shell true",
            )
        if not res.complete:
            raise DeviceDropped(f"{what} output ended early", serial=self._serial)

    def info(self) -> DeviceInfo:
        sections = self._script(af.INFO_SCRIPT, "device facts")
        info = af.device_info(self._serial, self._state or "device", sections)
        self._abis = info.abis
        return info

    def health(self) -> Health:
        return af.health(self._script(af.HEALTH_SCRIPT, "health snapshot"), time.time())

    def ensure_battery(self, min_level: int) -> Health:
        """Refuse to start below ``min_level`` percent (unknown level passes)."""
        snap = self.health()
        if snap.battery_level is not None and snap.battery_level < min_level:
            raise BatteryTooLow(
                f"battery at {snap.battery_level}% is below the minimum {min_level}%",
                serial=self._serial,
                hint="charge the phone or lower the battery threshold",
            )
        return snap

    def check_binary_abi(self, elf_path: Path) -> str:
        """The binary's ABI if the phone can run it, else ``AbiMismatch`` naming both."""
        from benchorch.abi import read_abi, require_runs

        abi = read_abi(elf_path)
        if self._abis is None:
            self.info()
        require_runs(abi, self._abis or (), serial=self._serial, what=elf_path.name, device="phone")
        return abi

    # --- push ---------------------------------------------------------------------

    def _prepare(self) -> str:
        if self._hash_tool is not None:
            return self._hash_tool
        root = shlex.quote(REMOTE_ROOT)
        res = self._shell(
            f"mkdir -p {root} || exit 3; for t in sha256sum md5sum; do "
            'if command -v "$t" >/dev/null 2>&1; then echo "$t"; exit 0; fi; done; echo stat',
            timeout=30.0,
        )
        self._require_complete(res, f"creating {REMOTE_ROOT}")
        tool = res.stdout.strip().splitlines()[-1:] if res.ok else []
        if not tool or tool[0] not in ("sha256sum", "md5sum", "stat"):
            self._raise_storage(res.stderr, f"cannot create {REMOTE_ROOT}")
        self._hash_tool = tool[0]
        return self._hash_tool

    def _raise_storage(self, message: str, what: str) -> None:
        text = " ".join(message.split())
        if not text:  # adb often fails a push without a word (adbutils: empty AdbError)
            raise PushFailed(
                f"{what} failed and the phone gave no reason",
                serial=self._serial,
                hint="check free space and permissions under /data/local/tmp, and the connection",
            )
        if any(s in text.lower() for s in ("no space", "enospc", "disk full", "out of space")):
            raise DeviceStorageFull(
                f"{what}: {text}",
                serial=self._serial,
                hint=f"free space on the phone, e.g. `adb -s {self._serial} shell rm -r "
                f"{REMOTE_ROOT}`",
            )
        raise PushFailed(f"{what}: {text}", serial=self._serial)

    def _digest_key(self, path: Path, st: os.stat_result, tool: str) -> _DigestKey:
        return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, tool)

    def _local_digest(self, path: Path, tool: str) -> str:
        """The host's digest of ``path`` as the phone's ``tool`` prints it (cached)."""
        st = path.stat()
        key = self._digest_key(path, st, tool)
        if key not in self._local_hashes:
            if tool == "sha256sum":
                self._local_hashes[key] = adbhost.file_sha256(path)
            elif tool == "md5sum":
                self._local_hashes[key] = adbhost.file_md5(path)
            else:
                self._local_hashes[key] = f"{st.st_size} {int(st.st_mtime)}"
        return self._local_hashes[key]

    def _remote_digest(self, remote: str, tool: str, *, chmod: bool) -> str:
        """The phone's ``tool`` digest of ``remote`` ("" when unreadable), after a
        ``chmod 755`` when asked."""
        q = shlex.quote(remote)
        pre = f"chmod 755 {q} 2>/dev/null; " if chmod else ""
        res = self._shell(f"{pre}{tool} < {q} 2>/dev/null", timeout=120.0)
        self._require_complete(res, f"hash check of {remote}")
        words = res.stdout.split()
        return words[0] if words else ""

    def _chmod_755(self, remote: str) -> None:
        res = self._shell(f"chmod 755 {shlex.quote(remote)}", timeout=30.0)
        self._require_complete(res, f"chmod of {remote}")
        if not res.ok:
            raise PushFailed(
                f"chmod 755 {remote} failed: {res.stderr.strip() or res.exit_code}",
                serial=self._serial,
            )

    def push(
        self,
        local: Path,
        name: str,
        *,
        executable: bool = False,
        verify_hash: bool | None = None,
    ) -> PushResult:
        """Copy ``local`` to ``REMOTE_ROOT/name`` unless the phone has the same file.

        Dedup: a sync ``STAT`` first; only a regular file of the same size is
        then hashed on the phone (``sha256sum``, else ``md5sum``; a phone with
        neither compares size and mtime) and compared with the host's digest.
        A match sends nothing (``skipped``). Since every call compares content,
        a file damaged on the phone since the last push (or one that arrived
        damaged) is sent again the next time it is pushed.

        What "verified" means for a file that was sent, in order:

        1. adbd answered the ``SEND`` with ``OKAY``: it received every byte,
           wrote it and closed the file without an error (a full disk or a
           write error is its ``FAIL``: ``DeviceStorageFull`` / ``PushFailed``);
        2. a sync ``STAT`` on the same connection right after shows a regular
           file with exactly the size and the mtime sent (catches truncation,
           a file that vanished or was replaced); an executable not already
           mode 755 is ``chmod 755``'ed;
        3. its hash on the phone equals the host's, when ``verify_hash`` is
           True, or None (the default) and the file is at most
           ``HASH_VERIFY_MAX_BYTES``: the phone re-reads a small file in
           milliseconds, but a large one costs as much as sending it again.

        A phone with neither hash tool gets 1 and 2 only. A file that fails
        2 or 3 raises ``PushFailed``. The host hashes the
        file while sending it (one read; cached by path, size, mtime, inode),
        and a file that changes while it is sent is refused.
        """
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise UsageError(
                f"bad remote file name {name!r}", hint="pass one path component, no '/' or NUL"
            )
        local = Path(local)
        if not local.is_file():
            raise UsageError(f"cannot push {local}: not a file", hint="check the path")
        remote = f"{REMOTE_ROOT}/{name}"
        with self._lock:
            tool = self._prepare()
        st = local.stat()
        size, mtime = st.st_size, int(st.st_mtime)
        what = f"push of {local.name} to {remote}"
        with self._sync(what) as hs:
            before = adbhost.sync_stat(hs, remote)
            if before.is_file and before.size_matches(size):
                if tool == "stat":
                    same = before.mtime == mtime & 0xFFFFFFFF
                    if same and executable and stat.S_IMODE(before.mode) != 0o755:
                        self._chmod_755(remote)
                else:
                    want = self._local_digest(local, tool)
                    same = self._remote_digest(remote, tool, chmod=executable) == want
                if same:
                    log.debug("%s: %s already there, not sent", self._serial, remote)
                    return PushResult(remote, size, 0, True, self._local_digest(local, "sha256sum"))
            sent = self._send(hs, local, st, remote, executable=executable, tool=tool)
            after = adbhost.sync_stat(hs, remote)
        if not (after.is_file and after.size_matches(size) and after.mtime == mtime & 0xFFFFFFFF):
            found = (
                f"{after.size} bytes, mtime {after.mtime}" if after.is_file else "no regular file"
            )
            raise PushFailed(
                f"{remote} is not what was sent: the phone has {found}, "
                f"{size} bytes with mtime {mtime} were sent",
                serial=self._serial,
                hint="check free space on the phone and retry",
            )
        if verify_hash or (verify_hash is None and size <= HASH_VERIFY_MAX_BYTES):
            want = self._local_digest(local, tool)
            chmod = executable and stat.S_IMODE(after.mode) != 0o755
            got = self._remote_digest(remote, tool, chmod=chmod) if tool != "stat" else want
            if got != want:
                raise PushFailed(
                    f"{remote} does not match {local} after the push ({tool}: phone "
                    f"{got or 'none'}, host {want})",
                    serial=self._serial,
                    hint="check free space on the phone and retry",
                )
        elif executable and stat.S_IMODE(after.mode) != 0o755:
            self._chmod_755(remote)
        return PushResult(remote, size, sent, False, self._local_digest(local, "sha256sum"))

    def _send(
        self,
        hs: HostSocket,
        local: Path,
        st: os.stat_result,
        remote: str,
        *,
        executable: bool,
        tool: str,
    ) -> int:
        """One sync ``SEND`` of ``local`` (as ``st`` describes it); the host digests
        not yet cached are computed from the bytes as they are sent."""
        names = {"sha256sum": "sha256", "md5sum": "md5"}
        todo = [
            t
            for t in ("sha256sum", tool)
            if t in names and self._digest_key(local, st, t) not in self._local_hashes
        ]
        hasher = adbhost.StreamHasher([names[t] for t in dict.fromkeys(todo)])
        try:
            with local.open("rb") as src:
                outcome = adbhost.sync_send(
                    hs,
                    src,
                    remote,
                    mode=0o755 if executable else 0o644,
                    mtime=int(st.st_mtime),
                    on_data=hasher.feed if todo else None,
                )
            digests = hasher.hexdigests()
        finally:
            hasher.close()
        now = local.stat()
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (st.st_size, st.st_mtime_ns, st.st_ino):
            raise PushFailed(
                f"{local} changed while it was being pushed",
                serial=self._serial,
                hint="push again once nothing writes to it",
            )
        for t in todo:
            self._local_hashes[self._digest_key(local, st, t)] = digests[names[t]]
        return outcome.bytes_sent

    @contextmanager
    def _sync(self, what: str) -> Iterator[HostSocket]:
        """A ``sync:`` socket; its errors leave as ours (``what`` names the push)."""
        hs = self._open("sync:", timeout=60.0)
        try:
            yield hs
        except HostFail as exc:
            self._raise_storage(exc.message, what)
        except (StreamLost, OSError) as exc:
            raise DeviceDropped(
                f"{what} broke off: {exc}",
                serial=self._serial,
                hint="reconnect the phone; the push is retried from scratch",
            ) from exc
        finally:
            try:
                hs.send(b"QUIT\0\0\0\0")
            except (StreamLost, OSError):
                pass
            hs.close()

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
            entry = self._lookup()
            if entry is not None and entry.state == "device" and entry.transport_id is not None:
                self._tid, self._state = entry.transport_id, entry.state
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
            log.info("%s: reconnect attempt failed: %s", self._serial, exc)
            return False
        log.info("%s: %s", self._serial, answer)
        return "connected" in answer and "unable" not in answer and "failed" not in answer
