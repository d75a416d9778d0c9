"""The phone's face, generated from its profile into a private state folder.

``STATE/sys/...`` is a fake sysfs (cpu online list, per-core cpufreq, thermal
zones, battery), ``STATE/props/NAME`` holds one getprop value each, and
``STATE/bin`` holds shims that come first on PATH: ``getprop``, ``dumpsys``,
``id``, ``su``, ``df``, ``taskset``, ``uname``, ``nproc``, ``sh`` (mksh as
``/system/bin/sh``) and, when noexec, ``chmod``. Shims are POSIX ``sh``
scripts with absolute paths baked in, so they compose inside any shell line.

Units follow Android: ``thermal_zone*/temp`` in millidegrees C, battery
``temp`` in tenths of a degree, cpufreq in kHz.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from benchorch.files import atomic_write
from benchorch.virtualphone.faults import FaultState
from benchorch.virtualphone.profile import Profile

#: dumpsys battery's status codes (BatteryManager.BATTERY_STATUS_*).
BATTERY_STATUS = {"Unknown": 1, "Charging": 2, "Discharging": 3, "Not charging": 4, "Full": 5}


def _write(path: Path, text: str) -> None:
    """Write atomically (readers in concurrent commands never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


def _ranges(cpus: list[int]) -> str:
    """[0,1,2,4] -> "0-2,4" (the kernel's cpu list format)."""
    out: list[str] = []
    for c in sorted(cpus):
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == c - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{c}"
        elif out and "-" not in out[-1] and int(out[-1]) == c - 1:
            out[-1] = f"{out[-1]}-{c}"
        else:
            out.append(str(c))
    return ",".join(out)


class FakeSys:
    def __init__(self, profile: Profile, faults: FaultState, state: Path, root: Path) -> None:
        self.profile = profile
        self.faults = faults
        self.state = state
        self.root = root
        self.sys = state / "sys"
        self.bin = state / "bin"
        self.sdcard = state / "sdcard"

    # --- static parts ------------------------------------------------------------
    def build(self, shell: str = "/bin/mksh") -> None:
        p = self.profile
        cpus = [c for cl in p.clusters for c in cl.cpus]
        cpu = self.sys / "devices/system/cpu"
        for name in ("online", "possible", "present"):
            _write(cpu / name, _ranges(cpus) + "\n")
        for cl in p.clusters:
            for c in cl.cpus:
                _write(cpu / f"cpu{c}/online", "1\n")
                freq = cpu / f"cpu{c}/cpufreq"
                _write(freq / "cpuinfo_max_freq", f"{cl.max_khz}\n")
                _write(freq / "cpuinfo_min_freq", f"{cl.min_khz}\n")
                _write(freq / "scaling_max_freq", f"{cl.max_khz}\n")
                _write(freq / "scaling_min_freq", f"{cl.min_khz}\n")
                _write(
                    freq / "scaling_governor",
                    "sched_pixel\n"
                    if "Tensor" in p.props.get("ro.soc.model", "")
                    else "schedutil\n",
                )
                _write(freq / "related_cpus", " ".join(map(str, cl.cpus)) + "\n")
        for i, zone in enumerate(p.thermal):
            _write(self.sys / f"class/thermal/thermal_zone{i}/type", zone.type + "\n")
        _write(self.sys / "class/power_supply/battery/capacity", f"{self.battery_level}\n")
        _write(self.sys / "class/power_supply/battery/status", f"{p.battery_status}\n")
        props = self.state / "props"
        props.mkdir(parents=True, exist_ok=True)
        for key, value in p.props.items():
            _write(props / key, value + "\n")
        _write(
            self.state / "getprop.txt",
            "".join(f"[{k}]: [{v}]\n" for k, v in sorted(p.props.items())),
        )
        self.sdcard.mkdir(parents=True, exist_ok=True)
        if not p.machine.startswith(("x86", "i686")):
            _write(self.state / "proc/cpuinfo", self.cpuinfo())
        self._shims(shell)
        self.refresh()

    def avail_base_k(self) -> int:
        """Free KiB with an empty phone folder (0 when the disk-full fault is on)."""
        p = self.profile
        return 0 if self.faults.faults.full_disk else min(p.free_bytes, p.total_bytes) // 1024

    def free_bytes(self) -> int:
        """Free bytes now: the profile's free space less the phone folder's files."""
        if self.faults.faults.full_disk:
            return 0
        used = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                try:
                    used += os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    pass
        return max(0, min(self.profile.free_bytes, self.profile.total_bytes) - used)

    # --- dynamic parts (temperatures) ----------------------------------------------
    def refresh(self) -> None:
        """Rewrite the temperature files for now (the hot fault cools over time)."""
        p = self.profile
        for i, zone in enumerate(p.thermal):
            temp = self.faults.temp_c(zone.temp_c)
            _write(self.sys / f"class/thermal/thermal_zone{i}/temp", f"{round(temp * 1000)}\n")
        btemp = self.faults.temp_c(p.battery_temp_c)
        _write(self.sys / "class/power_supply/battery/temp", f"{round(btemp * 10)}\n")
        for cl in p.clusters:
            khz = self.throttled_khz(cl.cur_khz, cl.min_khz)
            for c in cl.cpus:
                _write(self.sys / f"devices/system/cpu/cpu{c}/cpufreq/scaling_cur_freq", f"{khz}\n")
        status = BATTERY_STATUS.get(p.battery_status, 1)
        charging = status in (2, 5)
        _write(
            self.state / "dumpsys-battery.txt",
            "Current Battery Service state:\n"
            f"  AC powered: false\n  USB powered: {str(charging).lower()}\n"
            "  Wireless powered: false\n  Max charging current: 500000\n"
            "  Max charging voltage: 5000000\n  Charge counter: 3386000\n"
            f"  status: {status}\n  health: 2\n  present: true\n"
            f"  level: {self.battery_level}\n  scale: 100\n  voltage: 4123\n"
            f"  temperature: {round(btemp * 10)}\n  technology: Li-ion\n",
        )

    @property
    def battery_level(self) -> int:
        override = self.faults.faults.battery_level
        return self.profile.battery_level if override is None else override

    def cpuinfo(self) -> str:
        """A short ARM-style /proc/cpuinfo (x86 profiles keep the host's)."""
        blocks = [
            f"processor\t: {c}\nBogoMIPS\t: 49.15\n"
            "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp\n"
            "CPU implementer\t: 0x41\nCPU architecture: 8\n"
            for cl in self.profile.clusters
            for c in cl.cpus
        ]
        return "\n".join(blocks) + f"\nHardware\t: {self.profile.props.get('ro.hardware', '')}\n"

    def throttled_khz(self, cur_khz: int, min_khz: int) -> int:
        """Thermal throttling while hot: 2 % less clock per degree above the
        hottest zone's normal temperature, never below the cluster's minimum."""
        if not self.hot or not self.profile.thermal:
            return cur_khz
        normal = max(z.temp_c for z in self.profile.thermal)
        excess = self.faults.temp_c(normal) - normal
        factor = max(0.3, 1.0 - 0.02 * excess)
        return max(min_khz, round(cur_khz * factor))

    @property
    def hot(self) -> bool:
        return self.faults.faults.hot_c is not None

    # --- shims -------------------------------------------------------------------
    def _shims(self, shell: str) -> None:
        p = self.profile
        q = shlex.quote
        st = self.state
        root = q(str(self.root))
        allmask = sum(1 << c for cl in p.clusters for c in cl.cpus)
        uname_a = f"Linux localhost {p.kernel} #1 SMP PREEMPT {p.machine} Toybox"
        shims = {
            "nproc": f"echo {p.ncpus}\n",
            ".vphone-hang": "exec sleep 2147483647\n",  # the --hang fault's program
            "uname": f"""
case "${{1:-}}" in
  ''|-s) echo Linux;;
  -m) echo {q(p.machine)};;
  -r) echo {q(p.kernel)};;
  -n) echo localhost;;
  -a) echo {q(uname_a)};;
  *) exec /bin/uname "$@";;
esac
""",
            "getprop": f"""
if [ $# -eq 0 ]; then exec cat {q(str(st / "getprop.txt"))}; fi
case "$1" in */*|.*|'') printf '%s\\n' "${{2:-}}"; exit 0;; esac
if [ -f {q(str(st / "props"))}/"$1" ]; then exec cat {q(str(st / "props"))}/"$1"; fi
printf '%s\\n' "${{2:-}}"
""",
            "dumpsys": f"""
case "${{1:-}}" in
  battery) exec cat {q(str(st / "dumpsys-battery.txt"))};;
  -l) echo "Currently running services:"; echo "  battery"; exit 0;;
  *) exit 0;;
esac
""",
            "id": (
                'echo "uid=0(root) gid=0(root) groups=0(root) context=u:r:su:s0"\n'
                if p.rooted
                else 'echo "uid=2000(shell) gid=2000(shell) '
                "groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),"
                '3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0"\n'
            ),
            "su": (
                """
case "${1:-}" in 0|root) shift;; esac
if [ "${1:-}" = "-c" ]; then shift; exec /bin/mksh -c "$*"; fi
if [ $# -eq 0 ]; then exec /bin/mksh; fi
exec "$@"
"""
                if p.rooted
                else 'echo "/system/bin/sh: su: inaccessible or not found" >&2\nexit 127\n'
            ),
            # toybox df: 1K blocks; the phone folder's files use up the free space
            "df": f"""
fake=0; other=0
for a in "$@"; do
  case "$a" in
    -*) ;;
    {root}|{root}/*|/data|/data/*) fake=1;;
    *) other=1;;
  esac
done
if [ $other = 1 ]; then exec /bin/df "$@"; fi
size={p.total_bytes // 1024}
mine=$(find {root} -type f -printf '%s\\n' 2>/dev/null | awk '{{s+=$1}} END {{print int(s/1024)}}')
avail=$(({self.avail_base_k()} - ${{mine:-0}})); [ $avail -lt 0 ] && avail=0
used=$((size - avail)); pct=$(( (used * 100 + size - 1) / size ))
line=$(printf '%-16s %9d %8d %9d %3d%% /data' {q(p.block_device)} $size $used $avail $pct)
echo "Filesystem       1K-blocks     Used Available Use% Mounted on"
if [ $fake = 0 ]; then echo "$line"; exit 0; fi
for a in "$@"; do case "$a" in -*) ;; *) echo "$line";; esac; done
""",
            "taskset": f"""
p=0
while [ $# -gt 0 ]; do
  case "$1" in -p|-ap|-pa) p=1; shift;; -a) shift;; *) break;; esac
done
if [ $p = 1 ] && [ $# -eq 1 ]; then
  printf "pid %s's current affinity mask: %x\\n" "$1" {allmask}; exit 0
fi
mask=${{1:-}}; shift
case "$mask" in ''|*[!0-9a-fA-Fx]*) echo "taskset: bad mask '$mask'" >&2; exit 1;; esac
m=$((0x${{mask#0x}}))
if [ $((m & {allmask})) -eq 0 ]; then
  echo "taskset: sched_setaffinity: Invalid argument" >&2; exit 1
fi
if [ $p = 1 ]; then exit 0; fi
if [ $# -eq 0 ]; then echo "usage: taskset [-ap] [mask] [PID | cmd [args...]]" >&2; exit 1; fi
case "$1" in */*) if [ -e "$1" ] && [ ! -x "$1" ]; then
  echo "taskset: exec $1: Permission denied" >&2; exit 126; fi;; esac
if [ $((m >> $(/usr/bin/nproc))) -eq 0 ]; then exec /usr/bin/taskset "$mask" "$@"; fi
exec "$@"
""",
        }
        if not p.date_ns:  # an old toolbox date: %N is not a conversion, it prints N
            shims["date"] = """
for a in "$@"; do
  shift
  case "$a" in +*) a=$(printf '%s' "$a" | sed 's/%N/N/g');; esac
  set -- "$@" "$a"
done
exec /bin/date "$@"
"""
        if self.faults.faults.noexec or p.noexec:
            shims["chmod"] = f"""
/bin/chmod "$@" || exit $?
for a in "$@"; do
  case "$a" in {root}/*) [ -f "$a" ] && /bin/chmod a-x "$a";; esac
done
exit 0
"""
        for name, body in shims.items():
            path = self.bin / name
            _write(path, "#!/bin/sh\n" + body.lstrip("\n"))
            path.chmod(0o755)
        if shell.endswith("mksh"):  # `sh` is the phone's shell, not the host's dash
            sh = self.bin / "sh"
            _write(sh, f'#!{shell}\nexec -a /system/bin/sh {shell} "$@"\n')
            sh.chmod(0o755)
