"""Speed of the trend report on a synthetic history of 100,000 launches.

30 nights x 4 phones x 30 configurations x 28 launches (100,800 launches), each
with 20 raw per-iteration samples: the DataFrame the store's ``launches()``
returns, built directly with numpy. Some series step up by 8% on night 20,
some creep by 0.3% a night, the rest are flat with 2% launch-to-launch noise.

Writes them into a real SQLite store (as nightly sweeps would: raw output and
health snapshots included), then prints the figures of the target, measured
once: the wall time of the whole ``benchorch --db FILE trend -o OUT`` process
(imports, query, statistics, render, write) and the HTML's size; targets under
5 s and under 10 MB (exit 1 when missed). Also prints the pure path (DataFrame
to HTML), the store's two history queries (wall and CPU) and
``write_trend_report`` in process.

    PYTHONPATH=. .venv/bin/python benchmarks/trend_report.py [--nights 30] [--keep FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

NIGHTS, PHONES, CONFIGS, LAUNCHES, ITERS = 30, 4, 30, 28, 20


def synthetic(nights: int = NIGHTS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_night = PHONES * CONFIGS * LAUNCHES
    n = nights * per_night
    night = np.repeat(np.arange(nights), per_night)
    phone = np.tile(np.repeat(np.arange(PHONES), CONFIGS * LAUNCHES), nights)
    config = np.tile(np.repeat(np.arange(CONFIGS), LAUNCHES), nights * PHONES)
    launch = np.tile(np.arange(LAUNCHES), nights * PHONES * CONFIGS)
    base = rng.uniform(800, 60_000, size=(PHONES, CONFIGS))[phone, config]
    step = np.where((config % 7 == 0) & (night >= 20), 1.08, 1.0)
    creep = np.where(config % 11 == 1, 1.003**night, 1.0)
    level = base * step * creep * rng.lognormal(0, 0.02, size=n)
    samples = level[:, None] * rng.lognormal(0, 0.03, size=(n, ITERS))
    variants = np.array([f"variant-{c // 3}" for c in range(CONFIGS)])
    return launch_frame(night, phone, config, launch, samples, variants)


MODELS = ("SM-G991B", "Pixel 8", "moto g54", "SM-A546B")


def launch_frame(
    night: np.ndarray,
    phone: np.ndarray,
    config: np.ndarray,
    launch: np.ndarray,
    samples: np.ndarray,
    variants: np.ndarray,
) -> pd.DataFrame:
    """Launches with the store's ``launches()`` columns, one row per index of the
    arrays: ``night``/``phone``/``config``/``launch`` numbers, ``samples`` (one
    row of per-iteration times each), ``variants`` the name of each config.
    A config's format cycles full_jit, lite, flatbuffer; everything else is fixed."""
    n = len(night)
    per_night = n // (int(night.max()) + 1)
    sha = np.array([hashlib.sha256(f"v{c}".encode()).hexdigest() for c in range(len(variants))])
    df = pd.DataFrame(
        {
            "run_id": [f"night-{i:02d}" for i in night],
            "launch_key": [
                f"{a}:{b}:{c}:{d}" for a, b, c, d in zip(night, phone, config, launch, strict=True)
            ],
            "device_serial": np.array([f"serial-{p}" for p in range(len(MODELS))])[phone],
            "device_model": np.array(MODELS)[phone],
            "device_fingerprint": "fp/1",
            "device_soc": "soc",
            "variant": variants[config],
            "variant_format": np.array(["full_jit", "lite", "flatbuffer"])[config % 3],
            "variant_sha256": sha[config],
            "variant_file": "m.ptl",
            "binary_sha256": "b" * 64,
            "binary_flavour": "full_jit",
            "dims": "1,3,224,224",
            "types": "float",
            "memory_format": "contiguous_format",
            "threads": 4,
            "core_mask": 240,
            "kind": "latency",
            "launch_index": launch,
            "iters": samples.shape[1],
            "warmup": 2,
            "status": "ok",
            "error_kind": None,
            "message": None,
            "us_per_iter": samples.mean(axis=1),
            "load_s": np.nan,
            "hot": False,
            "started_at": 1.78e9 + night * 86400.0 + np.arange(n) % per_night,
        }
    )
    df["finished_at"] = df["started_at"] + 0.5
    df["samples_us"] = [s.tolist() for s in samples]
    return df


def fill_store(path: Path, df: pd.DataFrame, *, stdout_bytes: int = 2000) -> None:
    """Write ``df`` into a real store at ``path`` as nightly sweeps would leave it:
    runs, devices, binary and variants through ``Store``'s API, launches (with
    ``stdout_bytes`` of raw output and a health snapshot each) as the rows
    ``Store.record_launch`` writes, inserted in one transaction per night."""
    import sqlite3

    from benchorch.build.provenance import Provenance
    from benchorch.domain import DeviceInfo, ModelFormat
    from benchorch.store import LaunchRecord, Store
    from benchorch.store.encode import SQLITE_INSERT_LAUNCH, launch_row
    from benchorch.store.records import LAUNCH_FIELDS
    from benchorch.variants.manifest import CheckResult, Tolerance, VariantFile

    binary = Provenance(
        path="speed_benchmark_torch",
        sha256="b" * 64,
        size_bytes=None,
        origin="registered",
        target="android",
        abi=None,
        flavour="full_jit",
    )
    check = CheckResult(True, "float", 0.01, 0.999, Tolerance(max_abs_err=0.05, cosine=0.99))

    fields = set(LAUNCH_FIELDS)
    stdout = ("PyTorchObserver {...}\n" * (stdout_bytes // 22 + 1))[:stdout_bytes]
    health = {"battery_temp_c": 31.5, "thermal": {"cpu-0": 41.0}, "cpu_cur_khz": {"7": 2900000}}
    with Store(path) as store:
        raw = sqlite3.connect(path, isolation_level=None)
        for rid, grp in df.groupby("run_id"):
            rid = str(rid)
            store.create_run("sweep", {"night": rid}, run_id=rid)
            for (serial, model), _ in grp.groupby(["device_serial", "device_model"]):
                store.record_device(
                    rid, DeviceInfo(serial=serial, state="device", model=model, fingerprint="fp/1")
                )
            store.record_binary(rid, binary)
            for r in grp.drop_duplicates("variant_sha256").itertuples():
                store.record_variant(
                    rid,
                    VariantFile(
                        name=str(r.variant_file),
                        variant=str(r.variant),
                        steps=("fuse",),
                        format=ModelFormat(r.variant_format),
                        path=str(r.variant_file),
                        sha256=str(r.variant_sha256),
                        size_bytes=1000,
                        bytecode_version=None,
                        ops=(),
                        input_dims=str(r.dims),
                        input_types=str(r.types),
                        memory_format=str(r.memory_format),
                        check=check,
                        torch_version="2.13.0",
                        export="script",
                    ),
                )
            rows = []
            for rec in grp.to_dict("records"):
                kw = {k: v for k, v in rec.items() if k in fields}
                kw.update(samples_us=tuple(kw["samples_us"]), stdout=stdout, health_before=health)
                kw.update(argv=("speed_benchmark_torch", "--model=m.ptl", "--iter=20"))
                rows.append(launch_row(LaunchRecord(**kw)))
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(SQLITE_INSERT_LAUNCH, rows)
            raw.execute("COMMIT")
            store.finish_run(rid, "ok")
        raw.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--nights", type=int, default=NIGHTS, help="nights in the real store (default: all)"
    )
    ap.add_argument("--keep", type=Path, help="keep the real store in this file (reused if there)")
    args = ap.parse_args()
    from benchorch.report import render, trend_model, write_trend_report
    from benchorch.store import Store

    t0 = time.perf_counter()
    df = synthetic()
    t_build = time.perf_counter() - t0
    print(
        f"synthetic history: {len(df):,} launches, {len(df) * ITERS:,} samples"
        f" (built in {t_build:.1f} s)"
    )

    t0 = time.perf_counter()
    report = trend_model.build_trend_report(df)
    t_model = time.perf_counter() - t0
    html = render.render_trend(report)
    t_total = time.perf_counter() - t0
    print(
        f"series: {len(report.series)}, flagged: {report.n_flagged}"
        f" (expected {PHONES * 5} steps + {PHONES * 3} creeps)"
    )
    print(
        f"pure path (DataFrame -> HTML): {t_total:.2f} s (model {t_model:.2f} s,"
        f" render {t_total - t_model:.2f} s), {len(html.encode()) / 1e6:.2f} MB"
    )

    with tempfile.TemporaryDirectory() as d:
        path = args.keep or Path(d) / "results.sqlite"
        part = df[df["run_id"] < f"night-{args.nights:02d}"]
        if not path.exists():
            t0 = time.perf_counter()
            fill_store(path, part)
            print(f"real store: {len(part):,} launches filled in {time.perf_counter() - t0:.1f} s")
        print(f"real store file: {path.stat().st_size / 1e6:.0f} MB")
        with Store(path) as store:
            t0, c0 = time.perf_counter(), time.process_time()
            lean = store.lean_launches()
            t_lean, c_lean = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            full = store.launches(include_output=False)
            t_full, c_full = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            write_trend_report(store, Path(d) / "trend-inproc.html")
            t_write = time.perf_counter() - t0
        print(
            f"store queries over {len(lean):,} launches: lean_launches() {t_lean:.2f} s"
            f" ({c_lean:.2f} s CPU), launches(include_output=False) {t_full:.2f} s"
            f" ({c_full:.2f} s CPU, {len(full):,} rows)"
        )
        print(f"write_trend_report (in process, imports done): {t_write:.2f} s")
        out = Path(d) / "trend.html"
        cmd = [sys.executable, "-m", "benchorch", "--db", str(path), "trend", "-o", str(out)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        t_cli = time.perf_counter() - t0
        size = out.stat().st_size
    print(
        f"END TO END `benchorch trend -o FILE` (whole process, real store of {len(part):,}"
        f" launches): {t_cli:.2f} s (target < 5 s), {size / 1e6:.2f} MB (target < 10 MB)"
    )
    return 0 if t_cli < 5.0 and size < 10e6 else 1


if __name__ == "__main__":
    sys.exit(main())
