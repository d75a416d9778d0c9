"""Parallelism of ``benchorch sweep``: 4 virtual phones against 1, same work per phone
(issue 6; target: wall-time ratio <= 1.2).

The phones are virtual phones (x86_64 emulator profile) behind one isolated
Debian adb server, all on this host, which has two cores. A real
speed_benchmark_torch computes, so four of them would share two cores and the
figure would measure this host's CPU count, not the sweep. For this figure
only, the benchmark binary is a STAND-IN that SLEEPS instead of computing: a
tiny C program (compiled here with ``cc``, so it is a real ELF the sweep
registers, pushes and runs like the real one) that takes speed_benchmark_torch's
flags, sleeps ``--load-ms`` as its "load" and ``--iter-ms`` per iteration, and
prints speed_benchmark_torch's output format (``PyTorchObserver`` lines and the
``Main run finished. Microseconds per iter: ...`` line). The models are real
exported variants (the stand-in ignores them).

Each round runs the whole ``benchorch sweep`` command once with one phone and
once with all four (order alternating between rounds); the ratio of the median
wall times is printed.

    .venv/bin/python benchmarks/sweep_parallel.py [--rounds 3] [--launches 12]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchorch.virtualphone.harness import AdbServer, VirtualPhone

ROOT = Path(__file__).resolve().parent.parent

STAND_IN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void nap_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&t, &t) != 0) {}
}
static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
int main(int argc, char **argv) {
    int iters = 10, warmup = 0, pep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--iter=", 7)) iters = atoi(argv[i] + 7);
        else if (!strncmp(argv[i], "--warmup=", 9)) warmup = atoi(argv[i] + 9);
        else if (!strcmp(argv[i], "--report_pep=true")) pep = 1;
    }
    printf("Starting benchmark.\n");
    nap_us(LOAD_US);
    printf("Running warmup runs.\n");
    for (int i = 0; i < warmup; i++) nap_us(ITER_US);
    printf("Main runs.\n");
    double total = 0;
    for (int i = 0; i < iters; i++) {
        double t0 = now_us();
        nap_us(ITER_US);
        double dt = now_us() - t0;
        total += dt;
        if (pep)
            printf("PyTorchObserver {\"type\": \"NET\", \"unit\": \"us\", \"metric\": "
                   "\"latency\", \"value\": \"%.0f\"}\n", dt);
    }
    double per = iters ? total / iters : 1.0 / 0.0;
    printf("Main run finished. Microseconds per iter: %g. Iters per second: %g\n",
           per, iters ? 1e6 / per : 0.0);
    return 0;
}
"""


def stand_in_binary(tmp: Path, load_ms: int, iter_ms: int) -> Path:
    from benchorch.build.provenance import register_binary

    src = tmp / "stand_in.c"
    src.write_text(STAND_IN_C)
    out = tmp / "bin" / "speed_benchmark_torch"
    out.parent.mkdir()
    subprocess.run(
        [
            "cc",
            "-O2",
            f"-DLOAD_US={load_ms * 1000}L",
            f"-DITER_US={iter_ms * 1000}L",
            "-o",
            str(out),
            str(src),
        ],
        check=True,
    )
    register_binary(out, flavour="lite")  # writes the provenance file the sweep reads
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--launches", type=int, default=12, help="launches per phone")
    ap.add_argument("--iter", type=int, default=20)
    ap.add_argument("--load-ms", type=int, default=300)
    ap.add_argument("--iter-ms", type=int, default=10)
    args = ap.parse_args()
    from benchorch.variants.export import ExportOptions, export_variants

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-parallel-"))
    adb = AdbServer(tmp / "adb")
    phones: list[VirtualPhone] = []
    try:
        binary = stand_in_binary(tmp, args.load_ms, args.iter_ms)
        manifest = export_variants(
            ExportOptions(
                "demo:conv_bn_relu", tmp / "variants", dims="1,3,8,8", types="float", recipe="lite"
            )
        )
        adb.start()
        for i in range(args.phones):
            (tmp / f"p{i}").mkdir()
            phone = VirtualPhone(adb, tmp / f"p{i}", "x86_64_emulator", {}, tmp / f"p{i}.log")
            phone.start()
            phones.append(phone)
        env = dict(
            adb.env, BENCHORCH_CACHE=str(tmp / "cache"), BENCHORCH_LOCK_DIR=str(tmp / "locks")
        )
        times: dict[int, list[float]] = {1: [], len(phones): []}
        runs = 0

        def sweep(count: int) -> None:
            nonlocal runs
            runs += 1
            db = tmp / f"run{runs}.sqlite"
            devices = [a for p in phones[:count] for a in ("--device", p.serial)]
            cmd = [
                sys.executable, "-m", "benchorch", "--db", str(db), "sweep",
                "--adb", f"127.0.0.1:{adb.port}", *devices,
                "--binary", str(binary), "--variants", str(manifest.root),
                "--launches", str(args.launches), "--load-launches", "0",
                "--iter", str(args.iter), "--warmup", "0",
                "--out", str(tmp / "reports"), "--quiet",
            ]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(
                cmd,
                check=True,
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            times[count].append(time.perf_counter() - t0)
            with sqlite3.connect(db) as conn:
                per = dict(
                    conn.execute(
                        "SELECT device_serial, count(*) FROM launches WHERE status = 'ok'"
                        " GROUP BY device_serial"
                    ).fetchall()
                )
            assert sorted(per.values()) == [args.launches] * count, per  # same work per phone

        sweep(1)  # warm-up: first pushes to phone 0, provenance, caches
        times[1].clear()
        for r in range(args.rounds):
            order = (1, len(phones)) if r % 2 == 0 else (len(phones), 1)
            for count in order:
                sweep(count)
            print(
                f"round {r + 1}: 1 phone {times[1][-1]:6.2f} s   "
                f"{len(phones)} phones {times[len(phones)][-1]:6.2f} s"
            )
        one, many = statistics.median(times[1]), statistics.median(times[len(phones)])
        work = args.launches * (args.load_ms + args.iter * args.iter_ms) / 1e3
        print(
            f"work per phone        : {args.launches} launches, about {work:.1f} s of sleeping "
            "(stand-in binary, see the docstring)"
        )
        print(f"1 phone               : median {one:6.2f} s")
        print(f"{len(phones)} phones              : median {many:6.2f} s")
        ratio = many / one
        verdict = "OK" if ratio <= 1.2 else "MISSED"
        print(f"ratio {len(phones)}/1             : {ratio:.3f}  (target <= 1.2: {verdict})")
    finally:
        for phone in phones:
            phone.close()
        adb.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
