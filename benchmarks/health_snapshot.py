"""A health snapshot's cost on a phone: sysfs read by the shell's ``read`` vs a
``cat`` process per file (as before issue 16).

Side by side in one run, interleaved, on a virtual phone (``pixel8``: 8 cores,
several thermal zones) behind an isolated Debian adb server: ``HEALTH_SCRIPT``
as it is, and the same script with the thermal-zone and cpufreq loops forking
``cat`` per file. Both must print the same sections. A launch reads two
snapshots (before and after, in its own shell).

    .venv/bin/python benchmarks/health_snapshot.py [--calls 20] [--profile pixel8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchorch.devices import androidfacts as af
from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.virtualphone.harness import AdbServer, VirtualPhone

CAT_THERMAL = (
    'for z in /sys/class/thermal/thermal_zone*; do [ -d "$z" ] || continue; '
    'printf \'%s\\t%s\\t%s\\n\' "${z##*/}" "$(cat "$z/type" 2>/dev/null)" '
    '"$(cat "$z/temp" 2>/dev/null || echo -)"; done'
)
CAT_CPUS = (
    'for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$c" ] || continue; '
    'echo "${c##*/} $(cat "$c/cpufreq/cpuinfo_max_freq" 2>/dev/null || echo -)'
    ' $(cat "$c/cpufreq/scaling_cur_freq" 2>/dev/null || echo -)"; done'
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--profile", default="pixel8")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-health-"))
    adb = AdbServer(tmp / "adb")
    adb.start()
    phone = VirtualPhone(adb, tmp / "root", args.profile, {}, tmp / "phone.log")
    try:
        phone.start()
        dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb.port))
        forking = af.HEALTH_SCRIPT.replace(af.THERMAL_SNIPPET, CAT_THERMAL).replace(
            af.CPU_SNIPPET, CAT_CPUS
        )
        assert forking != af.HEALTH_SCRIPT
        same = af.split_sections(dev.conn.shell(forking, timeout=30).stdout)
        assert same == af.split_sections(dev.conn.shell(af.HEALTH_SCRIPT, timeout=30).stdout)
        cat: list[float] = []
        read: list[float] = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            dev.conn.shell(forking, timeout=30)
            cat.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            dev.conn.shell(af.HEALTH_SCRIPT, timeout=30)
            read.append(time.perf_counter() - t0)
        a, b = statistics.median(cat), statistics.median(read)
        print(f"{args.profile}: cat per file {a * 1e3:6.1f} ms   read builtin {b * 1e3:6.1f} ms")
        print(f"ratio read/cat : {b / a:.2f} (median of {args.calls}, interleaved)")
    finally:
        phone.stop()
        adb.stop()


if __name__ == "__main__":
    main()
