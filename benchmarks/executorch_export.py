"""Export of every ExecuTorch variant of demo:mobilenet_v2 (issue 15; target: under 60 s).

Times, in this process, ``export_variants`` with the recipe's ExecuTorch steps
(``executorch,executorch_xnnpack,executorch_int8``: portable, XNNPACK fp32 and
PT2E static int8 through XNNPACK; the always-written baseline ``.pt`` comes
along), each ``.pte`` checked against eager through ``executorch.runtime``, and
beside it, in the same run, the lite recipe's export of the same model, so the
figure can be read against a known one. Prints the wall time of each and the
files made. Needs the executorch extra (``make setup``).

    .venv/bin/python benchmarks/executorch_export.py [--model demo:mobilenet_v2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo:mobilenet_v2")
    args = ap.parse_args()
    from benchorch.variants.export import ExportOptions, export_variants

    tmp = Path(tempfile.mkdtemp(prefix="bench-et-export-"))
    try:
        timings = {}
        for name, recipe in (
            ("executorch", "executorch,executorch_xnnpack,executorch_int8"),
            ("lite recipe", "all"),
        ):
            t0 = time.perf_counter()
            m = export_variants(
                ExportOptions(args.model, tmp / name.replace(" ", "_"), recipe=recipe)
            )
            timings[name] = time.perf_counter() - t0
            files = ", ".join(f.name for f in m.files)
            print(f"{name:12s}: {timings[name]:6.1f} s  {len(m.files)} files ({files})")
        load = os.getloadavg()[0]
        took = timings["executorch"]
        verdict = "OK" if took < 60 else "MISSED"
        print(f"load average (1 min)  : {load:.1f} on {os.cpu_count()} cores")
        print(f"ExecuTorch export     : {took:.1f} s  (target under 60 s: {verdict})")
        print(f"ratio to lite recipe  : {took / timings['lite recipe']:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
