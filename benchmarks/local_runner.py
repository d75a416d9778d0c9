"""A ``--device local`` launch of ``demo:conv_bn_relu``: the real binary against the host runner.

Measures, side by side in one run (issue 10 item 7):

1. ``launch``: the wall time of one launch process, exactly as ``make demo``
   starts it (``--input_dims=1,3,112,112 --warmup=2 --iter=10 --report_pep=true
   --pthreadpool_size=1``), of ``speed_benchmark_torch`` (the cached host build
   ``--device local`` uses) and of ``python -m benchorch.hostrunner``
   (``--runner python``), interleaved launch by launch (ABAB...) on each file of
   the demo's recipe, so drift hits both alike. Prints the median per runner,
   the ratio host runner / binary, and the median ``us_per_iter`` each reported.
2. ``demo`` (skip with ``--no-demo``): the wall time of the whole ``make demo``
   sweep (``benchorch sweep --device local`` with the Makefile's DEMO_ARGS) with
   each runner, the variants already exported and the binary already built.

    .venv/bin/python benchmarks/local_runner.py [--launches 5] [--no-demo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchorch.parse import parse_output

DIMS = "1,3,112,112"
RECIPE = "fuse,quantize,flatbuffer"
DEMO_ARGS = [
    "--model", "demo:conv_bn_relu", "--dims", DIMS, "--recipe", RECIPE, "--launches", "3",
    "--iter", "10", "--warmup", "2", "--load-launches", "1",
]  # fmt: skip


def launch_flags(model: Path) -> list[str]:
    return [
        f"--model={model}", f"--input_dims={DIMS}", "--input_type=float",
        "--input_memory_format=contiguous_format", "--warmup=2", "--iter=10",
        "--report_pep=true", "--pthreadpool_size=1",
    ]  # fmt: skip


def timed(argv: list[str]) -> tuple[float, float | None]:
    """Wall seconds of one launch process, and the us_per_iter it printed."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    parsed = parse_output(proc.stdout, proc.stderr, proc.returncode)
    if not parsed.ok:
        raise SystemExit(f"launch failed: {argv}\n{proc.stderr[-2000:]}")
    return wall, parsed.us_per_iter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--launches", type=int, default=5, help="per runner and file")
    ap.add_argument("--no-demo", action="store_true", help="skip the whole-sweep comparison")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-local-runner-"))
    cache = Path(os.environ.get("BENCHORCH_CACHE") or tmp / "cache")
    env = dict(os.environ, BENCHORCH_CACHE=str(cache), BENCHORCH_LOCK_DIR=str(tmp / "locks"))
    os.environ.update(env)
    from benchorch.sweep.inputs import hostrunner_binary, local_binary, resolve_variants

    binary = local_binary("binary")  # builds on first use (a progress line), else cached
    assert binary.local_path is not None
    runners = {
        "binary": [str(binary.local_path)],
        "hostrunner": list(hostrunner_binary().argv_prefix),
    }
    manifest = resolve_variants(
        variants_dir=None, model="demo:conv_bn_relu", dims=DIMS, types="float",
        recipe=tuple(RECIPE.split(",")), cache_dir=cache,
    )  # fmt: skip
    walls: dict[str, list[float]] = {name: [] for name in runners}
    per_iter: dict[str, list[float]] = {name: [] for name in runners}
    for f in manifest.files:
        model = f.abspath(manifest.root)
        for _ in range(args.launches):
            for name, prefix in runners.items():
                wall, us = timed([*prefix, *launch_flags(model)])
                walls[name].append(wall)
                if us is not None:
                    per_iter[name].append(us)
    n = len(walls["binary"])
    print(f"one local launch of demo:conv_bn_relu ({n} launches each, {len(manifest.files)} files)")
    for name in runners:
        print(
            f"  {name:<10} median {statistics.median(walls[name]):6.3f} s per launch, "
            f"{statistics.median(per_iter[name]):8.0f} us per iter"
        )
    ratio = statistics.median(walls["hostrunner"]) / statistics.median(walls["binary"])
    print(f"  ratio hostrunner / binary: {ratio:.1f}x per launch")

    if args.no_demo:
        return
    demo: dict[str, float] = {}
    for name, flag in (("binary", "binary"), ("hostrunner", "python")):
        cmd = [
            sys.executable, "-m", "benchorch", "--db", str(tmp / f"{name}.sqlite"), "sweep",
            "--device", "local", "--runner", flag, *DEMO_ARGS, "--out", str(tmp / "reports"),
            "--quiet",
        ]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(
            cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        demo[name] = time.perf_counter() - t0
    print("the make demo sweep (variants exported and binary built beforehand)")
    for name, seconds in demo.items():
        print(f"  {name:<10} {seconds:6.1f} s")
    print(f"  ratio hostrunner / binary: {demo['hostrunner'] / demo['binary']:.1f}x")


if __name__ == "__main__":
    main()
