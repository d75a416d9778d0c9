"""Speed of ``benchorch report RUN --baseline RUN2`` on a realistic night.

A night is 4 phones x 30 configurations x 28 launches (3,360 launches), each
with 50 raw per-iteration samples; the store holds ``--nights`` such nights
(default 8, so every configuration has a history for its noise floor). The
last night is the candidate and the one before it the baseline; in the
candidate every 7th configuration is 8% slower, every 11th 5% faster.

Prints, measured in this one run:

* the wall time of the whole ``benchorch --db FILE report RUN --baseline RUN2
  -o OUT`` process (imports, queries, statistics, render, write) and the
  HTML's size; target under 3 s (exit 1 when missed);
* the two-level bootstrap of every configuration of both nights at the
  report's ``B = 1000``: all configurations at once (``stats.bootstrap_many``,
  what the report uses), one ``stats.bootstrap_replicates`` call per
  configuration (identical replicates), and the old iteration-by-iteration
  loop (``stats.bootstrap_replicates_direct``, the method before this
  benchmark existed: about 14 s of the report's run time), per configuration;
* the report built and rendered in process (imports done).

    PYTHONPATH=. .venv/bin/python benchmarks/run_report.py [--nights 8] [--keep FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from trend_report import fill_store, launch_frame

PHONES, CONFIGS, LAUNCHES, ITERS = 4, 30, 28, 50


def nights(n_nights: int, seed: int = 0) -> pd.DataFrame:
    """``n_nights`` nights of launches (store columns), interleaved round-robin
    within each phone; the last night has the slowdowns and speed-ups."""
    rng = np.random.default_rng(seed)
    per_night = PHONES * CONFIGS * LAUNCHES
    n = n_nights * per_night
    night = np.repeat(np.arange(n_nights), per_night)
    phone = np.tile(np.repeat(np.arange(PHONES), CONFIGS * LAUNCHES), n_nights)
    launch = np.tile(np.repeat(np.arange(LAUNCHES), CONFIGS), n_nights * PHONES)
    config = np.tile(np.arange(CONFIGS), n_nights * PHONES * LAUNCHES)
    base = rng.uniform(800, 60_000, size=(PHONES, CONFIGS))[phone, config]
    last = night == n_nights - 1
    change = np.where(last & (config % 7 == 0), 1.08, np.where(last & (config % 11 == 1), 0.95, 1))
    night_level = rng.lognormal(0, 0.01, size=(n_nights, PHONES, CONFIGS))[night, phone, config]
    level = base * change * night_level * rng.lognormal(0, 0.02, size=n)
    samples = level[:, None] * rng.lognormal(0, 0.03, size=(n, ITERS))
    samples[:, 0] *= 1.5
    variants = np.array(["baseline"] + [f"variant-{c}" for c in range(1, 10)])[
        np.arange(CONFIGS) // 3
    ]
    return launch_frame(night, phone, config, launch, samples, variants)


def time_bootstraps(launches: pd.DataFrame, direct_configs: int = 24) -> None:
    """Every configuration's bootstrap of the two nights at ``B = 1000``: all
    at once (what the report runs), one call per configuration, and the old
    iteration-by-iteration bootstrap (``bootstrap_replicates_direct``, the
    method before the exact-median draw) on the first ``direct_configs``."""
    from benchorch import stats

    df = stats.launch_values(stats.with_config_key(launches))
    df = df[df["ok"]].sort_values(["started_at", "launch_key"], kind="stable")
    groups, seeds = [], []
    for (_, key), rows in df.groupby(["run_id", "config_key"], sort=True):
        groups.append([np.asarray(s, dtype=float) for s in rows["samples_us"]])
        seeds.append(zlib.crc32(str(key).encode()))
    t0 = time.perf_counter()
    many = stats.bootstrap_many(groups, seeds)
    t_many = time.perf_counter() - t0
    t0 = time.perf_counter()
    one = [stats.bootstrap_replicates(g, seed=s) for g, s in zip(groups, seeds, strict=True)]
    t_one = time.perf_counter() - t0
    same = all(np.array_equal(a, b) for a, b in zip(many, one, strict=True))
    k = min(direct_configs, len(groups))
    t0 = time.perf_counter()
    for g, s in zip(groups[:k], seeds[:k], strict=True):
        stats.bootstrap_replicates_direct(g, seed=s)
    t_direct = (time.perf_counter() - t0) / k
    n = len(groups)
    print(
        f"bootstrap, {n} configurations x {LAUNCHES} launches x {ITERS} iterations,"
        f" B = {stats.DEFAULT_BOOT}:\n"
        f"  all at once (bootstrap_many):          {t_many:6.2f} s"
        f" ({t_many / n * 1e3:5.1f} ms per configuration)\n"
        f"  one call per configuration:            {t_one:6.2f} s"
        f" ({t_one / n * 1e3:5.1f} ms per configuration; replicates identical: {same})\n"
        f"  old iteration-by-iteration, per config: {t_direct * n:6.2f} s"
        f" ({t_direct * 1e3:5.1f} ms per configuration, timed on {k}, scaled to {n})"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nights", type=int, default=8, help="nights in the store (default 8)")
    ap.add_argument("--keep", type=Path, help="keep the store in this file (reused if there)")
    args = ap.parse_args()
    from benchorch.report import api, render
    from benchorch.store import Store

    with tempfile.TemporaryDirectory() as d:
        path = args.keep or Path(d) / "results.sqlite"
        if not path.exists():
            t0 = time.perf_counter()
            df = nights(args.nights)
            fill_store(path, df)
            print(f"store: {len(df):,} launches filled in {time.perf_counter() - t0:.1f} s")
        with Store(path) as store:
            runs = [str(r) for r in store.runs()["run_id"]]
            base, cand = runs[-2], runs[-1]
            two = pd.concat([store.launches(r, include_output=False) for r in (base, cand)])
            print(
                f"store file {path.stat().st_size / 1e6:.0f} MB, {len(runs)} runs;"
                f" candidate {cand}: {int((two['run_id'] == cand).sum()):,} launches,"
                f" baseline {base}"
            )
            time_bootstraps(two)
            t0 = time.perf_counter()
            report = api.build_run_report(store, cand, baseline=base)
            t_model = time.perf_counter() - t0
            t0 = time.perf_counter()
            html = render.render_run(report)
            t_render = time.perf_counter() - t0
        assert report.comparison is not None
        print(
            f"in process (imports done): build_run_report {t_model:.2f} s, render"
            f" {t_render:.2f} s; verdicts {dict(report.comparison.counts)}"
            f" (planted: {PHONES * 5} slower by 8%, {PHONES * 3} faster by 5%)"
        )
        out = Path(d) / "report.html"
        cmd = [sys.executable, "-m", "benchorch", "--db", str(path), "report", cand]
        cmd += ["--baseline", base, "-o", str(out)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        t_cli = time.perf_counter() - t0
        size = out.stat().st_size
    print(
        f"END TO END `benchorch report {cand} --baseline {base} -o FILE` (whole process):"
        f" {t_cli:.2f} s (target < 3 s), HTML {size / 1e6:.2f} MB ({len(html.encode()):,} bytes"
        " in process)"
    )
    return 0 if t_cli < 3.0 else 1


if __name__ == "__main__":
    sys.exit(main())
