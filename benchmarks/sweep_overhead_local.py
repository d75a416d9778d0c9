"""Orchestration overhead of a 20-launch local sweep (issue 2; target: ratio <= 1.10).

Measures, side by side in one run:

* ``sweep``: the wall time of ``benchorch sweep --device local --runner python``
  doing 20 latency launches of the host runner (the figure's history is the
  host runner's; ``local_runner.py`` compares it with the real binary), the
  whole CLI process: start-up, planning, health
  snapshots, store commits, report rendering);
* ``bare``: the wall time of the very same 20 runner command lines (read back
  from the store's ``argv`` column) started one after another from a ``sh`` loop.

Rounds alternate sweep/bare so drift hits both alike; the ratio of medians is printed.
Run: ``.venv/bin/python benchmarks/sweep_overhead_local.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from benchorch.variants.export import ExportOptions, export_variants

    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    env = dict(os.environ, BENCHORCH_CACHE=str(tmp / "cache"), BENCHORCH_LOCK_DIR=str(tmp / "lk"))
    manifest = export_variants(
        ExportOptions(
            "demo:conv_bn_relu", tmp / "v", dims="1,3,64,64", types="float", recipe="lite"
        )
    )
    assert len(manifest.files) == 2, [
        f.name for f in manifest.files
    ]  # .pt and .ptl: 10 launches each

    sweep_times: list[float] = []
    bare_times: list[float] = []
    for r in range(args.rounds):
        db = tmp / f"r{r}.sqlite"
        cmd = [
            sys.executable, "-m", "benchorch", "--db", str(db), "sweep", "--device", "local",
            "--runner", "python", "--variants", str(manifest.root), "--launches", "10",
            "--iter", "20", "--warmup", "2", "--load-launches", "0", "--cooldown-temp", "1000",
            "--out", str(tmp / "reports"), "--quiet",
        ]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        sweep_times.append(time.perf_counter() - t0)

        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT argv FROM launches ORDER BY id").fetchall()
        import json

        argvs = [json.loads(r[0]) for r in rows]
        assert len(argvs) == 20, len(argvs)
        workdir = _workdir(env)
        script = "\n".join(" ".join(shlex.quote(a) for a in argv) + " >/dev/null" for argv in argvs)
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", script], check=True, env=env, cwd=workdir)
        bare_times.append(time.perf_counter() - t0)
        print(f"round {r}: sweep {sweep_times[-1]:.2f} s, bare loop {bare_times[-1]:.2f} s")

    sweep, bare = statistics.median(sweep_times), statistics.median(bare_times)
    print(f"20 local launches: sweep {sweep:.2f} s, bare {bare:.2f} s (medians of {args.rounds})")
    print(f"overhead ratio sweep/bare: {sweep / bare:.3f} (target <= 1.10)")


def _workdir(env: dict[str, str]) -> str:
    """The local device's work folder, where the pushed models are (argv uses its paths)."""
    out = subprocess.run(
        [sys.executable, "-c", "from benchorch.devices.local import LocalDevice; "
         "print(LocalDevice().workdir)"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


if __name__ == "__main__":
    main()
