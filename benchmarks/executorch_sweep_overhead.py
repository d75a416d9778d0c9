"""Orchestration overhead of a sweep of ExecuTorch launches on a virtual phone (issue 15;
target: ratio <= 1.10).

Side by side in one run, on one virtual phone (x86_64 emulator profile) behind
an isolated Debian adb server, with benchorch's REAL ExecuTorch host runner
(built against the executorch wheel) and real ``.pte`` programs of
``demo:conv_bn_relu`` (portable and XNNPACK):

* ``sweep``: the wall time of the whole ``benchorch sweep --device SERIAL
  --et-binary RUNNER`` process doing N latency launches (start-up, facts,
  pushes, planning, health around each launch, store commits, report);
* ``bare``: the wall time of the very same N command lines (read back from the
  store's ``argv`` column, in order) run one after another by
  ``adb -s SERIAL shell 'cd DIR && exec ...'`` from a ``sh`` loop.

Rounds alternate which goes first, so drift hits both alike; the ratio of the
medians is printed with and without the sweep's fixed part (start-up before the
first launch, the report after the last), with what it adds per launch beyond it.

The launches are as long as those of the lite-interpreter benchmark
(``sweep_overhead_phone.py``: 20 launches of about 0.9 s), so both targets are
measured the same way: unless ``--iter`` is given, the executions per launch are
calibrated first by running the runner on this host with each ``.pte`` (the
x86_64 virtual phone runs host binaries) until a launch takes ``--launch-seconds``.
``--short`` keeps the sweep's own defaults (``--iter 50 --warmup 5``: about 0.14 s
a launch on a quiet machine), where the fixed part of about half a second
dominates the ratio.

    .venv/bin/python benchmarks/executorch_sweep_overhead.py [--rounds 3] [--launches 10]
        [--dims 1,3,224,224] [--launch-seconds 0.9 | --short | --iter N] [--warmup 5]
        [--before-tree DIR]

``--before-tree DIR`` (a source tree of an older benchorch, e.g. ``git archive
COMMIT | tar -x -C DIR``) also runs that code's sweep in each round, under the
same load, and prints its ratio beside this one's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's benchorch, whichever one is installed

from sweep_overhead_phone import bare_script  # noqa: E402  (beside this script)
from sweep_overhead_phone import real_binary as lite_binary  # noqa: E402

from benchorch.virtualphone.harness import AdbServer, VirtualPhone  # noqa: E402
from tests.support.etfiles import copy_runner  # noqa: E402


def runner(tmp: Path) -> Path:
    """A copy of the ExecuTorch host runner with its libraries and provenance."""
    from benchorch.etrunner.host import build_host_runner

    return copy_runner(Path(build_host_runner().path), tmp / "et")


def calibrate(et: Path, ptes: list[Path], seconds: float, warmup: int) -> int:
    """``--iter`` for launches of about ``seconds``: each ``.pte`` run on this host by
    the runner with 5 and then 55 executions (the difference is 50 executions' cost;
    the 5-execution run is start-up and load), the mean over the files."""
    from benchorch.etflags import et_runner_args

    def wall(pte: Path, executions: int) -> float:
        argv = et_runner_args(model=str(pte), warmup=0, iters=executions, threads=1)
        t0 = time.perf_counter()
        subprocess.run([str(et), *argv], check=True, capture_output=True, cwd=et.parent)
        return time.perf_counter() - t0

    fixed, per_exec = [], []
    for pte in ptes:
        wall(pte, 5)  # page the runner and the file in
        short, long = wall(pte, 5), wall(pte, 55)
        fixed.append(short)
        per_exec.append(max(long - short, 1e-6) / 50)
    executions = 5 + (seconds - statistics.mean(fixed)) / statistics.mean(per_exec)
    return max(1, round(executions) - warmup)


def _sweep(
    cmd: list[str], env: dict[str, str], db: Path, ptes: list[str], cwd: Path
) -> tuple[float, float, list[tuple[str, str, float, float, str]]]:
    """Run one sweep command: its wall time, its fixed part (start to the first
    launch, the last launch to exit) and its stored launches in start order."""
    w0, t0 = time.time(), time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=cwd)
    took, w1 = time.perf_counter() - t0, time.time()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT argv, status, started_at, finished_at, variant_file FROM launches"
            " ORDER BY started_at"
        ).fetchall()
    assert all(row[1] == "ok" for row in rows), rows
    assert {row[4] for row in rows} == set(ptes), rows
    return took, (rows[0][2] - w0) + (w1 - max(row[3] for row in rows)), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--launches", type=int, default=10, help="per .pte file (two files)")
    length = ap.add_mutually_exclusive_group()
    length.add_argument(
        "--launch-seconds",
        type=float,
        default=0.9,
        help="calibrate --iter so a launch takes about this long (sweep_overhead_phone.py's)",
    )
    length.add_argument(
        "--short", action="store_true", help="the sweep's defaults: --iter 50 (about 0.14 s)"
    )
    length.add_argument("--iter", type=int, help="executions per launch beyond the warm-up")
    ap.add_argument("--warmup", type=int, default=5, help="the sweep's default")
    ap.add_argument("--dims", default="1,3,224,224")
    ap.add_argument(
        "--before-tree",
        type=Path,
        help="an older benchorch source tree whose sweep also runs each round, side by side",
    )
    args = ap.parse_args()
    from benchorch.devices.base import REMOTE_ROOT
    from benchorch.variants.export import ExportOptions, export_variants

    tmp = Path(tempfile.mkdtemp(prefix="bench-et-sweep-"))
    adb = AdbServer(tmp / "adb")
    phone: VirtualPhone | None = None
    try:
        et = runner(tmp)
        binary = lite_binary(tmp)
        recipe = "executorch_xnnpack,executorch_int8"
        manifest = export_variants(
            ExportOptions("demo:conv_bn_relu", tmp / "variants", dims=args.dims, recipe=recipe)
        )
        ptes = [f.name for f in manifest.files if f.name.endswith(".pte")]
        if args.short:
            args.iter = 50
        elif args.iter is None:
            files = [manifest.root / f.path for f in manifest.files if f.name in ptes]
            args.iter = calibrate(et, files, args.launch_seconds, args.warmup)
            load = os.getloadavg()[0]
            print(
                f"calibrated            : --iter {args.iter} for launches of about"
                f" {args.launch_seconds} s (on this host, load {load:.2f})"
            )
        adb.start()
        (tmp / "phone").mkdir()
        phone = VirtualPhone(adb, tmp / "phone", "x86_64_emulator", {}, tmp / "phone.log")
        phone.start()
        env = dict(adb.env, BENCHORCH_CACHE=str(tmp / "cache"), BENCHORCH_LOCK_DIR=str(tmp / "l"))
        sweep_t: list[float] = []
        bare_t: list[float] = []
        fixed_t: list[float] = []
        before_t: list[float] = []  # --before-tree's whole command
        before_fixed: list[float] = []  # and its fixed part
        n = 0
        script = tmp / "bare.sh"
        for r in range(args.rounds):
            db = tmp / f"r{r}.sqlite"
            cmd = [
                sys.executable, "-m", "benchorch", "--db", str(db), "sweep",
                "--adb", f"127.0.0.1:{adb.port}", "--device", phone.serial,
                "--binary", str(binary), "--et-binary", str(et),
                "--variants", str(manifest.root),
                "--launches", str(args.launches), "--load-launches", "0",
                "--iter", str(args.iter), "--warmup", str(args.warmup),
                "--out", str(tmp / "reports"), "--quiet",
            ]  # fmt: skip

            def bare() -> None:
                t0 = time.perf_counter()
                subprocess.run(["sh", str(script)], check=True, env=adb.env)
                bare_t.append(time.perf_counter() - t0)

            if r % 2 and script.exists():
                bare()
            took, fixed, rows = _sweep(cmd, env, db, ptes, ROOT)
            sweep_t.append(took)
            fixed_t.append(fixed)
            argvs = [json.loads(row[0]) for row in rows]
            n = len(argvs)
            script.write_text(
                bare_script(phone.serial, adb.port, argvs, REMOTE_ROOT, drop_stderr=True)
            )
            if len(bare_t) <= r:
                bare()
            line = f"round {r + 1}: sweep {sweep_t[-1]:6.2f} s   bare {bare_t[-1]:6.2f} s"
            if args.before_tree is not None:
                old_db = tmp / f"before-{r}.sqlite"
                old_cmd = [a if a != str(db) else str(old_db) for a in cmd]
                old_env = dict(env, PYTHONPATH=str(args.before_tree.resolve()))
                took, fixed, _ = _sweep(old_cmd, old_env, old_db, ptes, tmp)
                before_t.append(took)
                before_fixed.append(fixed)
                line += f"   before-tree sweep {took:6.2f} s"
            print(line)
        s, b = statistics.median(sweep_t), statistics.median(bare_t)
        fixed = statistics.median(fixed_t)
        ratio = s / b
        print(
            f"launches per round    : {n} ({', '.join(ptes)} of demo:conv_bn_relu at {args.dims};"
            f" --iter {args.iter} --warmup {args.warmup}: {args.iter + args.warmup} executions)"
        )
        print(f"sweep (whole command) : median {s:6.2f} s (fixed part {fixed:.2f} s)")
        print(f"bare adb shell loop   : median {b:6.2f} s")
        print(f"added per launch      : {(s - fixed - b) / n * 1e3:6.1f} ms beyond the fixed part")
        print(f"bare launch (mean)    : {b / n:6.3f} s (median round)")
        print(f"ratio without fixed   : {(s - fixed) / b:.3f}")
        verdict = "OK" if ratio <= 1.10 else "MISSED"
        print(f"ratio sweep/bare      : {ratio:.3f}  (target <= 1.10: {verdict})")
        if before_t:
            bt = statistics.median(before_t)
            print(
                f"before-tree sweep     : median {bt:6.2f} s, fixed part"
                f" {statistics.median(before_fixed):.2f} s, ratio sweep/bare {bt / b:.3f}"
            )
        print(f"load average (1 min)  : {os.getloadavg()[0]:.2f} at the end")
    finally:
        if phone is not None:
            phone.close()
        adb.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
