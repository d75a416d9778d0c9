"""A sweep of 4 phones on 2 hosts through the lab vs direct sweeps on the same phones
(issue 12; target: lab / direct <= 1.15x wall).

The lab is the end-to-end suite's (``tests/lab_e2e/lab.py``): two hosts, each in its
own PID namespace with its own adb server and two x86_64 virtual phones, a real
PostgreSQL (``benchorch.store.pgserver``), ``benchorch lab worker --host`` for each
host as a real subprocess (edge mode), started once and left running as a lab's
workers are. The benchmark is the real host-built speed_benchmark_torch (lite) on
real exported variants (``demo:conv_bn_relu``, ``.ptl`` and FlatBuffer).

Each round times, in alternating order so drift hits both alike:

* ``lab``: the whole ``benchorch sweep --lab LAB.toml --all`` process (submit, blobs
  into the lab database, four parts queued and served by the two workers, waiting,
  the report);
* ``direct``: the same launches (same settings, same variant files, same binary) as
  one ``benchorch sweep --adb HOST_ADB --device P1 --device P2`` per host, the two
  run at once as two engineers on the two hosts would, each into a database of its
  own on the same PostgreSQL server (created in the untimed round, as the lab's
  is); the wall from both starting to the last ending.

A first, untimed round fills the workers' file caches and the phones' folders for
both. The ratio of the medians is printed, with each round's figures.

    .venv/bin/python benchmarks/lab_sweep.py [--rounds 3] [--launches 5] [--iter 50]
        [--warmup 5] [--dims 1,3,224,224]

Needs root and ``unshare`` (a PID namespace per lab host), Debian's adb, PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sweep_overhead_phone import lite_variants, real_binary  # beside this script (a file)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchorch.store.pgserver import pg_server  # noqa: E402
from tests.lab_e2e.lab import BENCHORCH, Lab, LabHost, until  # noqa: E402

HOSTS = ("lab-a", "lab-b")


def settings(args: argparse.Namespace, variants: Path, binary: Path, out: Path) -> list[str]:
    return [
        "--variants", str(variants), "--binary", str(binary), "--dims", args.dims,
        "--launches", str(args.launches), "--load-launches", "0", "--iter", str(args.iter),
        "--warmup", str(args.warmup), "--out", str(out), "--quiet", "--json",
    ]  # fmt: skip


def stored(url: str) -> int:
    from benchorch.store import Store

    with Store(url, create=False) as store:
        return len(store.launches())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--launches", type=int, default=5, help="per variant file (two files)")
    ap.add_argument("--iter", type=int, default=50, help="the sweep's default")
    ap.add_argument("--warmup", type=int, default=5, help="the sweep's default")
    ap.add_argument("--dims", default="1,3,224,224", help="the recipe's default input")
    args = ap.parse_args()
    if os.geteuid() != 0:  # `make bench` goes on without it
        print("lab_sweep.py: skipped, it needs root (each lab host is a PID namespace: unshare)")
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-lab-sweep-"))
    with pg_server() as pg:
        lab = Lab(tmp / "lab", pg)
        try:
            for name in HOSTS:
                lab.hosts[name] = LabHost(name, tmp / "lab" / name)
                lab.hosts[name].start()
            binary = real_binary(tmp)
            variants = lite_variants(tmp / "variants", args.dims).root
            config = lab.fresh()
            for name in HOSTS:
                lab.worker("--host", name)
            from benchorch.lab import state

            def hosts_up() -> bool:
                with state.connect(lab.url) as conn:
                    rows = state.hosts(conn)
                return all(n in rows and rows[n].status == "up" for n in HOSTS)

            until(hosts_up, 60, "both hosts' workers up")
            time.sleep(2)  # each worker's first poll
            per_sweep = args.launches * 2 * len(lab.phones)

            def run_lab(r: int) -> float:
                before = stored(lab.url)
                argv = [*BENCHORCH, "sweep", "--lab", str(config), "--all"]
                argv += settings(args, variants, binary, tmp / f"reports-lab-{r}")
                t0 = time.perf_counter()
                done = subprocess.run(
                    argv, cwd=lab.folder, env=lab.env("sweeper"), capture_output=True, text=True
                )
                took = time.perf_counter() - t0
                assert done.returncode == 0, done.stderr[-3000:]
                summary = json.loads(done.stdout[done.stdout.index("{") :])
                assert summary["status"] == "ok", summary
                assert stored(lab.url) - before == per_sweep
                return took

            urls = {name: pg.url(pg.new_database()) for name in HOSTS}  # each host's store

            def run_direct(r: int) -> float:
                before = sum(stored(u) for u in urls.values()) if r else 0
                procs = []
                t0 = time.perf_counter()
                for name, host in lab.hosts.items():
                    argv = [*BENCHORCH, "--db", urls[name], "sweep"]
                    argv += ["--adb", f"127.0.0.1:{host.adb_port}"]
                    for p in host.phones:
                        argv += ["--device", p.serial]
                    argv += settings(args, variants, binary, tmp / f"reports-{name}-{r}")
                    procs.append(
                        subprocess.Popen(
                            argv,
                            cwd=lab.folder,
                            env=lab.env(f"direct-{name}"),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            text=True,
                        )
                    )
                for proc in procs:
                    _, err = proc.communicate(timeout=1800)
                    assert proc.returncode == 0, err[-3000:]
                took = time.perf_counter() - t0
                assert sum(stored(u) for u in urls.values()) - before == per_sweep
                return took

            run_lab(0), run_direct(0)  # untimed: caches, the phones' folders, imports
            lab_t: list[float] = []
            direct_t: list[float] = []
            for r in range(1, args.rounds + 1):
                if r % 2:
                    lab_t.append(run_lab(r))
                    direct_t.append(run_direct(r))
                else:
                    direct_t.append(run_direct(r))
                    lab_t.append(run_lab(r))
                print(
                    f"round {r}: lab {lab_t[-1]:6.2f} s   direct {direct_t[-1]:6.2f} s   "
                    f"ratio {lab_t[-1] / direct_t[-1]:.3f}",
                    flush=True,
                )
            lab_m, direct_m = statistics.median(lab_t), statistics.median(direct_t)
            print(
                f"{len(lab.phones)} phones on {len(HOSTS)} hosts, {per_sweep} launches a sweep "
                f"(--launches {args.launches} x 2 files, --iter {args.iter}, --dims {args.dims})"
            )
            print(f"lab sweep (sweep --lab --all)       median {lab_m:6.2f} s")
            print(f"direct sweeps (one per host, at once) median {direct_m:6.2f} s")
            print(f"ratio lab / direct: {lab_m / direct_m:.3f}x (target <= 1.15)")
            print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        finally:
            lab.close()


if __name__ == "__main__":
    main()
