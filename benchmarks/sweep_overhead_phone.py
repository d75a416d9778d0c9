"""Orchestration overhead of a sweep on one virtual phone (issue 6; target: ratio <= 1.10).

Measures, side by side in one run, on one virtual phone (x86_64 emulator
profile) behind an isolated Debian adb server, with the REAL host-built
speed_benchmark_torch (lite) and real exported variants (``.ptl`` and
FlatBuffer of ``demo:conv_bn_relu``):

* ``sweep``: the wall time of the whole ``benchorch sweep --device SERIAL``
  process doing N latency launches (start-up, device facts, push checks,
  planning, health before/after each launch, store commits, report);
* ``bare``: the wall time of the very same N command lines (read back from the
  store's ``argv`` column, in the same order) run one after another with
  ``adb -s SERIAL shell 'cd DIR && exec ...'`` from a ``sh`` loop.

Rounds alternate sweep/bare so drift hits both alike; the ratio of the medians
is printed, with the per-launch cost of what the sweep adds and its fixed part
(start-up, report). The default workload is the sweep's defaults (``--iter 50
--warmup 5``) on the recipe's default input (1,3,224,224): launches of about a
second. The sweep's cost is about one health snapshot per launch (tens of ms:
``dumpsys battery``, thermal zones, clocks) plus a fixed second or so (Python
start-up, the report's imports and rendering), so very short launches
(``--dims 1,3,32,32 --iter 20``: about 0.5 s) show a higher ratio.

    .venv/bin/python benchmarks/sweep_overhead_phone.py [--rounds 3] [--launches 10]
        [--dims 1,3,224,224] [--iter 50] [--warmup 5] [--postgres]

``--postgres`` stores the sweep's launches in a throwaway PostgreSQL server on
loopback (``benchorch.store.pgserver``; one database per round) instead of an
SQLite file: the overhead of the shared store (issue 11).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's benchorch, whichever one is installed

from benchorch.store import Store  # noqa: E402
from benchorch.store.pgserver import pg_server  # noqa: E402
from benchorch.variants.manifest import Manifest  # noqa: E402
from benchorch.virtualphone.harness import ADB, AdbServer, VirtualPhone  # noqa: E402


def real_binary(tmp: Path) -> Path:
    """A copy of the real host build (lite), so registering it leaves the cache alone."""
    from benchorch.build import BuildRequest, build

    src = Path(
        os.environ.get("BENCHORCH_PYTORCH_SRC") or ROOT / ".cache/pytorch-src/pytorch-1.13.1"
    )
    cache = Path(os.environ.get("BENCHORCH_TEST_CACHE") or ROOT / ".cache/test") / "builds"
    cache.mkdir(parents=True, exist_ok=True)
    prov = build(BuildRequest(pytorch_root=src, flavour="lite", cache_dir=cache))
    dst = tmp / "bin" / "speed_benchmark_torch"
    dst.parent.mkdir()
    shutil.copy2(prov.path, dst)
    shutil.copy2(prov.path + ".provenance.json", str(dst) + ".provenance.json")
    return dst


def lite_variants(folder: Path, dims: str) -> Manifest:
    """``demo:conv_bn_relu`` exported as ``.ptl`` and FlatBuffer (and ``.pt``) for ``dims``."""
    from benchorch.variants.export import ExportOptions, export_variants

    options = ExportOptions(
        "demo:conv_bn_relu", folder, dims=dims, types="float", recipe="lite,flatbuffer"
    )
    return export_variants(options)


def bare_script(
    serial: str, port: int, argvs: list[list[str]], workdir: str, *, drop_stderr: bool = False
) -> str:
    """A ``sh`` script running each argv on the phone by ``adb shell``, one after another
    (``drop_stderr``: for runners that print their timing lines there)."""
    redirect = " >/dev/null 2>&1" if drop_stderr else " >/dev/null"
    lines = ["set -e"]
    for argv in argvs:
        remote = f"cd {shlex.quote(workdir)} && exec " + " ".join(shlex.quote(a) for a in argv)
        adb = [ADB, "-P", str(port), "-s", serial, "shell", remote]
        lines.append(" ".join(shlex.quote(a) for a in adb) + redirect)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--launches", type=int, default=10, help="per variant file (two files)")
    ap.add_argument("--iter", type=int, default=50, help="the sweep's default")
    ap.add_argument("--warmup", type=int, default=5, help="the sweep's default")
    ap.add_argument("--dims", default="1,3,224,224", help="the recipe's default input")
    ap.add_argument(
        "--before-tree",
        type=Path,
        help="an older benchorch source tree whose sweep also runs each round, side by side",
    )
    ap.add_argument(
        "--postgres", action="store_true", help="store in a throwaway PostgreSQL, not SQLite"
    )
    args = ap.parse_args()
    from benchorch.devices.base import REMOTE_ROOT

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-phone-"))
    adb = AdbServer(tmp / "adb")
    phone: VirtualPhone | None = None
    stack = contextlib.ExitStack()
    pg = stack.enter_context(pg_server()) if args.postgres else None

    def new_db(name: str) -> str:
        return pg.url(pg.new_database()) if pg is not None else str(tmp / f"{name}.sqlite")

    def stored(db: str) -> list[tuple[list[str], str, float, float]]:
        """(argv, status, started_at, finished_at) of every launch, in start order."""
        with Store(db, create=False) as store:
            frame = store.launches().sort_values("started_at")
        return [
            (list(a), str(st), float(s0), float(s1))
            for a, st, s0, s1 in zip(
                frame["argv"], frame["status"], frame["started_at"], frame["finished_at"],
                strict=True,
            )
        ]  # fmt: skip

    try:
        binary = real_binary(tmp)
        manifest = lite_variants(tmp / "variants", args.dims)
        runnable = [f.name for f in manifest.files if f.format != "full_jit"]
        adb.start()
        (tmp / "phone").mkdir()
        phone = VirtualPhone(adb, tmp / "phone", "x86_64_emulator", {}, tmp / "phone.log")
        phone.start()
        env = dict(
            adb.env,
            BENCHORCH_CACHE=str(tmp / "cache"),
            BENCHORCH_LOCK_DIR=str(tmp / "locks"),
        )
        sweep_t: list[float] = []
        bare_t: list[float] = []
        start_t: list[float] = []  # process start -> first launch starts
        end_t: list[float] = []  # last launch ends -> process exit (report)
        n = 0
        paired: list[float] = []  # per round: (sweep - its fixed part - bare) / launches
        before_paired: list[float] = []  # the same for --before-tree's sweep
        before_t: list[float] = []  # --before-tree's whole command
        before_fixed: list[float] = []  # and its fixed part
        script = tmp / "bare.sh"
        for r in range(args.rounds):
            db = new_db(f"r{r}")
            cmd = [
                sys.executable, "-m", "benchorch", "--db", db, "sweep",
                "--adb", f"127.0.0.1:{adb.port}", "--device", phone.serial,
                "--binary", str(binary), "--variants", str(manifest.root),
                "--launches", str(args.launches), "--load-launches", "0",
                "--iter", str(args.iter), "--warmup", str(args.warmup),
                "--out", str(tmp / "reports"), "--quiet",
            ]  # fmt: skip

            def bare() -> None:
                t0 = time.perf_counter()
                subprocess.run(["sh", str(script)], check=True, env=adb.env)
                bare_t.append(time.perf_counter() - t0)

            if r % 2 and script.exists():  # alternate the order: drift hits both alike
                bare()
            w0, t0 = time.time(), time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
            sweep_t.append(time.perf_counter() - t0)
            w1 = time.time()

            rows = stored(db)
            assert all(row[1] == "ok" for row in rows), rows
            start_t.append(rows[0][2] - w0)
            end_t.append(w1 - rows[-1][3])
            argvs = [row[0] for row in rows]
            n = len(argvs)
            assert n == args.launches * len(runnable), (n, runnable)
            script.write_text(bare_script(phone.serial, adb.port, argvs, REMOTE_ROOT))
            if len(bare_t) <= r:
                bare()
            line = f"round {r + 1}: sweep {sweep_t[-1]:6.2f} s   bare {bare_t[-1]:6.2f} s"
            paired.append((sweep_t[-1] - start_t[-1] - end_t[-1] - bare_t[-1]) / n)
            if args.before_tree is not None:
                old_db = new_db(f"before-{r}")
                old_cmd = [a if a != db else old_db for a in cmd]
                old_env = dict(env, PYTHONPATH=str(args.before_tree.resolve()))
                w0, t0 = time.time(), time.perf_counter()
                subprocess.run(old_cmd, check=True, env=old_env, stdout=subprocess.DEVNULL, cwd=tmp)
                took, w1 = time.perf_counter() - t0, time.time()
                old_rows = stored(old_db)
                first, last = old_rows[0][2], max(row[3] for row in old_rows)
                before_paired.append((took - (first - w0) - (w1 - last) - bare_t[-1]) / n)
                before_t.append(took)
                before_fixed.append((first - w0) + (w1 - last))
                line += f"   before-tree sweep {took:6.2f} s"
            print(line)

        s, b = statistics.median(sweep_t), statistics.median(bare_t)
        fixed = statistics.median(start_t) + statistics.median(end_t)
        ratio = s / b
        print(
            f"launches per round    : {n} ({', '.join(runnable)} of demo:conv_bn_relu at "
            f"{args.dims}; --iter {args.iter} --warmup {args.warmup})"
        )
        print(f"sweep (whole command) : median {s:6.2f} s")
        print(f"bare adb shell loop   : median {b:6.2f} s")
        print(
            f"  sweep fixed part    : start-up {statistics.median(start_t):.2f} s, "
            f"report and exit {statistics.median(end_t):.2f} s"
        )
        print(f"load average (1 min)  : {os.getloadavg()[0]:.2f} at the end")
        print(
            f"added per launch      : {(s - fixed - b) / n * 1e3:6.1f} ms (beyond the fixed part)"
        )
        print(f"  paired per round    : {statistics.median(paired) * 1e3:6.1f} ms (median)")
        if before_paired:
            print(
                f"  before-tree, paired : {statistics.median(before_paired) * 1e3:6.1f} ms"
                " per launch (median)"
            )
            bt = statistics.median(before_t)
            print(
                f"before-tree sweep     : median {bt:6.2f} s, fixed part"
                f" {statistics.median(before_fixed):.2f} s, ratio sweep/bare {bt / b:.3f}"
            )
        print(f"ratio without fixed   : {(s - fixed) / b:.3f}")
        verdict = "OK" if ratio <= 1.10 else "MISSED"
        print(f"ratio sweep/bare      : {ratio:.3f}  (target <= 1.10: {verdict})")
    finally:
        if phone is not None:
            phone.close()
        adb.stop()
        stack.close()  # the PostgreSQL server, when one was started
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
