"""Write synthetic launches (``builder.launches``) into a real SQLite ``Store``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchorch.build.provenance import Provenance
from benchorch.domain import DeviceInfo, ModelFormat
from benchorch.store import LaunchRecord, Store
from benchorch.store.records import LAUNCH_FIELDS
from benchorch.variants.manifest import CheckResult, Tolerance, VariantFile


def fill(store: Store, df: pd.DataFrame, *, params: dict[str, Any] | None = None) -> str:
    """One run holding ``df``'s launches (its ``run_id``), with its devices,
    binaries and variants recorded as the sweep would. Returns the run id."""
    run_id = str(df["run_id"].iloc[0])
    store.create_run("sweep", params or {"device": sorted(set(df["device_serial"]))}, run_id=run_id)
    for (serial, model, fp, soc), _ in df.groupby(
        ["device_serial", "device_model", "device_fingerprint", "device_soc"]
    ):
        store.record_device(
            run_id, DeviceInfo(serial=serial, state="device", model=model, fingerprint=fp, soc=soc)
        )
    for (sha, flavour), _ in df.groupby(["binary_sha256", "binary_flavour"]):
        store.record_binary(
            run_id,
            Provenance(
                path="/tmp/speed_benchmark_torch",
                sha256=sha,
                size_bytes=None,
                origin="built",
                target="android",
                abi="arm64-v8a",
                flavour=flavour,
                pytorch_version="1.13.1",
            ),
        )
    for _, r in df.drop_duplicates("variant_sha256").iterrows():
        store.record_variant(run_id, _variant_file(r))
    fields = set(LAUNCH_FIELDS)
    for rec in df.to_dict("records"):
        kw = {k: v for k, v in rec.items() if k in fields}
        kw["samples_us"] = tuple(kw["samples_us"])
        kw["argv"] = tuple(kw["argv"])
        store.record_launch(LaunchRecord(**kw))
    store.finish_run(run_id, "ok")
    return run_id


def _variant_file(r: pd.Series) -> VariantFile:
    """The manifest entry of a synthetic launch row's variant file."""
    return VariantFile(
        name=r["variant_file"],
        variant=r["variant"],
        steps=tuple(r["variant_steps"]),
        format=ModelFormat(r["variant_format"]),
        path=r["variant_file"],
        sha256=r["variant_sha256"],
        size_bytes=int(r["variant_size_bytes"]),
        bytecode_version=None,
        ops=(),
        input_dims=r["dims"],
        input_types=r["types"],
        memory_format=r["memory_format"],
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
