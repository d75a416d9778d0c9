"""Running phone commands on this host, in a per-phone sandbox.

Approach (chosen because it needs no privileges and composes inside any shell
line the device layer sends): *path rewriting plus shims*, not a mount
namespace.

* The command line is rewritten before it runs: ``/data/local/tmp`` becomes
  the phone's folder, ``/sys`` the profile's fake sysfs, ``/sdcard`` (and
  ``/storage/emulated/0``) a private folder, ``/proc/cpuinfo`` (ARM profiles)
  a generated one; other ``/proc`` paths stay the host's, so PIDs are real;
  ``/system/bin/NAME`` is our shim of that name, else the host's ``/usr/bin/NAME``.
  A path only matches as a whole path component (not inside
  ``/x/data/local/tmp`` or ``/sysfoo``).
* Output is rewritten back (host folder -> phone path), streaming, holding back
  only a tail that could be the start of a host path.
* The shell is ``mksh`` run as ``/system/bin/sh`` (Android's shell *is* mksh),
  so error messages are the phone's own: ``/system/bin/sh: ./x: can't execute:
  Permission denied`` and ``inaccessible or not found``. Debian's mksh prefixes
  them with ``E: ``, which the output filter removes.
* cwd is the phone folder, ``TMPDIR`` too; PATH starts with the shims
  (``fakesys.py``).
* The phone's log is ``logd.py``'s: a logd started with the sandbox, its
  ``logcat`` and ``log`` commands on PATH, ``$BENCHORCH_LOGDW`` naming its socket.
* Every command gets its own session and process group (``setsid``, as
  adbd's child does), so PIDs are real host PIDs: ``echo $$``, ``ps``,
  ``kill -9 -PGID`` and ``/proc/PID`` work. What ends a command (SIGHUP when
  its stream closes early, nothing on a normal exit) is ``services.py``'s;
  only when the phone itself stops is every group it started killed,
  background processes that outlived their command included.

Limits: a path assembled at run time (``d=/data; cd $d/local/tmp``) is not
rewritten; commands run as this host's user whatever ``id`` says; the phone
runs any host binary whatever its profile's ABI (check ABIs before pushing);
a full disk fails pushes, not writes made by shell commands.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchorch.errors import UsageError
from benchorch.virtualphone.fakesys import FakeSys
from benchorch.virtualphone.faults import FaultState, Hog
from benchorch.virtualphone.logd import ENV_LOGDW, Logd, shims
from benchorch.virtualphone.profile import Profile

log = logging.getLogger("benchorch.virtualphone")

PHONE_TMP = "/data/local/tmp"
SHELL_ARGV0 = "/system/bin/sh"
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
#: a phone path only matches as a whole component: not preceded by a path char,
#: not followed by a name char.
_BEFORE = r"(?<![\w.\-/])"
_AFTER = r"(?![\w.\-])"


def signal_group(pgid: int, sig: int) -> bool:
    """``killpg``; False when the group has no members left (or is not ours)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def find_shell() -> str:
    mksh = shutil.which("mksh") or ("/bin/mksh" if Path("/bin/mksh").exists() else None)
    if mksh:
        return mksh
    log.warning("mksh not found (apt-get install mksh); error messages will be dash's")
    return "/bin/sh"


class OutputRewriter:
    """Streaming byte replacement (host paths -> phone paths) with a held-back tail."""

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))
        self._re = re.compile(b"|".join(re.escape(a) for a, _ in self.pairs))
        self._map = dict(self.pairs)
        self._keep = max(len(a) for a, _ in self.pairs) - 1
        self._tail = b""

    def feed(self, data: bytes) -> bytes:
        """Rewrite what is certain; keep back a raw tail that may start a pattern."""
        buf = self._tail + data
        hold = 0
        for k in range(min(len(buf), self._keep), 0, -1):
            suffix = buf[-k:]
            if any(a.startswith(suffix) for a in self._map):
                hold = k
                break
        self._tail = buf[len(buf) - hold :] if hold else b""
        ready = buf[: len(buf) - hold] if hold else buf
        return self._re.sub(lambda m: self._map[m.group(0)], ready)

    def flush(self) -> bytes:
        tail, self._tail = self._tail, b""
        return self._re.sub(lambda m: self._map[m.group(0)], tail)


class Sandbox:
    """One phone's folders, shims and command runner."""

    def __init__(
        self, profile: Profile, faults: FaultState, root: Path, state: Path | None = None
    ) -> None:
        self.profile = profile
        self.faults = faults
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._own_state = state is None
        self.state = (
            Path(tempfile.mkdtemp(prefix="vphone-state-")) if state is None else state.resolve()
        )
        for p in (self.root, self.state):
            if not _SAFE_PATH.match(str(p)):
                raise UsageError(
                    f"virtual phone folder {p} has characters a shell would split",
                    hint="use a path of letters, digits and ._+-/ only",
                )
        self.fake = FakeSys(profile, faults, self.state, self.root)
        #: process groups of commands started, while they have members
        self._groups: set[int] = set()
        self._groups_lock = threading.Lock()
        self.shell = find_shell()
        self.fake.build(self.shell)
        self.logd = Logd(self.state / "dev/socket")
        for name, text in shims(sys.executable, self.logd).items():
            (self.fake.bin / name).write_text(text)
            (self.fake.bin / name).chmod(0o755)
        self._rules = [
            (re.compile(_BEFORE + re.escape(PHONE_TMP) + _AFTER), str(self.root)),
            (re.compile(_BEFORE + r"/sys" + _AFTER), str(self.fake.sys)),
            (
                re.compile(_BEFORE + r"/(?:sdcard|storage/emulated/0)" + _AFTER),
                str(self.fake.sdcard),
            ),
        ]
        # /system/bin/NAME: our shim when there is one, else the host's tool
        self._rules.append((re.compile(_BEFORE + r"/system/bin/(?=[\w.-]+)"), ""))
        cpuinfo = self.state / "proc/cpuinfo"
        if cpuinfo.exists():
            self._rules.append((re.compile(_BEFORE + r"/proc/cpuinfo" + _AFTER), str(cpuinfo)))

    @property
    def noexec(self) -> bool:
        return self.profile.noexec or self.faults.faults.noexec

    def close(self) -> None:
        """Kill every process group the phone started (the phone is going away:
        background processes too), then remove the private state."""
        with self._groups_lock:
            groups = list(self._groups)
            self._groups.clear()
        for pgid in groups:
            signal_group(pgid, signal.SIGKILL)
        self.logd.close()
        if self._own_state:
            shutil.rmtree(self.state, ignore_errors=True)

    # --- paths -------------------------------------------------------------------
    def rewrite(self, command: str) -> str:
        for pattern, host in self._rules:
            if host:
                command = pattern.sub(lambda _m, h=host: h, command)  # type: ignore[misc]
            else:
                command = pattern.sub(self._system_bin, command)
        return command

    def _system_bin(self, m: re.Match[str]) -> str:
        name = re.match(r"[\w.-]+", m.string[m.end() :])
        shim = self.fake.bin / (name.group(0) if name else "")
        return f"{self.fake.bin}/" if name and shim.is_file() else "/usr/bin/"

    def output_rewriter(self) -> OutputRewriter:
        return OutputRewriter(
            [
                (str(self.root).encode(), PHONE_TMP.encode()),
                (str(self.fake.sys).encode(), b"/sys"),
                (str(self.fake.sdcard).encode(), b"/sdcard"),
                (str(self.fake.bin).encode(), b"/system/bin"),
                (str(self.state / "proc/cpuinfo").encode(), b"/proc/cpuinfo"),
                (b"E: " + SHELL_ARGV0.encode() + b": ", SHELL_ARGV0.encode() + b": "),
                (b"W: " + SHELL_ARGV0.encode() + b": ", SHELL_ARGV0.encode() + b": "),
            ]
        )

    def host_path(self, phone_path: str) -> Path | None:
        """The host file behind a phone path, or None outside the phone's folders."""
        norm = os.path.normpath("/" + phone_path.lstrip("/"))
        for prefix, host in (
            (PHONE_TMP, self.root),
            ("/sdcard", self.fake.sdcard),
            ("/storage/emulated/0", self.fake.sdcard),
        ):
            if norm == prefix:
                return host
            if norm.startswith(prefix + "/"):
                return host / norm[len(prefix) + 1 :]
        return None

    # --- commands ----------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.fake.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.root),
            "TMPDIR": str(self.root),
            "ANDROID_DATA": "/data",
            "ANDROID_ROOT": "/system",
            "EXTERNAL_STORAGE": "/sdcard",
            "HOSTNAME": self.profile.props.get("ro.product.device", "localhost"),
            "USER": "root" if self.profile.rooted else "shell",
            "LANG": "C.UTF-8",
            ENV_LOGDW: str(self.logd.write_path),  # where liblog's writers find logd
        }

    def spawn(self, command: str, *, merge_stderr: bool) -> subprocess.Popen[bytes]:
        """Start ``command`` (a phone shell line; empty: an interactive shell)."""
        if self.fake.hot:
            self.fake.refresh()
        if command and self.faults.hangs(command):
            log.info("hanging command %r (fault)", command)
            command = self.faults.substitute_hang(command, str(self.fake.bin / ".vphone-hang"))
        host_cmd = self.rewrite(command)
        argv = [SHELL_ARGV0, "-c", host_cmd] if command else [SHELL_ARGV0]
        proc = subprocess.Popen(
            argv,
            executable=self.shell,
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True,
            bufsize=0,
        )
        with self._groups_lock:
            # groups whose every member is gone are forgotten (their ids may be reused)
            self._groups = {g for g in self._groups if signal_group(g, 0)}
            self._groups.add(proc.pid)
        share = self.faults.slows(command) if command else 0.0
        if share > 0:
            log.info("slowing launch %d by %.0f%% (fault)", proc.pid, share * 100)
            hog = Hog(proc, share)
            with self._groups_lock:
                self._groups.add(hog.loop.pid)
            hog.start()
        return proc

    @staticmethod
    def exit_code(returncode: int) -> int:
        """adbd's exit status: the code, or 128 + signal when killed."""
        return returncode if returncode >= 0 else 128 - returncode
