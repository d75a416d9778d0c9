"""Listing an adb server's devices: the hand-written ``host:devices-l`` vs adbutils.

Measures side by side in one run, against Debian's adb server (isolated, its
own port) with one virtual phone attached: ``adbhost.list_entries`` and
adbutils' ``AdbClient.list(extended=True)``, interleaved, and prints the
medians and their ratio. The reason ``devices/adbhost.py`` keeps its own
listing (besides adbutils starting an adb server of its own when the asked one
is down): adbutils sleeps about 10 ms closing every connection.

    .venv/bin/python benchmarks/adb_listing.py [--calls 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import adbutils

from benchorch.devices import adbhost
from benchorch.virtualphone.harness import AdbServer, VirtualPhone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-adb-listing-"))
    adb = AdbServer(tmp / "adb")
    adb.start()
    phone = VirtualPhone(adb, tmp / "root", "x86_64_emulator", {}, tmp / "phone.log")
    try:
        phone.start()
        addr = adbhost.ServerAddr("127.0.0.1", adb.port)
        client = adbutils.AdbClient(host="127.0.0.1", port=adb.port)
        own: list[float] = []
        lib: list[float] = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            entries = adbhost.list_entries(addr)
            own.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            infos = client.list(extended=True)
            lib.append(time.perf_counter() - t0)
        assert [e.serial for e in entries] == [i.serial for i in infos] == [phone.serial]
        a, b = statistics.median(own), statistics.median(lib)
        print(f"hand-written host:devices-l : median {a * 1e3:6.2f} ms")
        print(f"adbutils list(extended)     : median {b * 1e3:6.2f} ms")
        print(f"ratio adbutils/hand-written : {b / a:.0f}x ({args.calls} calls each, interleaved)")
    finally:
        phone.stop()
        adb.stop()


if __name__ == "__main__":
    main()
