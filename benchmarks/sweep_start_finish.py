"""The fixed time of one ``benchorch sweep`` invocation: before its first launch and
after its last (issue 16), and where it goes.

On one virtual phone (x86_64 emulator profile) behind an isolated Debian adb
server, with the REAL host-built speed_benchmark_torch (lite) and real exported
variants, each round runs the same small sweep (two ``.ptl`` files, one launch
each, ``--iter 1``) and reads the stored launches' times:

* ``start``: process start -> the first launch starts (imports, settings,
  device facts, binary and variants, pushes and their hash checks);
* ``finish``: the last launch ends -> the process exits (the report).

With ``--before-tree DIR`` (a source tree of an older benchorch, e.g.
``git archive COMMIT | tar -x -C DIR``) the same rounds also run that code,
interleaved with this one, so both are measured side by side under the same
load. A fresh interpreter's import times of the pieces are printed too.

    .venv/bin/python benchmarks/sweep_start_finish.py [--rounds 5] [--before-tree DIR]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchorch.virtualphone.harness import AdbServer, VirtualPhone

ROOT = Path(__file__).resolve().parent.parent

PIECES = {
    "python + benchorch.cli.main": "import benchorch.cli.main",
    "benchorch.sweep.run (no store)": "import benchorch.sweep.run",
    "the store (sqlalchemy; opened in a thread)": "import benchorch.store.store",
    "report: pandas, model, template": (
        "import benchorch.report.api; from benchorch.report.render import environment;"
        " environment().get_template('run.html.j2')"
    ),
}


def real_binary(tmp: Path) -> Path:
    from benchorch.build import BuildRequest, build

    src = Path(
        os.environ.get("BENCHORCH_PYTORCH_SRC") or ROOT / ".cache/pytorch-src/pytorch-1.13.1"
    )
    cache = Path(os.environ.get("BENCHORCH_TEST_CACHE") or ROOT / ".cache/test") / "builds"
    cache.mkdir(parents=True, exist_ok=True)
    prov = build(BuildRequest(pytorch_root=src, flavour="lite", cache_dir=cache))
    dst = tmp / "bin" / "speed_benchmark_torch"
    dst.parent.mkdir()
    dst.write_bytes(Path(prov.path).read_bytes())
    dst.chmod(0o755)
    Path(str(dst) + ".provenance.json").write_bytes(
        Path(prov.path + ".provenance.json").read_bytes()
    )
    return dst


def import_time(code: str, tree: Path | None) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree)) if tree else dict(os.environ)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before-tree", type=Path, help="an older benchorch source tree")
    args = ap.parse_args()
    from benchorch.variants.export import ExportOptions, export_variants

    trees: dict[str, Path | None] = {"this": None}
    if args.before_tree:
        trees = {"before": args.before_tree.resolve(), "this": None}
    tmp = Path(tempfile.mkdtemp(prefix="bench-start-finish-"))
    adb = AdbServer(tmp / "adb")
    phone: VirtualPhone | None = None
    try:
        binary = real_binary(tmp)
        manifest = export_variants(
            ExportOptions(
                "demo:conv_bn_relu", tmp / "variants", dims="1,3,32,32", recipe="lite,flatbuffer"
            )
        )
        variants = tmp / "variants"
        adb.start()
        (tmp / "phone").mkdir()
        phone = VirtualPhone(adb, tmp / "phone", "x86_64_emulator", {}, tmp / "phone.log")
        phone.start()
        start: dict[str, list[float]] = {k: [] for k in trees}
        finish: dict[str, list[float]] = {k: [] for k in trees}
        total: dict[str, list[float]] = {k: [] for k in trees}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in order:
                tree = trees[name]
                db = tmp / f"{name}-{r}.sqlite"
                env = dict(
                    adb.env,
                    BENCHORCH_CACHE=str(tmp / "cache"),
                    BENCHORCH_LOCK_DIR=str(tmp / "locks"),
                )
                if tree is not None:
                    env["PYTHONPATH"] = str(tree)
                cmd = [
                    sys.executable, "-m", "benchorch", "--db", str(db), "sweep",
                    "--adb", f"127.0.0.1:{adb.port}", "--device", phone.serial,
                    "--binary", str(binary), "--variants", str(variants),
                    "--launches", "1", "--load-launches", "0", "--iter", "1", "--warmup", "0",
                    "--out", str(tmp / "reports"), "--quiet",
                ]  # fmt: skip
                w0 = time.time()
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=tmp)
                w1 = time.time()
                with sqlite3.connect(db) as conn:
                    first, last = conn.execute(
                        "SELECT min(started_at), max(finished_at) FROM launches"
                    ).fetchone()
                start[name].append(first - w0)
                finish[name].append(w1 - last)
                total[name].append(w1 - w0)
        print(
            f"{len(manifest.files)} files exported; {args.rounds} rounds, 2 launches each;"
            f" load average (1 min) {os.getloadavg()[0]:.2f}"
        )
        for name in trees:
            print(
                f"{name:>6}: before the first launch {statistics.median(start[name]):5.2f} s,"
                f" after the last {statistics.median(finish[name]):5.2f} s,"
                f" whole command {statistics.median(total[name]):5.2f} s (medians)"
            )
        if "before" in trees:
            fixed = {k: statistics.median(start[k]) + statistics.median(finish[k]) for k in trees}
            print(f"fixed part this/before: {fixed['this'] / fixed['before']:.2f}")
        print("fresh-interpreter import times (this tree):")
        for label, code in PIECES.items():
            took = statistics.median(import_time(code, None) for _ in range(3))
            print(f"  {label:<42} {took:.2f} s")
    finally:
        if phone is not None:
            phone.stop()
        adb.stop()


if __name__ == "__main__":
    main()
