"""Host build vs cache hit for speed_benchmark_torch, measured side by side.

    .venv/bin/python benchmarks/build_cache.py [PYTORCH_ROOT]

Builds the lite host binary into a fresh temporary cache (a real g++ run),
then asks for the same build again, in-process and through the `benchorch
build` CLI (a new Python process, as a user would), and prints each time and
the ratio. Target: a hit answers in under a second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchorch.build import BuildRequest, build

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    default = os.environ.get("BENCHORCH_PYTORCH_SRC") or REPO / ".cache/pytorch-src/pytorch-1.13.1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pytorch_root", nargs="?", type=Path, default=Path(default))
    root = parser.parse_args().pytorch_root
    with tempfile.TemporaryDirectory(prefix="benchorch-bench-") as tmp:
        cache = Path(tmp)
        t0 = time.perf_counter()
        request = BuildRequest(target="host", flavour="lite", pytorch_root=root, cache_dir=cache)
        built = build(request)
        build_s = time.perf_counter() - t0
        assert built.origin == "built"

        t0 = time.perf_counter()
        hit = build(request)
        hit_s = time.perf_counter() - t0
        assert hit.origin == "cached" and hit.sha256 == built.sha256

        cli = [sys.executable, "-m", "benchorch", "build", "--target", "host", "--lite"]
        cli += ["--pytorch-root", str(root), "--cache-dir", str(cache), "--quiet"]
        t0 = time.perf_counter()
        out = subprocess.run(cli, capture_output=True, text=True, check=True, cwd=REPO)
        cli_s = time.perf_counter() - t0
        assert "cached" in out.stdout, out.stdout

    print(f"host build (g++, lite):        {build_s:8.3f} s")
    print(f"cache hit, in-process:         {hit_s:8.3f} s   ({build_s / hit_s:,.0f}x faster)")
    print(f"cache hit, `benchorch build`:  {cli_s:8.3f} s   ({build_s / cli_s:,.0f}x faster)")
    verdict = "ok" if cli_s < 1.0 else "SLOWER THAN TARGET"
    print(f"target: a hit under 1 s -> {verdict}")


if __name__ == "__main__":
    main()
