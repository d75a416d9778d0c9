"""Time `benchorch variants demo:mobilenet_v2` (every variant) and each phase's share.

Run: .venv/bin/python benchmarks/export_variants.py [--model demo:mobilenet_v2] [--dims ...]

Prints the total wall time against the 60 s target, and per phase (loading and
reference run, then each variant: build, script, save .pt/.ptl/.ff.ptl, load
back and check; "finish" is the channels-last entries, the manifest and the
rename) its wall time, CPU time of this process and share of the total. The
phases are cut at the exporter's progress messages, so the shares add up to
100%. CPU time is given because wall time on a shared 2-core host moves with
the other load; a CPU time well under wall time means the host was busy.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from benchorch.variants.export import ExportOptions, export_variants

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo:mobilenet_v2")
    ap.add_argument("--dims", default=None)
    args = ap.parse_args()

    marks: list[tuple[str, float, float]] = []

    def progress(msg: str) -> None:
        marks.append((msg, time.perf_counter(), time.process_time()))

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        marks.append(("import torch", t0, c0))
        import torch  # noqa: F401  (timed as its own phase)

        manifest = export_variants(
            ExportOptions(args.model, Path(tmp) / "out", dims=args.dims), progress=progress
        )
        t1, c1 = time.perf_counter(), time.process_time()
        marks.append(("finish", t1, c1))
    total = t1 - t0
    print(f"model {manifest.model}  torch {manifest.torch_version}  xnnpack {manifest.xnnpack}")
    print(f"{len(manifest.files)} files, {len(manifest.skipped)} skipped")
    print(f"{'phase':<44} {'wall s':>8} {'cpu s':>8} {'share':>7}")
    for (name, ta, ca), (_, tb, cb) in itertools.pairwise(marks):
        print(f"{name:<44} {tb - ta:8.2f} {cb - ca:8.2f} {100 * (tb - ta) / total:6.1f}%")
    print(f"{'total':<44} {total:8.2f} {c1 - c0:8.2f}  100.0%")
    verdict = "met" if total < TARGET_S else "MISSED"
    print(f"target < {TARGET_S:.0f} s: {verdict} (ratio {total / TARGET_S:.2f})")


if __name__ == "__main__":
    main()
