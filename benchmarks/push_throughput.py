"""Push throughput: ``AdbDevice.push`` of a 100 MB file against ``adb push`` of the same file.

Same virtual phone, same isolated adb server, alternating rounds (adb, ours,
adb, ours... rotated each round), each to a fresh remote name so nothing is
deduplicated and removed at once; the phone's folder is on tmpfs so disk
write-back does not land on whoever comes next. Ours
is timed twice: the whole ``push()`` (hash check before, SEND, hash verify
after) and the transfer alone (the sync SEND, what ``adb push`` does).
Throughput ratio = ours MB/s / adb MB/s; the target is >= 0.8.

    .venv/bin/python benchmarks/push_throughput.py [--mb 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device_overhead import phone_and_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()

    from benchorch.devices.adb import AdbDevice
    from benchorch.devices.adbhost import ServerAddr
    from benchorch.devices.base import REMOTE_ROOT

    size = args.mb * 1_000_000
    with tempfile.TemporaryDirectory() as tmp, phone_and_server(in_memory=True) as b:
        src = Path(tmp) / "blob.bin"
        with src.open("wb") as fh:
            fh.write(os.urandom(size))
        dev = AdbDevice(b.serial, addr=ServerAddr("127.0.0.1", b.adb_port))
        dev.run(["true"], timeout=10)
        dev.push(src, "warmup.bin")  # creates the folder, hashes the file once (cached)
        t_adb: list[float] = []
        t_push: list[float] = []
        t_send: list[float] = []

        def adb_push(i: int) -> None:
            t0 = time.perf_counter()
            subprocess.run(
                b.adb("-s", b.serial, "push", str(src), f"{REMOTE_ROOT}/adb-{i}.bin"),
                env=b.env,
                check=True,
                capture_output=True,
            )
            t_adb.append(time.perf_counter() - t0)

        def our_push(i: int) -> None:
            t0 = time.perf_counter()
            res = dev.push(src, f"ours-{i}.bin")
            t_push.append(time.perf_counter() - t0)
            assert res.bytes_sent == size and not res.skipped, res

        def our_send(i: int) -> None:
            t0 = time.perf_counter()
            dev._send(src, f"{REMOTE_ROOT}/send-{i}.bin", executable=False)
            t_send.append(time.perf_counter() - t0)

        steps = [adb_push, our_push, our_send]
        for i in range(args.rounds):
            # rotate the order each round so no contender always goes first
            for step in steps[i % 3 :] + steps[: i % 3]:
                step(i)
                dev.run(["sh", "-c", f"rm -f {REMOTE_ROOT}/*-{i}.bin"], timeout=30)

        def mbps(ts: list[float]) -> float:
            return size / 1e6 / statistics.median(ts)

        a, p, s = mbps(t_adb), mbps(t_push), mbps(t_send)
        print(f"file                       : {args.mb} MB, {args.rounds} rounds, medians")
        print(f"adb push                   : {a:8.1f} MB/s")
        print(f"AdbDevice.push (verified)  : {p:8.1f} MB/s   ratio {p / a:.2f}")
        print(f"AdbDevice sync SEND only   : {s:8.1f} MB/s   ratio {s / a:.2f}")
        print(f"target ratio >= 0.8 (verified push): {'OK' if p / a >= 0.8 else 'MISSED'}")


if __name__ == "__main__":
    main()
