"""Push throughput: ``AdbDevice.push`` of a 100 MB file against ``adb push`` of the same file.

Same virtual phone, same isolated adb server, alternating rounds (contenders
rotated each round), each to a fresh remote name so nothing is deduplicated,
removed at once; the phone's folder is on tmpfs so disk write-back does not
land on whoever comes next. Every contender of ours is the real, verified
``push()`` (dedup STAT, SEND, STAT of what arrived; see its docstring):

* ``push()``: the host digest already cached (the same file to a second
  phone, or again in one process) - the default verification for a file this
  large (OKAY + size + mtime; the content hash waits for the next push);
* ``push() cold``: the file touched first, so the host hashes it while
  sending (sha256 on a helper thread);
* ``push(verify_hash=True)``: also ``sha256sum`` of the whole file on the phone.

Throughput ratio = ours MB/s / adb MB/s; the target (``push()``) is >= 0.8.

    .venv/bin/python benchmarks/push_throughput.py [--mb 100] [--rounds 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
        times: dict[str, list[float]] = {}

        def timed(label: str, fn: Callable[[int], object]) -> Callable[[int], None]:
            def step(i: int) -> None:
                t0 = time.perf_counter()
                fn(i)
                times.setdefault(label, []).append(time.perf_counter() - t0)

            return step

        def adb_push(i: int) -> None:
            subprocess.run(
                b.adb("-s", b.serial, "push", str(src), f"{REMOTE_ROOT}/adb-{i}.bin"),
                env=b.env,
                check=True,
                capture_output=True,
            )

        def our_push(i: int, tag: str = "ours", **kw: bool) -> None:
            res = dev.push(src, f"{tag}-{i}.bin", **kw)
            assert res.bytes_sent == size and not res.skipped, res

        def touch() -> None:  # a new mtime: the host digest cache misses
            st = src.stat()
            os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

        steps = [
            timed("adb push", adb_push),
            timed("push()", our_push),
            timed("push() cold", lambda i: our_push(i, "cold")),
            timed("push(verify_hash=True)", lambda i: our_push(i, "full", verify_hash=True)),
        ]
        timed_cold = steps[2]

        def cold(i: int) -> None:  # the touch itself is not timed
            touch()
            timed_cold(i)

        steps[2] = cold
        for i in range(args.rounds):
            # rotate the order each round so no contender always goes first
            k = i % len(steps)
            for step in steps[k:] + steps[:k]:
                step(i)
                dev.run(["sh", "-c", f"rm -f {REMOTE_ROOT}/*-{i}.bin"], timeout=30)

        def mbps(label: str) -> float:
            return size / 1e6 / statistics.median(times[label])

        a = mbps("adb push")
        print(f"file                          : {args.mb} MB, {args.rounds} rounds, medians")
        print(f"{'adb push':30}: {a:8.1f} MB/s")
        for label in list(times)[1:]:
            p = mbps(label)
            print(f"{label:30}: {p:8.1f} MB/s   ratio {p / a:.2f}")
        ratio = mbps("push()") / a
        print(f"target ratio >= 0.8 (push()): {ratio:.2f} {'OK' if ratio >= 0.8 else 'MISSED'}")


if __name__ == "__main__":
    main()
