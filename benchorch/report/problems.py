"""Failed launches and the plan's skips, as the report lists them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from benchorch.report import fmt
from benchorch.report.frames import first_value, prepared


@dataclass(frozen=True)
class FailureRow:
    device: str
    variant: str
    dims: str
    types: str
    threads: str
    kind: str
    error_kind: str
    count: int
    total: int
    message: str


@dataclass(frozen=True)
class SkipGroup:
    """Every configuration the plan left out for one reason (a lite binary
    skips each full-JIT file for the same reason: one row, not one per file)."""

    reason: str
    devices: tuple[str, ...]
    files: tuple[str, ...]  # the variant files (else variant names) it covers, in plan order
    count: int  # skipped configurations


def build_failures(launches: pd.DataFrame) -> tuple[FailureRow, ...]:
    if launches.empty:
        return ()
    df = prepared(launches)
    keys = ["device", "variant", "dims", "types", "threads", "kind"]
    out = []
    for k, grp in df.groupby(keys, sort=True, dropna=False):
        bad = grp[~grp["ok"]]
        if bad.empty:
            continue
        for ek, sub in bad.groupby(bad["error_kind"].astype(object).fillna("unknown")):
            msg = first_value(sub, "message")
            device, variant, dims, types, threads, kind = (fmt.cell(x) for x in k)
            out.append(
                FailureRow(
                    device,
                    variant,
                    dims,
                    types,
                    threads,
                    kind,
                    str(ek),
                    len(sub),
                    len(grp),
                    fmt.cell(msg),
                )
            )
    return tuple(out)


def build_skips(skips: pd.DataFrame | None) -> tuple[SkipGroup, ...]:
    """One group per reason (most configurations first), with the phones and
    the files it covers (a skip's ``config["file"]``, else its variant)."""
    if skips is None or skips.empty:
        return ()
    groups: dict[str, tuple[dict[str, None], dict[str, None], list[int]]] = {}
    for r in skips.to_dict("records"):
        cfg = r.get("config")
        file = fmt.cell(cfg.get("file")) if isinstance(cfg, Mapping) else ""
        devices, files, count = groups.setdefault(fmt.cell(r.get("reason")), ({}, {}, [0]))
        device = fmt.cell(r.get("device"))
        devices["every phone" if device == "*" else device] = None
        files[file or fmt.cell(r.get("variant"))] = None
        count[0] += 1
    out = [
        SkipGroup(reason, tuple(d for d in devices if d), tuple(f for f in files if f), n[0])
        for reason, (devices, files, n) in groups.items()
    ]
    out.sort(key=lambda g: -g.count)  # stable: equal counts keep the plan's order
    return tuple(out)
