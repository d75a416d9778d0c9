"""An isolated Debian ``adb`` server and virtual phones attached to it.

The harness the tests (``tests/support/adb_fixtures.py`` wraps it in fixtures)
and the benchmarks share; a real module so neither imports the other.

* ``AdbServer(home)``: Debian's real ``adb`` running as ``adb -P PORT nodaemon
  server`` under our PID, with its own HOME and TMPDIR and ``ADB_EMU=0 ADB_USB=0
  ADB_MDNS=0`` (so it never probes 5555-5585 or USB); ``.start()``, ``.port``,
  ``.env`` (also has ``ANDROID_ADB_SERVER_PORT``), ``.run(*args)``, ``.stop()``.
* ``VirtualPhone(adb, root, profile, faults, log)``: ``python -m
  benchorch.virtualphone`` on a free loopback port; ``.start()`` waits until it
  listens and ``adb connect``s it until ``adb devices`` says ``device``. It has
  ``.serial``, ``.port``, ``.root`` (the host folder that is its
  ``/data/local/tmp``), ``.pid``, ``.stop()`` (SIGTERM), ``.kill()`` (SIGKILL,
  like a phone vanishing), ``.restart()``, ``.shell(cmd)``, ``.close()``;
  ``session_log=PATH`` logs its benchmark processes there (``sessions.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ADB = shutil.which("adb") or "/usr/bin/adb"

#: fault key -> CLI flag of ``benchorch virtual-phone``
FAULT_FLAGS = {
    "drop_after_push_bytes": "--drop-after-push-bytes",
    "drop_after_shell_seconds": "--drop-after-shell-seconds",
    "drop_times": "--drop-times",
    "drop_launch_every": "--drop-launch-every",
    "hang": "--hang",
    "hot_c": "--hot",
    "cool_rate_c_per_s": "--cool-rate",
    "damage_push": "--damage-push",
    "full_disk": "--full-disk",
    "noexec": "--noexec",
    "battery_level": "--battery-level",
    "slow_pct": "--slow-pct",
    "slow_match": "--slow-match",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def child_pids(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (the phone's command session leaders)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


class AdbServer:
    """A real adb server on its own port, HOME and TMPDIR."""

    def __init__(self, home: Path, *, port: int | None = None) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "HOME": str(home),
            "TMPDIR": str(home),
            "ADB_EMU": "0",
            "ADB_USB": "0",
            "ADB_MDNS": "0",
            "ANDROID_ADB_SERVER_PORT": str(self.port),
        }
        self.log = home / "adb-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [ADB, "-P", str(self.port), "nodaemon", "server"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self.run("devices", timeout=5).returncode == 0, 20, "the adb server")

    def run(
        self, *args: str, timeout: float = 60, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``adb -P PORT ARGS...`` with this server's environment; never raises on exit codes."""
        return subprocess.run(
            [ADB, "-P", str(self.port), *args],
            env=self.env,
            input=input.decode() if input is not None else None,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def state(self, serial: str) -> str | None:
        """The serial's state in ``adb devices`` (device, offline, ...), None when absent."""
        out = self.run("devices", timeout=10).stdout
        for line in out.splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) == 2 and parts[0] == serial:
                return parts[1].strip()
        return None

    def wait_state(self, serial: str, state: str | None, timeout: float = 15) -> None:
        wait_for(lambda: self.state(serial) == state, timeout, f"{serial} to be {state}")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.run("kill-server", timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)
            self.proc.wait(timeout=5)


class VirtualPhone:
    """One ``python -m benchorch.virtualphone`` process attached to an adb server."""

    def __init__(
        self,
        adb: AdbServer,
        root: Path,
        profile: str,
        faults: dict[str, Any],
        log: Path,
        *,
        session_log: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.adb = adb
        self.session_log = session_log  # its benchmark sessions (sessions.py), when given
        self.root = root
        self.profile = profile
        self.faults = dict(faults)
        self.log = log
        self.port = port or free_port()
        self.serial = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "benchorch.virtualphone", "--port", str(self.port)]
        argv += ["--profile", self.profile, "--root", str(self.root)]
        if self.session_log is not None:
            argv += ["--session-log", str(self.session_log)]
        for key, value in self.faults.items():
            flag = FAULT_FLAGS[key]
            if value is True:
                argv.append(flag)
            elif value is not None and value is not False:
                argv += [flag, str(value)]
        return argv

    def start(self, *, connect: bool = True) -> None:
        marker = self.log.read_text() if self.log.exists() else ""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"virtual phone exited: {self.log.read_text()[-2000:]}")
            return self.log.read_text().count("vphone: listening on") > marker.count(
                "vphone: listening on"
            )

        wait_for(ready, 20, f"virtual phone on port {self.port}")
        if connect:
            self.connect()

    def connect(self, timeout: float = 15) -> None:
        def attached() -> bool:
            if self.adb.state(self.serial) == "device":
                return True
            self.adb.run("connect", self.serial, timeout=10)
            return self.adb.state(self.serial) == "device"

        wait_for(attached, timeout, f"{self.serial} to attach")

    def _signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        leaders = child_pids(self.proc.pid)
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for pid in leaders:  # commands it ran are session leaders: their groups
            kill_group(pid)

    def stop(self) -> None:
        """SIGTERM: the phone kills its commands and goes away (adb marks it offline)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the phone vanishes at once."""
        self._signal(signal.SIGKILL)

    def restart(self, *, reconnect: bool = True) -> None:
        """Stop and start again on the same port (and folder); reattach it when asked."""
        self.stop()
        if reconnect:
            self.adb.run("disconnect", self.serial, timeout=10)
        self.start(connect=reconnect)

    def shell(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.adb.run("-s", self.serial, "shell", command, timeout=timeout)

    def close(self) -> None:
        self.stop()
        self.adb.run("disconnect", self.serial, timeout=10)
