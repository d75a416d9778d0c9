"""The results store on PostgreSQL beside SQLite, measured side by side in one run.

1. ``Store.record_launch`` (one committed launch, ~4 kB of output, 50 samples)
   on PostgreSQL over loopback and on SQLite (WAL), calls interleaved
   (ABAB...) so drift hits both alike: the median of each.
2. ``benchorch db copy`` of the 100,800-launch store (``trend_report.py``'s
   synthetic history: 30 nights x 4 phones x 30 configurations x 28
   launches, raw output included) from SQLite into PostgreSQL, verified:
   the whole process's wall time (target under 60 s).
3. ``benchorch trend`` over that store on both backends: the whole process
   (target under 5 s on each).
4. ``benchorch report NIGHT --baseline NIGHT`` on a 3,360-launch night
   (``run_report.py``'s 8-night store, copied the same way) on both.

PostgreSQL is a throwaway server (Debian's, ``initdb`` in a temporary folder,
``fsync=off``: the tests' settings), unless ``--pg URL`` names one.

    .venv/bin/python benchmarks/store_backends.py [--calls 500] [--pg URL]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import run_report  # beside this script (make bench runs it as a file)
import trend_report

from benchorch.domain import Status
from benchorch.store import LaunchRecord, Store
from benchorch.store.pgserver import pg_server


def _launch(run_id: str, i: int) -> LaunchRecord:
    now = time.time()
    samples = tuple(1000.0 + k for k in range(50))
    return LaunchRecord(
        run_id=run_id, launch_key=f"R58M123|fused|1,3,224,224|float|4|latency|{i}",
        device_serial="R58M123", variant="fused", variant_file="fused.ptl",
        variant_format="lite", variant_sha256="ab" * 32, binary_sha256="cd" * 32,
        dims="1,3,224,224", types="float", memory_format="contiguous_format", threads=4,
        kind="latency", launch_index=i, iters=50, warmup=2, status=Status.OK,
        started_at=now, finished_at=now + 0.3, us_per_iter=1024.5, samples_us=samples,
        health_before={"battery_temp_c": 31.0, "cpu_cur_khz": {"7": 2_900_000}},
        health_after={"battery_temp_c": 33.0}, argv=("/data/local/tmp/sbt", "--iter=50"),
        stdout="PyTorchObserver {...}\n" * 180,
    )  # fmt: skip


def bench_record(sqlite_path: Path, url: str, calls: int) -> tuple[float, float]:
    with Store(sqlite_path) as lite, Store(url) as pg:
        rid_l, rid_p = lite.create_run("bench", {}), pg.create_run("bench", {})
        t_l, t_p = [], []
        for i in range(calls):
            a, b = _launch(rid_l, i), _launch(rid_p, i)
            t0 = time.perf_counter()
            lite.record_launch(a)
            t1 = time.perf_counter()
            pg.record_launch(b)
            t2 = time.perf_counter()
            t_l.append(t1 - t0)
            t_p.append(t2 - t1)
    return statistics.median(t_l) * 1e6, statistics.median(t_p) * 1e6


def _cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "benchorch", *args], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[tuple[str, object]]:
    if url:
        yield url, None
        return
    with pg_server() as server:
        yield server.bench_url(), server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument(
        "--pg", help="an empty PostgreSQL database to use (default: a throwaway server)"
    )
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as d, _server(args.pg) as (url, server):
        folder = Path(d)

        def fresh() -> str:
            if server is None:
                return url
            return server.bench_url()  # type: ignore[attr-defined]

        lite_us, pg_us = bench_record(folder / "rec.sqlite", fresh(), args.calls)
        print(
            f"record_launch, median of {args.calls} interleaved calls: SQLite {lite_us:.0f} us,"
            f" PostgreSQL (loopback) {pg_us:.0f} us, ratio {pg_us / lite_us:.2f}"
        )
        history = folder / "history.sqlite"
        df = trend_report.synthetic()
        trend_report.fill_store(history, df)
        pg_history = fresh()
        t_copy = _cli("db", "copy", "--quiet", str(history), pg_history)
        ok &= t_copy < 60
        print(f"db copy of {len(df):,} launches SQLite -> PostgreSQL (whole process, verified):"
              f" {t_copy:.1f} s (target < 60 s)")  # fmt: skip
        for name, db in (("SQLite", str(history)), ("PostgreSQL", pg_history)):
            t = _cli("--db", db, "trend", "-o", str(folder / f"trend-{name}.html"))
            ok &= t < 5
            print(f"trend over {len(df):,} launches on {name} (whole process): {t:.2f} s"
                  " (target < 5 s)")  # fmt: skip
        nights = folder / "nights.sqlite"
        trend_report.fill_store(nights, run_report.nights(8))
        pg_nights = fresh()
        _cli("db", "copy", "--quiet", str(nights), pg_nights)
        with Store(nights) as store:
            runs = [str(r) for r in store.runs()["run_id"]]
            n_cand = int(store.run(runs[-1])["launches"])
        for name, db in (("SQLite", str(nights)), ("PostgreSQL", pg_nights)):
            out = folder / f"report-{name}.html"
            t = _cli("--db", db, "report", runs[-1], "--baseline", runs[-2], "-o", str(out))
            print(f"report --baseline on a {n_cand:,}-launch night on {name} (whole process):"
                  f" {t:.2f} s")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
