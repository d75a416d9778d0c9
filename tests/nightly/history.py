"""A results store holding a history of nightly nights, written through the real
``Store`` and ``NightStore`` APIs into a real SQLite file.

The launches are synthetic (no phone: seeded log-normal launch medians around a
per-configuration level), which is what lets the report tests pick the exact
change a night carries; the fortnight on virtual phones is in ``test_fortnight``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchorch.domain import ErrorKind
from benchorch.nightly.config import load_nightly
from benchorch.nightly.night import config_hash
from benchorch.store import Store
from benchorch.store.nights import COMPLETE, NightStore
from benchorch.sweep.settings import merge
from tests.store.factory import device_info, failed_launch, launch, provenance, sha, variant_entry

SERIALS = ("PHONE_A", "PHONE_B")
VARIANTS = ("baseline", "fused", "fused+quantized")
LEVEL_US = {"baseline": 1000.0, "fused": 800.0, "fused+quantized": 500.0}


@dataclass(frozen=True)
class Night:
    date: str
    scale: dict[tuple[str, str], float] = field(default_factory=dict)  # (serial, variant)
    phone_scale: dict[str, float] = field(default_factory=dict)  # a phone that drifted
    failing: tuple[tuple[str, str], ...] = ()
    left_out: tuple[str, ...] = ()
    pytorch: str = "v2.13.0-1-gabc"
    binary: str = "sbt-lite"  # the benchmark binary's name (its sha256 follows it)


def write_config(folder: Path, **nightly: object) -> Path:
    path = folder / "nightly.toml"
    lines = [f"devices = {json.dumps(list(SERIALS))}", 'variants = "variants"', "launches = 8"]
    if nightly:
        lines.append("[nightly]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in nightly.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def build(
    db: Path, config: Path, nights: Sequence[Night], *, launches: int = 8, seed: int = 0
) -> list[str]:
    """Store ``nights``; return their run ids."""
    chash = config_hash(merge(load_nightly(config).sweep_values, {}))
    rng = np.random.default_rng(seed)
    run_ids = []
    with Store(db) as store:
        ns = NightStore(store)
        for n in nights:
            run_id = store.create_run(command="benchorch nightly run", params={"settings": {}})
            healthy = [s for s in SERIALS if s not in n.left_out]
            for serial in healthy:
                store.record_device(run_id, device_info(serial=serial, model="Pixel 8"))
            store.record_binary(run_id, provenance(n.binary))
            for v in VARIANTS:
                store.record_variant(run_id, variant_entry(v))
            for serial in healthy:
                for v in VARIANTS:
                    level = LEVEL_US[v] * n.scale.get((serial, v), 1.0)
                    level *= n.phone_scale.get(serial, 1.0)
                    for i in range(launches):
                        key = f"{serial}|{v}|{i}"
                        if (serial, v) in n.failing:
                            store.record_launch(
                                failed_launch(
                                    run_id,
                                    i,
                                    ErrorKind.CRASH,
                                    launch_key=key,
                                    device_serial=serial,
                                    variant=v,
                                    variant_file=f"{v}.ptl",
                                    variant_sha256=sha(v),
                                )
                            )
                            continue
                        med = level * float(np.exp(rng.normal(0, 0.02)))
                        samples = tuple(med * float(np.exp(rng.normal(0, 0.01))) for _ in range(15))
                        store.record_launch(
                            launch(
                                run_id,
                                i,
                                launch_key=key,
                                device_serial=serial,
                                variant=v,
                                samples_us=samples,
                                binary_sha256=sha(n.binary),
                            )
                        )
            store.finish_run(run_id, "ok")
            detail = {
                "healthy": healthy,
                "left_out": [
                    {"serial": s, "reason": "missing: the adb server does not list it"}
                    for s in n.left_out
                ],
                "planned": {s: launches * len(VARIANTS) for s in healthy},
                "revisions": {
                    "pytorch": n.pytorch,
                    "pytorch_commit": sha(n.pytorch)[:40],
                    "benchorch": "0.test",
                },
                "min_coverage": 1.0,
            }
            ns.claim(n.date, chash, "builder:1", detail)
            ns.update(n.date, chash, status=COMPLETE, run_id=run_id, detail=detail)
            run_ids.append(run_id)
    return run_ids
