"""Synthetic store rows for the statistics and report tests.

Builds DataFrames with the columns of ``Store.launches()`` (docs/INTERNALS.md)
so the pure code is tested without a database. Noise is realistic for phones:
each launch gets a lognormal launch-level factor (frequency, thermal state),
each iteration a smaller lognormal jitter, and a slower first iteration.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Cfg:
    """One configuration to synthesise; ``true_us`` is the true launch-median scale."""

    variant: str = "baseline"
    true_us: float = 5000.0
    launch_sigma: float = 0.02
    iter_sigma: float = 0.03
    device_serial: str = "R58M1"
    device_model: str = "SM-G991B"
    device_fingerprint: str = "samsung/o1s/o1s:14/UP1A/1:user/release-keys"
    binary: str = "bin-1"
    flavour: str = "lite"
    dims: str = "1,3,224,224"
    types: str = "float"
    memory_format: str = "contiguous_format"
    threads: int = 4
    core_mask: int | None = 0xF0
    kind: str = "latency"
    variant_format: str = "lite"
    size_bytes: int = 1_000_000
    fail_kind: str | None = None  # every launch fails with this error kind
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **kw: Any) -> Cfg:
        return replace(self, **kw)


def launches(
    run_id: str,
    cfgs: list[Cfg],
    *,
    n_launches: int = 10,
    n_iter: int = 50,
    seed: int = 0,
    t0: float = 1_780_000_000.0,
    hot_every: int = 0,
) -> pd.DataFrame:
    """Interleaved launches of ``cfgs`` (round-robin), one row per launch."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    t = t0
    for li in range(n_launches):
        for ci, c in enumerate(cfgs):
            level = c.true_us * rng.lognormal(0.0, c.launch_sigma)
            samples = level * rng.lognormal(0.0, c.iter_sigma, size=n_iter)
            samples[0] *= 1.5  # cold first iteration
            ok = c.fail_kind is None
            load = c.kind == "load"
            rows.append(
                {
                    "run_id": run_id,
                    "launch_key": f"{run_id}:{ci}:{li}",
                    "device_serial": c.device_serial,
                    "variant": c.variant,
                    "variant_file": f"{c.variant}.ptl",
                    "variant_format": c.variant_format,
                    "variant_sha256": sha(
                        c.variant + c.variant_format + c.extra.get("variant_rev", "")
                    ),
                    "binary_sha256": sha(c.binary),
                    "dims": c.dims,
                    "types": c.types,
                    "memory_format": c.memory_format,
                    "threads": c.threads,
                    "core_mask": c.core_mask,
                    "kind": c.kind,
                    "launch_index": li,
                    "iters": 0 if load else n_iter,
                    "warmup": 0 if load else 2,
                    "status": "ok" if ok else "failed",
                    "error_kind": None if ok else c.fail_kind,
                    "message": None if ok else "Unknown builtin op: aten::foo",
                    "us_per_iter": float(np.mean(samples)) if ok and not load else None,
                    "iters_per_sec": 1e6 / float(np.mean(samples)) if ok and not load else None,
                    "samples_us": [float(s) for s in samples] if ok and not load else [],
                    "load_s": level / 1e6 if ok and load else None,
                    "wall_s": 1.0,
                    "exit_code": 0 if ok else 134,
                    "timed_out": False,
                    "hot": bool(hot_every and li % hot_every == 0),
                    "health_before": None,
                    "health_after": None,
                    "started_at": t,
                    "finished_at": t + 1.0,
                    "argv": [],
                    "stdout": "",
                    "stderr": "",
                    "device_model": c.device_model,
                    "device_fingerprint": c.device_fingerprint,
                    "device_soc": "exynos2100",
                    "binary_flavour": c.flavour,
                    "variant_size_bytes": c.size_bytes,
                    "variant_steps": c.variant.split("+") if c.variant != "baseline" else [],
                    "check_max_abs_err": 0.2 if "quantized" in c.variant else 0.01,
                    "check_cosine": 0.999,
                    "check_passed": True,
                }
            )
            t += 2.0
    return pd.DataFrame(rows)


def many(n: int, **kw: Any) -> list[Cfg]:
    """``n`` distinct configurations (variants v0..v{n-1}) on one phone."""
    rng = np.random.default_rng(12345)
    return [Cfg(variant=f"v{i}", true_us=float(rng.uniform(500, 50_000)), **kw) for i in range(n)]


RECIPE = [
    Cfg(
        variant="baseline",
        variant_format="full_jit",
        flavour="full_jit",
        true_us=9000.0,
        size_bytes=9_000_000,
    ),
    Cfg(
        variant="fused",
        variant_format="full_jit",
        flavour="full_jit",
        true_us=7000.0,
        size_bytes=8_800_000,
    ),
    Cfg(
        variant="fused+quantized",
        variant_format="full_jit",
        flavour="full_jit",
        true_us=3500.0,
        size_bytes=2_400_000,
    ),
    Cfg(
        variant="baseline",
        variant_format="lite",
        flavour="full_jit",
        true_us=8800.0,
        size_bytes=9_000_000,
    ),
    Cfg(
        variant="baseline",
        variant_format="flatbuffer",
        flavour="full_jit",
        true_us=8700.0,
        size_bytes=9_100_000,
    ),
    Cfg(
        variant="channels_last",
        variant_format="full_jit",
        flavour="full_jit",
        true_us=8000.0,
        memory_format="channels_last",
    ),
]


def recipe(device_serial: str = "R58M1", device_model: str = "SM-G991B", **kw: Any) -> list[Cfg]:
    """The recipe's variants on one phone, with load launches and one failing variant."""
    base = [c.with_(device_serial=device_serial, device_model=device_model, **kw) for c in RECIPE]
    loads = [c.with_(kind="load", true_us=c.true_us * 20) for c in base[:1] + base[3:5]]
    broken = base[0].with_(variant="mobile", fail_kind="missing_ops")
    return [*base, *loads, broken]


def side_frames(run_id: str, serials: list[tuple[str, str]]) -> dict[str, Any]:
    """``run()``, ``devices()``, ``binaries()``, ``variants()`` and ``skips()`` of a run."""
    devices = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "serial": s,
                "model": m,
                "manufacturer": "samsung",
                "soc": "exynos2100",
                "abis": ["arm64-v8a"],
                "android_release": "14",
                "sdk": 34,
                "fingerprint": Cfg().device_fingerprint,
            }
            for s, m in serials
        ]
    )
    binaries = pd.DataFrame(
        [
            {
                "sha256": sha("bin-1"),
                "flavour": "full_jit",
                "target": "android",
                "abi": "arm64-v8a",
                "pytorch_version": "1.13.1",
                "origin": "built",
                "source_revision": "v1.13.1",
                "ndk_version": "r21e",
                "build_flags": ["-DBUILD_BINARY=ON"],
            }
        ]
    )
    variants = pd.DataFrame(
        [
            {"variant": c.variant, "sha256": sha(c.variant), "torch_version": "2.13.0"}
            for c in RECIPE
        ]
    )
    skips = pd.DataFrame(
        [
            {
                "id": 1,
                "run_id": run_id,
                "device": serials[0][0],
                "variant": "mobile",
                "config": {"format": "lite"},
                "reason": "Mobile optimization only available with XNNPACK",
            }
        ]
    )
    run = {
        "run_id": run_id,
        "command": "sweep",
        "status": "ok",
        "started_at": 1_780_000_000.0,
        "finished_at": 1_780_000_600.0,
        "host": "lab-1",
        "benchorch_version": "0.1.0",
        "params": {
            "device": [s for s, _ in serials],
            "launches": 10,
            "iter": 50,
            "dims": ["1,3,224,224"],
        },
    }
    return {
        "run": run,
        "devices": devices,
        "binaries": binaries,
        "variants": variants,
        "skips": skips,
    }
