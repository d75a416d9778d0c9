"""The nightly confirm step's cost: extra launches per confirmed and per rejected suspect.

Real nights on two virtual phones (x86_64 emulator profile) behind an
isolated Debian adb server, with the REAL host-built speed_benchmark_torch
(lite), each a real ``benchorch nightly run`` then ``benchorch nightly report
--format json``; the confirm step re-runs its suspects A/B on the phones. The
night measures two variant files (as ``tests/nightly/test_nights_e2e.py``): a
``baseline.ptl`` of a convolution stack (five 16->16 convolutions at
1,3,32,32) and the exporter's ``fused.ff.ptl`` of ``demo:conv_bn_relu``. The
first ``--quiet`` nights change nothing (every suspect is noise and should be
rejected); then one night's export writes a ``baseline.ptl`` with
``--slow-convs`` convolutions over the old one (a real slowdown of one
variant on both phones, whose suspects should be confirmed); then one night
changes nothing again.

Prints one line per night and the totals: suspects confirmed and rejected,
extra launches spent on each kind, launches per suspect, and the share of
the nights' own launches the confirm step added.

    .venv/bin/python benchmarks/nightly_confirm_cost.py [--quiet 3] [--launches 3]
        [--slow-convs 10] [--budget 14]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sweep_overhead_phone import real_binary  # beside this script (run as a file)

from benchorch.virtualphone.harness import AdbServer, VirtualPhone

DIMS = "1,3,32,32"


def export_stack(tmp: Path, convs: int) -> Path:
    import torch

    from benchorch.variants.export import ExportOptions, export_variants

    layers: list[Any] = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU()]
    for _ in range(convs):
        layers += [torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()]
    torch.manual_seed(0)
    model = tmp / f"stack{convs}.pt"
    torch.jit.trace(torch.nn.Sequential(*layers).eval(), torch.ones(1, 3, 32, 32)).save(str(model))
    out = tmp / f"stack{convs}"
    export_variants(ExportOptions(str(model), out, dims=DIMS, types="float", recipe="lite"))
    return out


def install(folder: Path, small: Path, stack: Path) -> None:
    """The night's folder: the stack's ``baseline.ptl`` and the demo's ``fused.ff.ptl``."""
    doc = json.loads((small / "manifest.json").read_text())
    mine = json.loads((stack / "manifest.json").read_text())
    [entry] = [f for f in mine["files"] if f["name"] == "baseline.ptl"]
    [kept] = [f for f in doc["files"] if f["name"] == "fused.ff.ptl"]
    folder.mkdir(exist_ok=True)
    shutil.copyfile(small / kept["path"], folder / "fused.ff.ptl")
    shutil.copyfile(stack / entry["path"], folder / "baseline.ptl")
    entry["path"], kept["path"] = "baseline.ptl", "fused.ff.ptl"
    doc["files"] = [entry, kept]
    (folder / "manifest.json").write_text(json.dumps(doc, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quiet", type=int, default=3, help="unchanged nights first")
    ap.add_argument("--launches", type=int, default=3, help="a night's, per file and phone")
    ap.add_argument("--slow-convs", type=int, default=10, help="the slowed stack's (five before)")
    ap.add_argument("--budget", type=float, default=14.0, help="[nightly] confirm_budget, %%")
    args = ap.parse_args()
    from benchorch.variants.export import ExportOptions, export_variants

    tmp = Path(tempfile.mkdtemp(prefix="bench-confirm-cost-"))
    adb = AdbServer(tmp / "adb")
    phones: list[VirtualPhone] = []
    try:
        binary = real_binary(tmp)
        small = tmp / "demo"
        demo = ExportOptions("demo:conv_bn_relu", small, dims=DIMS, types="float")
        export_variants(demo)
        stacks = {n: export_stack(tmp, n) for n in (5, args.slow_convs)}
        folder = tmp / "variants"
        install(folder, small, stacks[5])
        adb.start()
        for i in range(2):
            (tmp / f"phone{i}").mkdir()
            phone = VirtualPhone(adb, tmp / f"phone{i}", "x86_64_emulator", {}, tmp / f"p{i}.log")
            phone.start()
            phones.append(phone)
        cfg = tmp / "nightly.toml"
        cfg.write_text(
            f"devices = {json.dumps([p.serial for p in phones])}\n"
            f'adb_server = "127.0.0.1:{adb.port}"\nvariants = "{folder}"\nbinary = "{binary}"\n'
            f'dims = "{DIMS}"\niters = 10\nwarmup = 2\nlaunches = {args.launches}\n'
            f'load_launches = 0\ncooldown_temp = "off"\nout = "{tmp / "reports"}"\n'
            f"[nightly]\nwindow = 3\nconfirm_budget = {args.budget}\n"
        )
        env = dict(adb.env, BENCHORCH_CACHE=str(tmp / "cache"), BENCHORCH_LOCK_DIR=str(tmp / "l"))
        db = str(tmp / "results.sqlite")
        plan = ["quiet"] * args.quiet + ["slowed", "unchanged"]
        totals = {"confirmed": [0, 0], "rejected": [0, 0]}
        night_launches = confirm_launches = 0
        print(f"{'night':<12} {'what':<10} {'confirmed':>22} {'rejected':>22}")
        for day, what in enumerate(plan, 1):
            if what == "slowed":
                install(folder, small, stacks[args.slow_convs])
            night = f"2026-11-{day:02d}"
            base = [sys.executable, "-m", "benchorch", "--db", db, "nightly"]
            run = subprocess.run(
                [*base, "run", "--config", str(cfg), "--night", night, "-q"],
                env=env, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            if run.returncode not in (0, 1):
                sys.exit(f"nightly run {night}: exit {run.returncode}: {run.stderr[-2000:]}")
            subprocess.run(
                [*base, "report", "--config", str(cfg), "--night", night, "--format", "json",
                 "--out", str(tmp / "out")],
                env=env, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            doc = json.loads(next((tmp / "out").glob(f"nightly-{night}-*.json")).read_text())
            v = doc["verdicts"]
            night_launches += int(doc["status"]["ran"])
            confirm_launches += int(v["confirm_launches"])
            cells = []
            for kind in ("confirmed", "rejected"):
                c = v.get("confirm_cost", {}).get(kind, {"suspects": 0, "launches": 0})
                totals[kind][0] += int(c["suspects"])
                totals[kind][1] += int(c["launches"])
                cells.append(f"{int(c['suspects'])} ({int(c['launches'])} launches)")
            print(f"{night:<12} {what:<10} {cells[0]:>22} {cells[1]:>22}")
        for kind, (n, launches) in totals.items():
            per = f"{launches / n:.1f}" if n else "-"
            print(f"{kind}: {n} suspect(s), {launches} extra launches, {per} per suspect")
        share = confirm_launches / max(1, night_launches)
        print(
            f"confirm step: {confirm_launches} extra launches on {night_launches} night launches"
            f" ({share:.0%}) over {len(plan)} nights"
        )
    finally:
        for phone in phones:
            phone.stop()
        adb.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
