"""Speed of the trend report on a synthetic history of 100,000 launches.

30 nights x 4 phones x 30 configurations x 28 launches (100,800 launches), each
with 20 raw per-iteration samples: the DataFrame the store's ``launches()``
returns, built directly with numpy. Some series step up by 8% on night 20,
some creep by 0.3% a night, the rest are flat with 2% launch-to-launch noise.

Prints the wall time of the pure path (``build_trend_report`` + render) and
the HTML size; targets: under 5 s and under 10 MB. With ``--store N`` it also
writes the first N nights into a real SQLite store and times
``write_trend_report`` over it (query included).

    .venv/bin/python benchmarks/trend_report.py [--store 3]
"""

from __future__ import annotations

import argparse
import hashlib
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
    sha = [hashlib.sha256(f"v{c}".encode()).hexdigest() for c in range(CONFIGS)]
    models = ["SM-G991B", "Pixel 8", "moto g54", "SM-A546B"]
    df = pd.DataFrame(
        {
            "run_id": [f"night-{i:02d}" for i in night],
            "launch_key": [
                f"{a}:{b}:{c}:{d}" for a, b, c, d in zip(night, phone, config, launch, strict=True)
            ],
            "device_serial": np.array([f"serial-{p}" for p in range(PHONES)])[phone],
            "device_model": np.array(models)[phone],
            "device_fingerprint": "fp/1",
            "device_soc": "soc",
            "variant": np.array([f"variant-{c // 3}" for c in range(CONFIGS)])[config],
            "variant_format": np.array(["full_jit", "lite", "flatbuffer"])[config % 3],
            "variant_sha256": np.array(sha)[config],
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
            "iters": ITERS,
            "warmup": 2,
            "status": "ok",
            "error_kind": None,
            "message": None,
            "us_per_iter": samples.mean(axis=1),
            "samples_us": list(samples),
            "load_s": np.nan,
            "hot": False,
            "started_at": 1.78e9 + night * 86400.0 + np.arange(n) % per_night,
        }
    )
    df["finished_at"] = df["started_at"] + 0.5
    df["samples_us"] = [s.tolist() for s in samples]
    return df


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--store", type=int, default=0, help="also time the real store path on N nights"
    )
    args = ap.parse_args()
    from benchorch.report import render, trend_model

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
    size = len(html.encode())
    print(
        f"series: {len(report.series)}, flagged: {report.n_flagged}"
        f" (expected {PHONES * 5} steps + {PHONES * 3} creeps)"
    )
    print(
        f"trend report (pure path): {t_total:.2f} s (model {t_model:.2f} s,"
        f" render {t_total - t_model:.2f} s); target < 5 s"
    )
    print(f"trend report size: {size / 1e6:.2f} MB; target < 10 MB")
    ok = t_total < 5.0 and size < 10e6

    if args.store:
        from benchorch.report import write_trend_report
        from benchorch.store import Store
        from tests.report.storefill import fill

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "results.sqlite"
            part = df[df["run_id"] < f"night-{args.store:02d}"].copy()
            part["variant_steps"] = [[] for _ in range(len(part))]
            part["variant_size_bytes"] = 1000
            part["argv"] = [[] for _ in range(len(part))]
            with Store(path) as store:
                t0 = time.perf_counter()
                for _rid, grp in part.groupby("run_id"):
                    fill(store, grp)
                t_fill = time.perf_counter() - t0
                t0 = time.perf_counter()
                q = store.launches(None, include_output=False)
                t_query = time.perf_counter() - t0
                t0 = time.perf_counter()
                write_trend_report(store, Path(d) / "trend.html")
                t_store = time.perf_counter() - t0
            print(
                f"real store, {len(part):,} launches: filled in {t_fill:.1f} s;"
                f" launches() query {t_query:.2f} s ({len(q) / max(t_query, 1e-9):,.0f}/s);"
                f" write_trend_report {t_store:.2f} s"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
