"""The virtual phone's own speed, so it never hides the device layer's.

Prints, measured side by side in one run against one virtual phone on an
isolated Debian adb server:

* ``adb push`` / ``adb pull`` of a 100 MB file, MB/s, and their ratio to a
  plain local copy of the same file (the ceiling on this machine);
* ``adb shell true``, median of 50 calls, against a local ``sh -c true``.

Run: ``.venv/bin/python benchmarks/virtualphone_io.py``
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchorch.virtualphone.harness import AdbServer, VirtualPhone

SIZE = 100 * 1024 * 1024


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="vphone-bench-"))
    adb = AdbServer(home / "adb")
    adb.start()
    phone = VirtualPhone(adb, home / "root", "pixel8", {}, home / "phone.log")
    phone.root.mkdir()
    try:
        phone.start()
        src = home / "blob.bin"
        src.write_bytes(os.urandom(SIZE))
        copy_s = _timed(lambda: shutil.copyfile(src, home / "copy.bin"))
        push_s = _timed(
            lambda: adb.run("-s", phone.serial, "push", str(src), "/data/local/tmp/b.bin")
        )
        pull_s = _timed(
            lambda: adb.run("-s", phone.serial, "pull", "/data/local/tmp/b.bin", str(home / "back"))
        )
        assert (home / "back").read_bytes() == src.read_bytes()
        mb = SIZE / 1e6
        print(f"local copy   {mb / copy_s:8.0f} MB/s")
        print(f"adb push     {mb / push_s:8.0f} MB/s  ratio to copy {copy_s / push_s:.2f}")
        print(f"adb pull     {mb / pull_s:8.0f} MB/s  ratio to copy {copy_s / pull_s:.2f}")
        shell = [_timed(lambda: adb.run("-s", phone.serial, "shell", "true")) for _ in range(50)]
        local = [
            _timed(lambda: subprocess.run(["sh", "-c", "true"], check=True)) for _ in range(50)
        ]
        ms, lms = statistics.median(shell) * 1e3, statistics.median(local) * 1e3
        print(
            f"adb shell true median {ms:.1f} ms;"
            f" local sh -c true {lms:.1f} ms; ratio {ms / lms:.1f}"
        )
    finally:
        phone.close()
        adb.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
