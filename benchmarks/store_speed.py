"""What the results store costs the sweep and the report.

1. ``Store.record_launch`` (one committed INSERT, health JSON, samples packed)
   against the bare minimum: a raw ``sqlite3`` INSERT of the same values (encoded
   beforehand, so only SQLite's cost counts) into an
   identical WAL file, committed, in the same process. Calls are interleaved
   (ABAB...) so drift hits both alike. Prints median microseconds of each and
   the ratio ours / raw, for ``synchronous=NORMAL`` (the default) and ``FULL``
   (``durable=True``).
2. ``Store.launches(include_output=False)`` and ``Store.lean_launches()`` (the
   history query the trend report and noise floors use) on a store of
   ``--history`` launches (28 samples each): wall and CPU seconds (CPU time is
   the steadier figure on a busy machine), and per launch.

    .venv/bin/python benchmarks/store_speed.py [--calls 2000] [--history 100000]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchorch.domain import Health, Status
from benchorch.store import LaunchRecord, Store
from benchorch.store.encode import SQLITE_INSERT_LAUNCH, launch_row


def launch(run_id: str, index: int, *, samples_us: tuple[float, ...], stdout: str) -> LaunchRecord:
    """A successful phone launch as the executor records it (health before and after)."""
    now = time.time()
    mean = sum(samples_us) / len(samples_us)
    return LaunchRecord(
        run_id=run_id,
        launch_key=f"R58M123|fused+quantized|1,3,224,224|float|4|latency|{index}",
        device_serial="R58M123",
        variant="fused+quantized",
        variant_file="fused+quantized.ptl",
        variant_format="lite",
        variant_sha256="ab" * 32,
        binary_sha256="cd" * 32,
        dims="1,3,224,224",
        types="float",
        memory_format="contiguous_format",
        threads=4,
        core_mask=0xF0,
        kind="latency",
        launch_index=index,
        iters=len(samples_us),
        warmup=2,
        status=Status.OK,
        error_kind=None,
        message=None,
        us_per_iter=mean,
        iters_per_sec=1e6 / mean,
        samples_us=samples_us,
        wall_s=0.25,
        exit_code=0,
        health_before=Health(
            taken_at=now, battery_temp_c=31.0, cpu_cur_khz={7: 2_900_000}
        ).to_dict(),
        health_after=Health(taken_at=now + 1, battery_temp_c=33.5).to_dict(),
        started_at=now,
        finished_at=now + 0.25,
        argv=("/data/local/tmp/benchorch/sbt", "--model=fused+quantized.ptl", "--iter=20"),
        stdout=stdout,
        stderr="",
    )


def bench_record(calls: int, durable: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ours = Store(Path(tmp) / "ours.sqlite", durable=durable)
        rid = ours.create_run("bench", {})
        raw_store = Store(Path(tmp) / "raw.sqlite", durable=durable)
        raw_rid = raw_store.create_run("bench", {})
        raw_store.close()
        raw = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        raw.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        samples = tuple(1000.0 + i for i in range(50))
        stdout = "PyTorchObserver {...}\n" * 180  # ~4 kB, a 50-iteration launch's output
        recs = [launch(rid, i, samples_us=samples, stdout=stdout) for i in range(calls)]
        raws = [
            launch_row(launch(raw_rid, i, samples_us=samples, stdout=stdout)) for i in range(calls)
        ]
        t_ours, t_raw = [], []
        for rec, values in zip(recs, raws, strict=True):
            t0 = time.perf_counter()
            ours.record_launch(rec)
            t1 = time.perf_counter()
            raw.execute(SQLITE_INSERT_LAUNCH, values)
            t2 = time.perf_counter()
            t_ours.append(t1 - t0)
            t_raw.append(t2 - t1)
        ours.close()
        raw.close()
    return statistics.median(t_ours) * 1e6, statistics.median(t_raw) * 1e6


def bench_history(n: int) -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "history.sqlite")
        samples = tuple(1000.0 + i for i in range(28))
        for night in range(-(-n // 3600)):
            rid = store.create_run("nightly", {"night": night})
            for i in range(min(3600, n - night * 3600)):
                store.record_launch(launch(rid, i, samples_us=samples, stdout=""))
        figures = []
        for name, query in (
            ("launches(include_output=False)", lambda: store.launches(include_output=False)),
            ("lean_launches()", store.lean_launches),
        ):
            t0, c0 = time.perf_counter(), time.process_time()
            df = query()
            figures.append((name, time.perf_counter() - t0, time.process_time() - c0))
            assert len(df) == n, len(df)
        store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    for durable in (False, True):
        ours, raw = bench_record(args.calls, durable)
        mode = "FULL (durable)" if durable else "NORMAL (default)"
        print(
            f"record_launch, synchronous={mode}: ours {ours:.0f} us, raw sqlite3 {raw:.0f} us, "
            f"ratio {ours / raw:.2f} (median of {args.calls} interleaved calls)"
        )
    for name, seconds, cpu in bench_history(args.history):
        print(
            f"{name} over {args.history} launches x 28 samples: {seconds:.2f} s wall,"
            f" {cpu:.2f} s CPU ({seconds / args.history * 1e6:.1f} us per launch)"
        )


if __name__ == "__main__":
    main()
