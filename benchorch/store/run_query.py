"""The per-run queries: run summaries (counts, devices) and a run's skips,
devices, binaries and variants, as pandas DataFrames (imported lazily)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from benchorch.domain import DeviceInfo
from benchorch.store.tables import (
    binaries,
    devices,
    launches,
    run_binaries,
    run_variants,
    skips,
    variant_files,
)

if TYPE_CHECKING:
    import pandas as pd

Reader = Callable[[sa.Select[Any]], list[dict[str, Any]]]

RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "started_at",
    "finished_at",
    "status",
    "command",
    "params",
    "host",
    "benchorch_version",
    "devices",
    "launches",
    "failures",
)


def run_summaries(read: Reader, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add devices (serials), launch and failure counts to ``runs`` rows."""
    if not rows:
        return []
    one = len(rows) == 1
    rid0 = rows[0]["run_id"]
    failed = sa.func.sum(sa.case((launches.c.status != "ok", 1), else_=0))
    count_q = sa.select(
        launches.c.run_id, sa.func.count().label("n"), failed.label("failed")
    ).group_by(launches.c.run_id)
    dev_q = sa.select(devices.c.run_id, devices.c.serial)
    used_q = sa.select(launches.c.run_id, launches.c.device_serial.label("serial")).distinct()
    if one:
        count_q = count_q.where(launches.c.run_id == rid0)
        dev_q = dev_q.where(devices.c.run_id == rid0)
        used_q = used_q.where(launches.c.run_id == rid0)
    counts = {r["run_id"]: r for r in read(count_q)}
    serials: dict[str, set[str]] = {}
    for r in read(sa.select(sa.union(dev_q, used_q).subquery())):
        serials.setdefault(r["run_id"], set()).add(r["serial"])
    out = []
    for row in rows:
        rid = row["run_id"]
        count = counts.get(rid, {})
        out.append(
            {
                **{k: row[k] for k in RUN_COLUMNS if k in row},
                "params": json.loads(row["params"]),
                "devices": sorted(serials.get(rid, ())),
                "launches": int(count.get("n") or 0),
                "failures": int(count.get("failed") or 0),
            }
        )
    return out


def skips_frame(read: Reader, run_id: str) -> pd.DataFrame:
    import pandas as pd

    rows = read(sa.select(skips).where(skips.c.run_id == run_id).order_by(skips.c.id))
    for r in rows:
        r["config"] = json.loads(r["config"])
    columns = ["id", "run_id", "device", "variant", "config", "reason", "recorded_at"]
    return pd.DataFrame(rows, columns=columns)


def devices_frame(read: Reader, run_id: str) -> pd.DataFrame:
    """One row per device: ``run_id``, ``recorded_at`` and every ``DeviceInfo`` field."""
    import pandas as pd

    rows = read(
        sa.select(devices.c.run_id, devices.c.facts, devices.c.recorded_at)
        .where(devices.c.run_id == run_id)
        .order_by(devices.c.id)
    )
    columns = ["run_id", *(f.name for f in dataclasses.fields(DeviceInfo)), "recorded_at"]
    records = [
        {**json.loads(r["facts"]), "run_id": r["run_id"], "recorded_at": r["recorded_at"]}
        for r in rows
    ]
    return pd.DataFrame(records, columns=columns)


def binaries_frame(read: Reader, run_id: str) -> pd.DataFrame:
    """One row per binary the run used: every provenance key, ``sha256`` first."""
    import pandas as pd

    rows = read(
        sa.select(binaries.c.sha256, binaries.c.provenance, binaries.c.first_seen)
        .select_from(run_binaries.join(binaries, binaries.c.sha256 == run_binaries.c.sha256))
        .where(run_binaries.c.run_id == run_id)
        .order_by(binaries.c.sha256)
    )
    records = [{**json.loads(r["provenance"]), "first_seen": r["first_seen"]} for r in rows]
    base = ["sha256", "flavour", "target", "abi", "pytorch_version", "origin", "size_bytes"]
    extra = sorted({k for rec in records for k in rec} - set(base))
    return pd.DataFrame(records, columns=base + extra)


_VARIANT_BASE = [
    "variant",
    "sha256",
    "format",
    "size_bytes",
    "bytecode_version",
    "steps",
    "check_passed",
    "check_max_abs_err",
    "check_cosine",
]


def variants_frame(read: Reader, run_id: str) -> pd.DataFrame:
    """One row per variant the run recorded: the manifest entry's keys, plus check columns."""
    import pandas as pd

    rv, vf = run_variants, variant_files
    rows = read(
        sa.select(rv, vf.c.format, vf.c.size_bytes, vf.c.bytecode_version)
        .select_from(rv.join(vf, vf.c.sha256 == rv.c.sha256))
        .where(rv.c.run_id == run_id)
        .order_by(rv.c.id)
    )
    records = []
    for r in rows:
        entry = json.loads(r["entry"])
        records.append(
            {
                **entry,
                "variant": r["variant"],
                "sha256": r["sha256"],
                "format": r["format"],
                "size_bytes": r["size_bytes"],
                "bytecode_version": r["bytecode_version"],
                "steps": json.loads(r["steps"]) if r["steps"] else [],
                "check_passed": None if r["check_passed"] is None else bool(r["check_passed"]),
                "check_max_abs_err": r["check_max_abs_err"],
                "check_cosine": r["check_cosine"],
            }
        )
    extra = [k for k in dict.fromkeys(k for rec in records for k in rec) if k not in _VARIANT_BASE]
    return pd.DataFrame(records, columns=_VARIANT_BASE + extra)
