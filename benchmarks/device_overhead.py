"""Per-call overhead of ``AdbDevice.run(["true"])`` against ``adb -s SERIAL shell true``.

Both talk to the same virtual phone through the same isolated Debian adb
server, interleaved call by call (ABAB...) so drifts hit both alike. Prints the
median of N calls of each and their ratio (ours / adb); the target is <= 1.5.
Also prints adbutils' own ``shell2(v2=True)`` by serial for reference.

    .venv/bin/python benchmarks/device_overhead.py [--calls 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchorch.virtualphone.harness import AdbServer, VirtualPhone


@dataclass(frozen=True)
class Bench:
    adb_port: int
    serial: str
    env: dict[str, str]

    def adb(self, *args: str) -> list[str]:
        return ["adb", "-P", str(self.adb_port), *args]


@contextmanager
def phone_and_server(
    profile: str = "x86_64_emulator", *, in_memory: bool = False
) -> Iterator[Bench]:
    """An isolated adb server and one virtual phone attached with ``adb connect``
    (``benchorch.virtualphone.harness``); both stopped by PID at the end.
    ``in_memory``: their HOME (and the phone's folder) on /dev/shm."""
    shm = Path("/dev/shm")
    where = str(shm) if in_memory and shm.is_dir() else None
    home = Path(tempfile.mkdtemp(prefix="bench-adb-", dir=where))
    server = AdbServer(home / "adb")
    server.start()
    phone = VirtualPhone(server, home / "phone", profile, {}, home / "phone.log")
    (home / "phone").mkdir()
    try:
        phone.start()
        yield Bench(server.port, phone.serial, server.env)
    finally:
        phone.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()

    import adbutils

    from benchorch.devices.adb import AdbDevice
    from benchorch.devices.adbhost import ServerAddr

    with phone_and_server() as b:
        dev = AdbDevice(b.serial, addr=ServerAddr("127.0.0.1", b.adb_port))
        assert dev.run(["true"], timeout=10).ok
        lib = adbutils.AdbClient("127.0.0.1", b.adb_port).device(serial=b.serial)
        ours, cli, lib_t = [], [], []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            res = dev.run(["true"], timeout=10)
            ours.append(time.perf_counter() - t0)
            assert res.ok, res
            t0 = time.perf_counter()
            subprocess.run(b.adb("-s", b.serial, "shell", "true"), env=b.env, check=True)
            cli.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            lib.shell2("true", v2=True)
            lib_t.append(time.perf_counter() - t0)
        m_ours, m_cli, m_lib = median_ms(ours), median_ms(cli), median_ms(lib_t)
        print(f"calls each            : {args.calls}")
        print(f"AdbDevice.run(true)   : median {m_ours:7.2f} ms")
        print(f"adb -s S shell true   : median {m_cli:7.2f} ms")
        print(f"adbutils shell2 (ref) : median {m_lib:7.2f} ms")
        ratio = m_ours / m_cli
        verdict = "OK" if ratio <= 1.5 else "MISSED"
        print(f"ratio ours/adb        : {ratio:.2f}  (target <= 1.5: {verdict})")


if __name__ == "__main__":
    main()
