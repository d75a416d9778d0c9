"""The recipe's story per phone and the speed-up heatmap (pure).

Per phone, each latency configuration with its median, interval, p10/p90,
launches, first iteration, model size, load time (the median of the matching
``kind == "load"`` launches: same phone, binary and variant file) and the
variant check, plus the speed-up over the baseline of its group (same phone,
binary, dims, types, threads, core mask: the variant named ``baseline`` when
there is one, preferring a full-JIT file, else the first in recipe order).
The heatmap: variant x phone (or variant x dims on one phone) of the
geometric mean of the speed-ups of that cell's configurations.

Two runtimes on one phone (``.pte`` programs on an ExecuTorch runner beside
TorchScript files on speed_benchmark_torch): the group is the phone's dims,
types, threads and core mask across both binaries, and its baseline is the
lite ``baseline`` (what ships today), so every row's speed-up is over the lite
baseline; the fastest TorchScript row is marked ``lite best``, each row says
its runtime, ``.pte`` rows their delegation (share of nodes a delegate runs),
and the heatmap names the runtime of ExecuTorch rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchorch import stats
from benchorch.report import charts, fmt
from benchorch.report.frames import as_float, prepared
from benchorch.stats import ConfigStats, Ratio
from benchorch.variants.steps import step_rank

FORMAT_ORDER = {"full_jit": 0, "lite": 1, "flatbuffer": 2, "executorch": 3}
#: Beside ExecuTorch rows the baseline is the lite one: the runtime in use today.
LITE_FIRST = {"lite": 0, "flatbuffer": 1, "full_jit": 2}
EXECUTORCH = "executorch"


@dataclass(frozen=True)
class StoryRow:
    config_key: str
    device: str
    variant: str
    variant_format: str
    dims: str
    types: str
    memory_format: str
    threads: str
    core_mask: str
    flavour: str
    binary: str
    stats: ConfigStats
    speedup: Ratio | None
    is_baseline: bool
    size_bytes: float
    load_us: float
    check_passed: str
    check_max_abs_err: float
    check_cosine: float
    runtime: str = ""  # "ExecuTorch" or "TorchScript"
    delegation: str = ""  # a .pte's delegation coverage, e.g. "XNNPACK 100% (15 nodes)"
    is_lite_best: bool = False  # the fastest TorchScript row beside ExecuTorch rows


@dataclass(frozen=True)
class PhoneStory:
    device: str
    serial: str
    rows: tuple[StoryRow, ...]
    strip: charts.Strip | None


@dataclass(frozen=True)
class HeatCell:
    value: float
    colour: str


@dataclass(frozen=True)
class Heatmap:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[HeatCell, ...]], ...]


def _recipe_order(variant: str, fmt: str) -> tuple[int, int, int, str]:
    """The recipe's order: full-JIT before lite before FlatBuffer; within a
    format baseline, fused, quantized (fused+quantized after both), mobile,
    channels-last; unknown steps last."""
    steps = [s for s in variant.replace("-", "_").split("+") if s and s != "baseline"]
    ranks = (step_rank(s) for s in steps)
    rank = max((9 if r is None else r for r in ranks), default=-1)
    return (FORMAT_ORDER.get(fmt, 9), rank, len(steps), variant)


#: Per-launch columns a story row never reads (left out of its first-row dicts).
BULKY = ("samples_us", "argv", "stdout", "stderr", "health_before", "health_after")


def delegation_text(entry: Any) -> str:
    """A manifest entry's delegation, in a few words ("" when it has none)."""
    if not isinstance(entry, Mapping):
        return ""
    delegated, cpu = int(entry.get("delegated_nodes") or 0), int(entry.get("cpu_nodes") or 0)
    backend = str(entry.get("backend") or "").removesuffix("Backend") or None
    if backend is None or delegated + cpu == 0:
        return f"portable ({cpu} nodes on CPU kernels)"
    share = 100.0 * delegated / (delegated + cpu)
    left = f", {cpu} on CPU" if cpu else ""
    return f"{backend.upper()} {share:.0f}% ({delegated} nodes{left})"


def delegations(variants: pd.DataFrame | None) -> dict[str, str]:
    """variant sha256 -> its delegation text, from the run's variant entries."""
    if variants is None or variants.empty or "delegation" not in variants.columns:
        return {}
    out = {}
    for sha, entry in zip(variants["sha256"], variants["delegation"], strict=True):
        text = delegation_text(entry)
        if text:
            out[str(sha)] = text
    return out


def build_stories(
    launches: pd.DataFrame,
    *,
    n_boot: int = stats.DEFAULT_BOOT,
    seed: int = 0,
    cache: stats.SummaryCache | None = None,
    variants: pd.DataFrame | None = None,
) -> tuple[PhoneStory, ...]:
    """Per phone, every latency configuration in recipe order (see module doc).
    ``cache`` shares summaries with a comparison of the same run; ``variants``
    (the run's variant entries) gives the ``.pte`` rows their delegation."""
    delegated = delegations(variants)
    if launches.empty:
        return ()
    df = prepared(launches)
    summaries = stats.summarize_groups(df, n_boot=n_boot, seed=seed, cache=cache)
    load = df[(df["kind"] == "load") & df["ok"]]
    load_us = (
        load.groupby(["device_serial", "binary_sha256", "variant_sha256"])["value_us"]
        .median()
        .to_dict()
    )
    stories = []
    for (device, serial), dev_rows in df.groupby(["device", "device_serial"], sort=True):
        lat = dev_rows[dev_rows["kind"] != "load"]
        two_runtimes = bool((lat["variant_format"] == EXECUTORCH).any())
        group_cols = ["dims", "types", "threads", "core_mask"]
        if not two_runtimes:
            group_cols = ["binary_sha256", *group_cols]
        rows: list[StoryRow] = []
        for _, grp in lat.groupby(group_cols, dropna=False, sort=False):
            # each configuration's first row, as a dict (one pandas call, not one per key)
            first_rows = grp.drop_duplicates("config_key")
            first_rows = first_rows.drop(columns=[c for c in BULKY if c in first_rows.columns])
            firsts = {str(r["config_key"]): r for r in first_rows.to_dict("records")}
            keys = list(firsts)
            keys.sort(
                key=lambda k: _recipe_order(
                    str(firsts[k]["variant"]), str(firsts[k]["variant_format"])
                )
            )
            base_key = _baseline(keys, firsts, summaries, lite_first=two_runtimes)
            best = _lite_best(keys, firsts, summaries) if two_runtimes else None
            for k in keys:
                r = firsts[k]
                st, reps = summaries[k]
                sp = None
                if base_key is not None and summaries[base_key][0].n_ok and st.n_ok:
                    sp = stats.speedup(*summaries[base_key], st, reps)
                rows.append(
                    StoryRow(
                        config_key=k,
                        device=str(device),
                        variant=fmt.cell(r["variant"]),
                        variant_format=fmt.cell(r.get("variant_format")),
                        dims=fmt.cell(r["dims"]),
                        types=fmt.cell(r["types"]),
                        memory_format=fmt.cell(r["memory_format"]),
                        threads=fmt.cell(r["threads"]),
                        core_mask=fmt.core_mask(r.get("core_mask")),
                        flavour=fmt.cell(r.get("binary_flavour")),
                        binary=fmt.cell(r.get("binary_sha256"))[:12],
                        stats=st,
                        speedup=sp,
                        is_baseline=k == base_key,
                        size_bytes=as_float(r.get("variant_size_bytes")),
                        load_us=float(
                            load_us.get((serial, r["binary_sha256"], r["variant_sha256"]), np.nan)
                        ),
                        check_passed=fmt.cell(r.get("check_passed")),
                        check_max_abs_err=as_float(r.get("check_max_abs_err")),
                        check_cosine=as_float(r.get("check_cosine")),
                        runtime="ExecuTorch"
                        if str(r.get("variant_format")) == EXECUTORCH
                        else "TorchScript",
                        delegation=delegated.get(str(r["variant_sha256"]), ""),
                        is_lite_best=k == best,
                    )
                )
        strip = charts.strip(
            [
                (
                    f"{row.variant} · {row.variant_format} · {row.dims} · {row.threads}t",
                    row.stats.launch_medians_us,
                )
                for row in rows
            ]
        )
        stories.append(PhoneStory(str(device), str(serial), tuple(rows), strip))
    return tuple(stories)


def _baseline(
    keys: Sequence[str],
    firsts: Mapping[str, Any],
    summaries: Mapping[str, tuple[ConfigStats, Any]],
    *,
    lite_first: bool = False,
) -> str | None:
    ok = [k for k in keys if summaries[k][0].n_ok]
    order = LITE_FIRST if lite_first else FORMAT_ORDER
    named = [k for k in ok if str(firsts[k]["variant"]) == "baseline"]
    named = [k for k in named if str(firsts[k]["variant_format"]) != EXECUTORCH]
    named.sort(key=lambda k: order.get(str(firsts[k]["variant_format"]), 9))
    if named:
        return named[0]
    return ok[0] if ok else None


def _lite_best(
    keys: Sequence[str], firsts: Mapping[str, Any], summaries: Mapping[str, tuple[ConfigStats, Any]]
) -> str | None:
    """The fastest TorchScript configuration (by median) of a group that also has ExecuTorch."""
    torchscript = [
        k for k in keys if summaries[k][0].n_ok and str(firsts[k]["variant_format"]) != EXECUTORCH
    ]
    return min(torchscript, key=lambda k: summaries[k][0].median_us, default=None)


def _heat_label(r: StoryRow) -> str:
    if r.runtime == "ExecuTorch":
        return f"{r.variant} (ExecuTorch .pte)"
    return f"{r.variant} ({r.variant_format})"


def build_heatmap(stories: Sequence[PhoneStory]) -> Heatmap | None:
    """Variant x phone (several phones) or variant x dims (one phone): the
    geometric mean of the speed-ups of the cell's configurations."""
    rows = [r for s in stories for r in s.rows if r.speedup is not None]
    if not rows:
        return None
    by_phone = len({r.device for r in rows}) > 1
    col_of = (lambda r: r.device) if by_phone else (lambda r: r.dims)
    columns = tuple(dict.fromkeys(col_of(r) for r in rows))
    variants = tuple(dict.fromkeys(_heat_label(r) for r in rows))
    cells: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        assert r.speedup is not None
        if r.speedup.value > 0:
            cells.setdefault((_heat_label(r), col_of(r)), []).append(r.speedup.value)
    out = []
    for v in variants:
        line = []
        for c in columns:
            vals = cells.get((v, c))
            g = float(np.exp(np.mean(np.log(vals)))) if vals else float("nan")
            line.append(HeatCell(g, charts.heat_colour(g)))
        out.append((v, tuple(line)))
    title = "Speed-up over the baseline: variant × " + ("phone" if by_phone else "input dims")
    return Heatmap(title, columns, tuple(out))
