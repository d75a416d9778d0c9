"""``LocalDevice``: this host as a device (serial ``local``).

It mirrors what a phone gives the sweep, with the host's own means:

* ``workdir``: a per-user folder (``benchorch.paths.cache_root()`` +
  ``/local-device``, so ``BENCHORCH_CACHE`` moves it); ``push`` copies into
  it, deduplicated by sha256 (an identical file is not copied:
  ``bytes_sent == 0``), written to a temporary name, hashed while written,
  then renamed, so a reader never sees half a file.
* ``run``: one process, argv as given (no shell), stdout and stderr apart, the
  real exit status (a signal N becomes ``128 + N``, as a phone's shell reports
  it). Each launch leads its own process group (``start_new_session``); on a
  timeout the whole group is killed with SIGKILL and the result says
  ``timed_out=True, complete=False``. ``cpu_mask`` pins with ``taskset`` (as on a
  phone), or ``sched_setaffinity`` in the child when ``taskset`` is missing.
  A program that cannot be started gives the shell's answer: exit 127 (not
  found) or 126 (``can't execute: Permission denied``), which the parser knows.
* ``info``/``health``: ``/proc/cpuinfo``, ``/sys/devices/system/cpu`` (clusters
  by ``cpuinfo_max_freq``, as ``androidfacts.clusters_from_cores``; a host
  without cpufreq is one ``all`` cluster), ``/sys/class/thermal``,
  ``/sys/class/power_supply``, ``os.uname`` and the free space under
  ``workdir``. ``root`` moves all of these reads (tests give a sysfs tree that
  this machine lacks).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from benchorch.abi import abi_for_machine
from benchorch.devices import androidfacts as af
from benchorch.devices.cpumask import mask_cpus, mask_hex
from benchorch.domain import CpuCluster, DeviceInfo, Health, PushResult, ShellResult
from benchorch.errors import DeviceError, DeviceStorageFull, PushFailed, UsageError
from benchorch.files import atomic_open, sha256_file
from benchorch.paths import cache_root

SERIAL = "local"
_CHUNK = 1 << 20


def default_workdir() -> Path:
    return cache_root() / "local-device"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    return af.int_or_none(_read(path))


def _exit_status(returncode: int) -> int:
    """Popen's ``-N`` for "killed by signal N" as a shell reports it: ``128 + N``."""
    return 128 - returncode if returncode < 0 else returncode


class LocalDevice:
    """This host, behind the ``Device`` protocol."""

    def __init__(self, workdir: Path | str | None = None, *, root: Path | str = "/") -> None:
        self._workdir = Path(workdir) if workdir is not None else default_workdir()
        self._root = Path(root)
        self._hashes: dict[tuple[str, int, int, int], str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalDevice(workdir={str(self._workdir)!r})"

    @property
    def serial(self) -> str:
        return SERIAL

    @property
    def workdir(self) -> str:
        return str(self._workdir)

    # --- files ---------------------------------------------------------------------

    def _digest(self, path: Path) -> str:
        """sha256 of ``path``, cached while its size, mtime and inode stay the same."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        with self._lock:
            cached = self._hashes.get(key)
        if cached is None:
            cached = sha256_file(path)
            with self._lock:
                self._hashes[key] = cached
        return cached

    def _storage_error(self, exc: OSError, what: str) -> DeviceError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DeviceStorageFull(
                f"{what}: no space left under {self._workdir}",
                serial=SERIAL,
                hint="free disk space on this host",
            )
        return PushFailed(f"{what}: {exc.strerror or exc}", serial=SERIAL)

    def push(self, local: Path, name: str, *, executable: bool = False) -> PushResult:
        """Copy ``local`` to ``workdir/name`` unless an identical file is there (sha256)."""
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise UsageError(
                f"bad device file name {name!r}", hint="pass one path component, no '/' or NUL"
            )
        local = Path(local)
        if not local.is_file():
            raise UsageError(f"cannot push {local}: not a file", hint="check the path")
        dest = self._workdir / name
        mode = 0o755 if executable else 0o644
        want = self._digest(local)
        size = local.stat().st_size
        try:
            self._workdir.mkdir(parents=True, exist_ok=True)
            if dest.is_file() and dest.stat().st_size == size and self._digest(dest) == want:
                os.chmod(dest, mode)
                return PushResult(str(dest), size, 0, True, want)
            sent = self._copy(local, dest, want, mode)
        except OSError as exc:
            raise self._storage_error(exc, f"push of {local.name} to {dest}") from exc
        return PushResult(str(dest), size, sent, False, want)

    def _copy(self, local: Path, dest: Path, want: str, mode: int) -> int:
        digest = hashlib.sha256()
        sent = 0
        with local.open("rb") as src, atomic_open(dest, mode=mode) as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                sent += len(chunk)
            if digest.hexdigest() != want:
                raise PushFailed(
                    f"{local} changed while it was being copied to {dest}",
                    serial=SERIAL,
                    hint="do not rewrite the file during a sweep; retry",
                )
        return sent

    # --- processes -----------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        cpu_mask: int | None = None,
    ) -> ShellResult:
        """Run ``argv`` in its own process group; ``cwd=None`` runs in ``workdir``."""
        if not argv:
            raise UsageError("run needs a command", hint="pass at least the program to run")
        argv = tuple(str(a) for a in argv)
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise UsageError(f"bad environment variable {key!r}")
            full_env[key] = value
        command, preexec = list(argv), None
        if cpu_mask is not None:
            command, preexec = self._pinned(command, cpu_mask)
        workdir = cwd or str(self._workdir)
        if cwd is None:
            Path(workdir).mkdir(parents=True, exist_ok=True)
        elif not os.path.isdir(cwd):  # a phone's `cd DIR && exec ...` fails so, too
            return ShellResult(argv, 2, "", f"cd: {cwd}: No such file or directory\n", 0.0)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=full_env,
                start_new_session=True,
                preexec_fn=preexec,  # set only when taskset is missing
            )
        except OSError as exc:
            return self._not_started(argv, exc, time.monotonic() - start)
        timed_out = False
        try:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self._kill_group(proc)
                out, err = self._drain(proc)
        except BaseException:  # Ctrl-C or anything else: leave nothing running
            self._kill_group(proc)
            proc.wait()
            raise
        return ShellResult(
            argv=argv,
            exit_code=_exit_status(proc.returncode),
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            duration_s=time.monotonic() - start,
            timed_out=timed_out,
            complete=not timed_out,
        )

    def _pinned(
        self, command: list[str], cpu_mask: int
    ) -> tuple[list[str], Callable[[], None] | None]:
        cpus = mask_cpus(cpu_mask) if cpu_mask > 0 else ()
        allowed = os.sched_getaffinity(0)
        if not cpus or not set(cpus) <= allowed:
            raise DeviceError(
                f"cpu mask {cpu_mask:#x} names CPUs this host cannot run on "
                f"(available: {','.join(map(str, sorted(allowed)))})",
                serial=SERIAL,
                hint="pick cores from `benchorch devices` or drop the core mask",
            )
        taskset = shutil.which("taskset")
        if taskset:
            return [taskset, mask_hex(cpu_mask), *command], None

        def pin() -> None:  # pragma: no cover - runs in the child, only without taskset
            os.sched_setaffinity(0, cpus)

        return command, pin

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        # The group id is the leader's pid; the leader is not reaped yet, so the
        # id cannot have been reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    @staticmethod
    def _drain(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
        try:
            return proc.communicate(timeout=5.0)
        except subprocess.TimeoutExpired:
            # A process that left the group still holds the pipes: stop reading.
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            proc.wait()
            return b"", b""

    @staticmethod
    def _not_started(argv: tuple[str, ...], exc: OSError, duration: float) -> ShellResult:
        if isinstance(exc, FileNotFoundError):
            code, text = 127, f"{argv[0]}: not found"
        else:
            code, text = 126, f"{argv[0]}: can't execute: {exc.strerror or exc}"
        return ShellResult(argv, code, "", text + "\n", duration)

    # --- facts ---------------------------------------------------------------------

    def _sys(self, *parts: str) -> Path:
        return self._root.joinpath("sys", *parts)

    def _cpuinfo(self) -> dict[str, str]:
        """The first value of each key in /proc/cpuinfo."""
        fields: dict[str, str] = {}
        for line in (_read(self._root / "proc" / "cpuinfo") or "").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() and key.strip() not in fields:
                fields[key.strip()] = value.strip()
        return fields

    def _online(self) -> tuple[int, ...]:
        text = _read(self._sys("devices", "system", "cpu", "online"))
        if text:
            return af.parse_cpu_list(text)
        return tuple(sorted(os.sched_getaffinity(0))) if self._root == Path("/") else ()

    def _cores(self) -> tuple[af.CpuCore, ...]:
        base = self._sys("devices", "system", "cpu")
        return tuple(
            af.CpuCore(
                cpu,
                _read_int(base / f"cpu{cpu}" / "cpufreq" / "cpuinfo_max_freq"),
                _read_int(base / f"cpu{cpu}" / "cpufreq" / "scaling_cur_freq"),
            )
            for cpu in self._online()
        )

    def clusters(self) -> tuple[CpuCluster, ...]:
        return af.clusters_from_cores(self._cores())

    def _thermal(self) -> dict[str, float]:
        zones: dict[str, float] = {}
        base = self._sys("class", "thermal")
        for zone in sorted(base.glob("thermal_zone*")):
            value = _read_int(zone / "temp")
            if value is None:
                continue
            name = _read(zone / "type") or zone.name
            if name in zones:
                name = f"{name} ({zone.name})"
            zones[name] = af.temp_to_c(value)
        return zones

    def _battery(self) -> tuple[int | None, bool | None, float | None]:
        """(level %, charging, temperature °C) of the first ``Battery`` supply."""
        for supply in sorted(self._sys("class", "power_supply").glob("*")):
            if _read(supply / "type") != "Battery":
                continue
            status = _read(supply / "status")
            temp = _read_int(supply / "temp")  # tenths of a degree
            charging = None if status is None else status in ("Charging", "Full")
            return _read_int(supply / "capacity"), charging, None if temp is None else temp / 10
        return None, None, None

    def info(self) -> DeviceInfo:
        cpu = self._cpuinfo()
        uname = os.uname()
        dmi = self._sys("class", "dmi", "id")
        dt_model = _read(self._root / "proc" / "device-tree" / "model")
        soc = cpu.get("model name") or cpu.get("Hardware") or cpu.get("CPU part")
        os_name = self._os_release()
        level, charging, temp = self._battery()
        free = None
        with contextlib.suppress(OSError):
            self._workdir.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self._workdir).free
        return DeviceInfo(
            serial=SERIAL,
            state="local",
            model=_read(dmi / "product_name") or (dt_model or "").rstrip("\0") or soc,
            manufacturer=_read(dmi / "sys_vendor") or cpu.get("vendor_id"),
            soc=soc,
            abis=(abi_for_machine(uname.machine),),
            fingerprint=f"{os_name}/{uname.sysname} {uname.release} {uname.version}"
            f"/{uname.machine}",
            clusters=self.clusters(),
            battery_level=level,
            charging=charging,
            battery_temp_c=temp,
            thermal_zones=self._thermal(),
            free_bytes=free,
            rooted=os.geteuid() == 0,
        )

    def _os_release(self) -> str:
        for line in (_read(self._root / "etc" / "os-release") or "").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
        return "unknown"

    def health(self) -> Health:
        level, charging, temp = self._battery()
        hot = af.hottest(self._thermal())
        cores = self._cores()
        return Health(
            taken_at=time.time(),
            battery_level=level,
            battery_temp_c=temp,
            charging=charging,
            hottest_zone=hot[0] if hot else None,
            hottest_zone_c=hot[1] if hot else None,
            online_cpus=tuple(c.cpu for c in cores),
            cpu_cur_khz={c.cpu: c.cur_khz for c in cores if c.cur_khz is not None},
        )

    # --- connection ------------------------------------------------------------------

    def reconnect(self, *, within_s: float) -> None:
        """This host never drops."""

    def close(self) -> None:
        """Nothing to release."""
