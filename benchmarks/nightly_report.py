"""Speed of ``benchorch nightly report`` over 30 nights of 3,360 launches each.

The store is built as ``benchmarks/trend_report.py`` builds its history (4
phones x 30 configurations x 28 launches a night, 20 samples a launch, raw
output and health snapshots, written through the real store), and each
night is then claimed and completed in the ``nights`` table as ``benchorch
nightly run`` leaves it (``NightStore``), for the configuration of a
``nightly.toml`` the script writes. On the last night one configuration of
one phone is 20% slower, so the report has a suspect to screen and list.
``confirm = false``: the store's phones do not exist, so the A/B re-run
cannot happen here (its cost is the sweep's confirm step's to measure).
The HTML is the night's own run report (the verdicts are the headline's).

Prints the figures of the target, measured once: the wall time of the whole
``benchorch --db FILE nightly report --config F --out DIR`` process
(imports, queries, both comparisons, sparklines, Markdown, JSON, the HTML run
report) and the HTML's size; targets under 10 s and under 2 MB (exit 1 when
missed). Also prints the confirm step's extra launches per confirmed and per
rejected suspect when this benchorch has the confirm step.

    .venv/bin/python benchmarks/nightly_report.py [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from trend_report import NIGHTS, fill_store, synthetic  # beside this script (run as a file)

TARGET_S, TARGET_MB = 10.0, 2.0


def nightly_toml(folder: Path) -> Path:
    path = folder / "nightly.toml"
    serials = [f"serial-{p}" for p in range(4)]
    path.write_text(
        f'devices = {json.dumps(serials)}\nvariants = "/benchorch-bench/variants"\nlaunches = 28\n'
        "[nightly]\nwindow = 7\nconfirm = false\n"
    )
    return path


def claim_nights(db: Path, config: Path, run_ids: list[str]) -> None:
    from benchorch.nightly.config import load_nightly
    from benchorch.nightly.night import config_hash
    from benchorch.store import Store
    from benchorch.store.nights import COMPLETE, NightStore
    from benchorch.sweep.settings import merge

    chash = config_hash(merge(load_nightly(config).sweep_values, {}))
    serials = [f"serial-{p}" for p in range(4)]
    with Store(db) as store:
        nights = NightStore(store)
        for i, rid in enumerate(run_ids):
            date = f"2026-11-{i + 1:02d}"
            detail = {
                "healthy": serials,
                "left_out": [],
                "planned": {s: 840 for s in serials},
                "revisions": {"pytorch": f"v2.13.0-{i}-g{i:07x}", "benchorch": "bench"},
                "min_coverage": 1.0,
            }
            nights.claim(date, chash, "bench:1", detail)
            nights.update(date, chash, status=COMPLETE, run_id=rid, detail=detail)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="keep the store in this file (reused if there)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = args.keep or tmp / "history.sqlite"
        config = nightly_toml(tmp)
        if not db.exists():
            t0 = time.perf_counter()
            df = synthetic()
            last = df["run_id"] == f"night-{NIGHTS - 1:02d}"
            slow = last & (df["device_serial"] == "serial-1") & (df["variant"] == "variant-4")
            df.loc[slow, "samples_us"] = df.loc[slow, "samples_us"].map(
                lambda s: (np.asarray(s) * 1.2).tolist()
            )
            df.loc[slow, "us_per_iter"] *= 1.2
            fill_store(db, df)
            print(f"built the store: {len(df):,} launches in {time.perf_counter() - t0:.1f} s")
        claim_nights(db, config, [f"night-{i:02d}" for i in range(NIGHTS)])
        out = tmp / "out"
        cmd = [
            sys.executable,
            "-m",
            "benchorch",
            "--db",
            str(db),
            "nightly",
            "report",
            "--config",
            str(config),
            "--out",
            str(out),
        ]
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        load = os.getloadavg()[0]
        html = next(out.glob("*.html"), None)
        size_mb = html.stat().st_size / 1e6 if html else float("nan")
        headline = done.stdout.splitlines()[2] if len(done.stdout.splitlines()) > 2 else ""
        print(f"nightly report exit {done.returncode}: {headline}")
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            return 1
        print(
            f"benchorch nightly report over {NIGHTS} nights x 3,360 launches: {wall:.1f} s wall,"
            f" {cpu:.1f} s CPU (load average {load:.1f} on {os.cpu_count()} cores; target under"
            f" {TARGET_S:.0f} s), HTML {size_mb:.2f} MB (target under {TARGET_MB:.0f} MB)"
        )
        doc = json.loads(next(out.glob("*.json")).read_text())["verdicts"]
        confirmed = len(doc["regressions"]) + len(doc["improvements"])
        rejected = len(doc["unconfirmed_suspects"])
        if doc["confirm_launches"]:
            per = doc["confirm_launches"] / max(1, confirmed + rejected)
            print(
                f"confirm step: {doc['confirm_launches']} extra launches, {per:.0f} per suspect"
                f" ({confirmed} confirmed, {rejected} rejected)"
            )
        else:
            print(
                f"confirm step: not run ({doc['confirm_note'] or 'no suspect'});"
                f" {rejected} suspect(s) listed unconfirmed"
            )
        return 0 if wall < TARGET_S and size_mb < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
