"""A lab worker's idle cost and the lock hand-over between two jobs on one phone.

Starts a real PostgreSQL (the tests' launcher), ``benchorch lab init``, and one
``benchorch lab worker`` subprocess serving two phones, then:

* idle: the worker's own CPU time (utime + stime from /proc) over ``--seconds``
  with nothing queued, printed per minute;
* hand-over: ``--holds`` reservations of one phone queued at once, each held
  ``--ttl`` seconds; from benchorch's attempts table, the gap between one
  attempt's end and the next one's start (median and max).

    .venv/bin/python benchmarks/lab_worker.py [--seconds 60] [--holds 8] [--ttl 1]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchorch.lab import state  # noqa: E402
from benchorch.store.pgserver import pg_server  # noqa: E402
from tests.support.labproc import (  # noqa: E402
    BENCHORCH,
    idle_cpu_per_minute,
    lab_init,
    lab_worker,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--holds", type=int, default=8)
    ap.add_argument("--ttl", type=int, default=1)
    args = ap.parse_args()
    with pg_server() as pg, tempfile.TemporaryDirectory() as tmp:
        url = pg.url(pg.new_database())
        config = Path(tmp) / "lab.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n[hosts.a]\n'
            '[phones.P1]\nhost = "a"\nmodel = "m"\n[phones.P2]\nhost = "a"\nmodel = "m"\n'
        )
        lab = [*BENCHORCH, "lab"]
        lab_init(config)
        worker = lab_worker(config, "a")
        try:
            (per_min,), wall = idle_cpu_per_minute([worker], args.seconds)
            print(
                f"idle worker (2 phones): {per_min:.2f} CPU s per minute "
                f"({per_min / 60 * 100:.2f}% of one core) over {wall:.0f} s"
            )
            for _ in range(args.holds):
                subprocess.run(
                    [
                        *lab,
                        "reserve",
                        "P1",
                        "--ttl",
                        f"{args.ttl}s",
                        "--wait",
                        "0",
                        "--config",
                        str(config),
                    ],
                    check=True,
                    capture_output=True,
                )
            with state.connect(url) as conn:
                deadline = time.monotonic() + args.holds * (args.ttl + 5) + 30
                while time.monotonic() < deadline:
                    rows = conn.execute(
                        "SELECT started_at, ended_at FROM benchorch_lab_attempts"
                        " WHERE serial = 'P1' ORDER BY token"
                    ).fetchall()
                    if len(rows) == args.holds and rows[-1]["ended_at"] is not None:
                        break
                    time.sleep(0.5)
            gaps = [
                (b["started_at"] - a["ended_at"]).total_seconds()
                for a, b in itertools.pairwise(rows)
            ]
            print(
                f"lock hand-over on one phone ({len(gaps)} gaps): median "
                f"{statistics.median(gaps):.2f} s, max {max(gaps):.2f} s (target: median < 1.5 s)"
            )
        finally:
            worker.terminate()
            worker.wait(30)


if __name__ == "__main__":
    main()
