"""Builders of realistic store inputs shared by the store tests."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from benchorch.build.provenance import Provenance
from benchorch.domain import CpuCluster, DeviceInfo, ErrorKind, Health, ModelFormat, Status
from benchorch.store import LaunchRecord
from benchorch.variants.manifest import CheckResult, Tolerance, VariantFile


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def device_info(serial: str = "R58M123", model: str = "SM-G991B") -> DeviceInfo:
    return DeviceInfo(
        serial=serial,
        state="device",
        model=model,
        manufacturer="samsung",
        soc="exynos2100",
        abis=("arm64-v8a", "armeabi-v7a"),
        android_release="13",
        sdk=33,
        fingerprint=f"samsung/{model}/13/TP1A:user/release-keys",
        clusters=(
            CpuCluster("big", (7,), 2_900_000),
            CpuCluster("little", (0, 1, 2, 3), 2_000_000),
        ),
        battery_level=87,
        thermal_zones={"cpu-0": 41.5},
    )


def provenance(name: str = "sbt-lite", flavour: str = "lite") -> Provenance:
    return Provenance(
        path=f"/cache/{name}/speed_benchmark_torch",
        sha256=sha(name),
        size_bytes=1_234_567,
        origin="built",
        target="android",
        abi="arm64-v8a",
        flavour=flavour,
        pytorch_version="1.13.1",
        build_flags=("-DBUILD_LITE_INTERPRETER=1",),
        build_env={"ANDROID_ABI": "arm64-v8a"},
    )


def variant_entry(variant: str = "fused+quantized", fmt: str = "lite") -> VariantFile:
    return VariantFile(
        name=f"{variant}.ptl",
        variant=variant,
        steps=tuple(variant.split("+")),
        format=ModelFormat(fmt),
        path=f"{variant}.ptl",
        sha256=sha(variant),
        size_bytes=4321,
        bytecode_version=8,
        ops=("aten::conv2d",),
        input_dims="1,3,224,224",
        input_types="float",
        memory_format="contiguous_format",
        check=CheckResult(
            passed=True,
            kind="int8",
            max_abs_err=0.01,
            cosine=0.999,
            tolerance=Tolerance(max_abs_err=0.05, cosine=0.99),
        ),
        torch_version="2.13.0",
        export="script",
    )


def launch(run_id: str, index: int = 0, **over: Any) -> LaunchRecord:
    """A launch as the executor would record it; ``over`` replaces any field."""
    variant = over.pop("variant", "fused+quantized")
    now = time.time()
    samples = over.pop("samples_us", tuple(1000.0 + 10 * i + index for i in range(20)))
    mean = sum(samples) / len(samples) if samples else None
    fields: dict[str, Any] = {
        "run_id": run_id,
        "launch_key": f"R58M123|{variant}|1,3,224,224|float|4|latency|{index}",
        "device_serial": "R58M123",
        "variant": variant,
        "variant_file": f"{variant}.ptl",
        "variant_format": "lite",
        "variant_sha256": sha(variant),
        "binary_sha256": sha("sbt-lite"),
        "dims": "1,3,224,224",
        "types": "float",
        "memory_format": "contiguous_format",
        "threads": 4,
        "core_mask": 0xF0,
        "kind": "latency",
        "launch_index": index,
        "iters": len(samples),
        "warmup": 2,
        "status": Status.OK,
        "error_kind": None,
        "message": None,
        "us_per_iter": mean,
        "iters_per_sec": 1e6 / mean if mean else None,
        "samples_us": samples,
        "wall_s": 0.25,
        "exit_code": 0,
        "health_before": Health(
            taken_at=now, battery_temp_c=31.0, cpu_cur_khz={7: 2_900_000}
        ).to_dict(),
        "health_after": Health(taken_at=now + 1, battery_temp_c=33.5).to_dict(),
        "started_at": now,
        "finished_at": now + 0.25,
        "argv": ("/data/local/tmp/benchorch/sbt", f"--model={variant}.ptl", "--iter=20"),
        "stdout": "Starting benchmark.\nMain run finished. Microseconds per iter: 1095.\n",
        "stderr": "",
    }
    fields.update(over)
    return LaunchRecord(**fields)


def failed_launch(run_id: str, index: int, kind: ErrorKind, **over: Any) -> LaunchRecord:
    return launch(
        run_id,
        index,
        status=Status.FAILED,
        error_kind=kind,
        message=f"{kind.value} happened",
        us_per_iter=None,
        iters_per_sec=None,
        samples_us=(),
        exit_code=134,
        **over,
    )
