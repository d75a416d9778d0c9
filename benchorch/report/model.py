"""The reports' view models, built from the store's DataFrames (pure).

Nothing here touches a file, a database or jinja2: ``build_run_report`` and
``build_trend_report`` take DataFrames with the store's columns
(docs/INTERNALS.md, "Store") and return frozen records that the templates only
print. Every number is computed by ``benchorch.stats``; this module chooses
what goes side by side:

* the recipe's story per phone: each latency configuration with its median,
  interval, p10/p90, launches, first iteration, model size, load time (the
  median of the matching ``kind == "load"`` launches: same phone, binary and
  variant file) and the variant check, plus the speed-up over the baseline of
  its group (same phone, binary, dims, types, threads, core mask: the variant
  named ``baseline`` when there is one, preferring a full-JIT file, else the
  first in recipe order);
* the heatmap: variant x phone (or variant x dims on one phone) of the
  geometric mean of the speed-ups of that cell's configurations.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from benchorch import stats
from benchorch.report import charts
from benchorch.stats import AACheck, Comparison, ComparisonRow, ConfigStats, Ratio

FORMAT_ORDER = {"full_jit": 0, "lite": 1, "flatbuffer": 2}
STEP_ORDER = {"fuse": 0, "fused": 0, "quantize": 1, "quantized": 1, "mobile": 2, "channels_last": 3}


def text(value: Any) -> str:
    """A cell's text: ``""`` for missing values, ints without ``.0``."""
    cell = stats.cell_text(value)
    return "" if cell == "-" else cell


def when(ts: Any) -> str:
    try:
        f = float(ts)
    except (TypeError, ValueError):
        return text(ts)
    if not math.isfinite(f):
        return ""
    return datetime.fromtimestamp(f, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def reproduce_command(run: Mapping[str, Any]) -> str:
    """The command that made a run: ``params["argv"]`` when the sweep kept it,
    else ``command`` when it is a whole command line, else ``benchorch
    COMMAND`` with one ``--flag value`` per parameter (lists repeat the flag,
    ``True`` is a bare flag, ``False``/``None`` are left out), shell-quoted."""
    params = run.get("params") or {}
    argv = params.get("argv") if isinstance(params, Mapping) else None
    if isinstance(argv, list | tuple) and argv:
        words = [str(a) for a in argv]
        if words[0] != "benchorch":
            words = ["benchorch", *words]
        return shlex.join(words)
    command = str(run.get("command") or "sweep")
    if " " in command.strip():
        return command.strip()
    words = ["benchorch", command]
    for key, value in params.items() if isinstance(params, Mapping) else []:
        flag = "--" + str(key).replace("_", "-")
        if value is None or value is False or isinstance(value, Mapping):
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, list | tuple):
            for v in value:
                words += [flag, str(v)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


# --- records ---------------------------------------------------------------------


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


@dataclass(frozen=True)
class PhoneHeadline:
    """A phone's one sentence: its fastest variant against the baseline, or none."""

    device: str
    serial: str
    best: StoryRow | None  # the largest speed-up over the baseline (None: nothing compared)
    n_configs: int


@dataclass(frozen=True)
class FailedVariant:
    """A variant whose launches failed, on which phones, and why."""

    variant: str
    error_kinds: tuple[str, ...]
    devices: tuple[str, ...]
    failed: int
    total: int


@dataclass(frozen=True)
class Headline:
    """The paragraph at the top of a run report."""

    phones: tuple[PhoneHeadline, ...]
    failed: tuple[FailedVariant, ...]
    n_skipped: int


@dataclass(frozen=True)
class CompareRowView:
    row: ComparisonRow
    spark: charts.Spark | None


@dataclass(frozen=True)
class CompareView:
    base: str
    cand: str
    q: float
    min_effect: float
    counts: tuple[tuple[str, int], ...]
    rows: tuple[CompareRowView, ...]  # slower first, then failed, inconclusive, ...
    aa_flagged: int | None = None  # split-half A/A check of the base run: raw p <= 0.05
    aa_tested: int = 0
    aa_alarm: bool = False
    aa_text: str = ""


@dataclass(frozen=True)
class RunReport:
    title: str
    run_id: str
    facts: tuple[tuple[str, str], ...]
    reproduce: str
    phones: tuple[tuple[tuple[str, str], ...], ...]
    binaries: tuple[tuple[tuple[str, str], ...], ...]
    torch_versions: tuple[str, ...]
    stories: tuple[PhoneStory, ...]
    heatmap: Heatmap | None
    failures: tuple[FailureRow, ...]
    skips: tuple[SkipGroup, ...]
    comparison: CompareView | None
    n_launches: int
    n_failed: int
    headline: Headline


# --- builders ---------------------------------------------------------------------------


def _recipe_order(variant: str, fmt: str) -> tuple[int, int, int, str]:
    """The recipe's order: full-JIT before lite before FlatBuffer; within a
    format baseline, fused, quantized (fused+quantized after both), mobile,
    channels-last; unknown steps last."""
    steps = [s for s in variant.replace("-", "_").split("+") if s and s != "baseline"]
    rank = max((STEP_ORDER.get(s, 9) for s in steps), default=-1)
    return (FORMAT_ORDER.get(fmt, 9), rank, len(steps), variant)


def _first(rows: pd.DataFrame, column: str) -> Any:
    if column not in rows.columns or rows.empty:
        return None
    vals = rows[column].dropna()
    return vals.iloc[0] if len(vals) else None


def _float(value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _prepared(launches: pd.DataFrame) -> pd.DataFrame:
    """``launches`` with configuration and series keys and launch values; a
    frame that already has them (``_prepared`` before) is returned as it is."""
    if {"config_key", "series_key", "value_us", "ok"} <= set(launches.columns):
        return launches
    return stats.launch_values(stats.with_series_key(stats.with_config_key(launches)))


#: Per-launch columns a story row never reads (left out of its first-row dicts).
BULKY = ("samples_us", "argv", "stdout", "stderr", "health_before", "health_after")


def build_stories(
    launches: pd.DataFrame,
    *,
    n_boot: int = stats.DEFAULT_BOOT,
    seed: int = 0,
    cache: stats.SummaryCache | None = None,
) -> tuple[PhoneStory, ...]:
    """Per phone, every latency configuration in recipe order (see module doc).
    ``cache`` shares summaries with a comparison of the same run."""
    if launches.empty:
        return ()
    df = _prepared(launches)
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
        group_cols = ["binary_sha256", "dims", "types", "threads", "core_mask"]
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
            base_key = _baseline(keys, firsts, summaries)
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
                        variant=text(r["variant"]),
                        variant_format=text(r.get("variant_format")),
                        dims=text(r["dims"]),
                        types=text(r["types"]),
                        memory_format=text(r["memory_format"]),
                        threads=text(r["threads"]),
                        core_mask=_mask(r.get("core_mask")),
                        flavour=text(r.get("binary_flavour")),
                        binary=text(r.get("binary_sha256"))[:12],
                        stats=st,
                        speedup=sp,
                        is_baseline=k == base_key,
                        size_bytes=_float(r.get("variant_size_bytes")),
                        load_us=float(
                            load_us.get((serial, r["binary_sha256"], r["variant_sha256"]), np.nan)
                        ),
                        check_passed=text(r.get("check_passed")),
                        check_max_abs_err=_float(r.get("check_max_abs_err")),
                        check_cosine=_float(r.get("check_cosine")),
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


def _mask(value: Any) -> str:
    cell = text(value)
    return hex(int(cell)) if cell.isdigit() else cell


def _baseline(
    keys: Sequence[str], firsts: Mapping[str, Any], summaries: Mapping[str, tuple[ConfigStats, Any]]
) -> str | None:
    ok = [k for k in keys if summaries[k][0].n_ok]
    named = [k for k in ok if str(firsts[k]["variant"]) == "baseline"]
    named.sort(key=lambda k: FORMAT_ORDER.get(str(firsts[k]["variant_format"]), 9))
    if named:
        return named[0]
    return ok[0] if ok else None


def build_heatmap(stories: Sequence[PhoneStory]) -> Heatmap | None:
    """Variant x phone (several phones) or variant x dims (one phone): the
    geometric mean of the speed-ups of the cell's configurations."""
    rows = [r for s in stories for r in s.rows if r.speedup is not None]
    if not rows:
        return None
    by_phone = len({r.device for r in rows}) > 1
    col_of = (lambda r: r.device) if by_phone else (lambda r: r.dims)
    columns = tuple(dict.fromkeys(col_of(r) for r in rows))
    variants = tuple(dict.fromkeys(f"{r.variant} ({r.variant_format})" for r in rows))
    cells: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        assert r.speedup is not None
        if r.speedup.value > 0:
            cells.setdefault((f"{r.variant} ({r.variant_format})", col_of(r)), []).append(
                r.speedup.value
            )
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


def build_failures(launches: pd.DataFrame) -> tuple[FailureRow, ...]:
    if launches.empty:
        return ()
    df = _prepared(launches)
    keys = ["device", "variant", "dims", "types", "threads", "kind"]
    out = []
    for k, grp in df.groupby(keys, sort=True, dropna=False):
        bad = grp[~grp["ok"]]
        if bad.empty:
            continue
        for ek, sub in bad.groupby(bad["error_kind"].astype(object).fillna("unknown")):
            msg = _first(sub, "message")
            device, variant, dims, types, threads, kind = (text(x) for x in k)
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
                    text(msg),
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
        file = text(cfg.get("file")) if isinstance(cfg, Mapping) else ""
        devices, files, count = groups.setdefault(text(r.get("reason")), ({}, {}, [0]))
        device = text(r.get("device"))
        devices["every phone" if device == "*" else device] = None
        files[file or text(r.get("variant"))] = None
        count[0] += 1
    out = [
        SkipGroup(reason, tuple(d for d in devices if d), tuple(f for f in files if f), n[0])
        for reason, (devices, files, n) in groups.items()
    ]
    out.sort(key=lambda g: -g.count)  # stable: equal counts keep the plan's order
    return tuple(out)


def build_headline(
    stories: Sequence[PhoneStory], failures: Sequence[FailureRow], n_skipped: int
) -> Headline:
    """Per phone the configuration with the largest speed-up over its baseline;
    the variants that failed (all phones together)."""
    phones = []
    for s in stories:
        candidates = [r for r in s.rows if r.speedup is not None and not r.is_baseline]
        best = max(
            candidates, key=lambda r: _nz(r.speedup.value if r.speedup else 0.0), default=None
        )
        phones.append(PhoneHeadline(s.device, s.serial, best, len(s.rows)))
    failed: dict[str, tuple[dict[str, None], dict[str, None], list[int]]] = {}
    for f in failures:
        kinds, devices, counts = failed.setdefault(f.variant, ({}, {}, [0, 0]))
        kinds[f.error_kind] = None
        devices[f.device] = None
        counts[0] += f.count
        counts[1] += f.total
    return Headline(
        tuple(phones),
        tuple(FailedVariant(v, tuple(k), tuple(d), n[0], n[1]) for v, (k, d, n) in failed.items()),
        n_skipped,
    )


VERDICT_ORDER = {
    "slower": 0,
    "failed": 1,
    "inconclusive": 2,
    "faster": 3,
    "not_comparable": 4,
    "same": 5,
    "bimodal": 2,
}


def build_compare_view(
    cmp: Comparison, history: pd.DataFrame | None = None, aa: AACheck | None = None
) -> CompareView:
    """Rows sorted slower first; each with a sparkline of its series' run
    medians (``history`` from ``stats.run_medians(..., key="series_key")``)."""
    series: dict[str, list[float]] = {}
    if history is not None and not history.empty:
        for key, grp in history.groupby("series_key", sort=False):
            series[str(key)] = grp.sort_values("order")["run_median_us"].tolist()
    views = []
    for row in sorted(
        cmp.rows, key=lambda r: (VERDICT_ORDER[r.verdict.value], -_nz(r.ratio), r.label)
    ):
        views.append(CompareRowView(row, charts.sparkline(series.get("|".join(row.pair), []))))
    aa_flagged = None if aa is None else aa.flagged
    return CompareView(
        cmp.base,
        cmp.cand,
        cmp.q,
        cmp.min_effect,
        tuple(cmp.counts.items()),
        tuple(views),
        aa_flagged,
        aa.tested if aa is not None else 0,
        aa.alarm if aa is not None else False,
        aa.describe() if aa is not None else "",
    )


def _nz(v: float) -> float:
    return v if math.isfinite(v) else 0.0


def _facts_rows(
    df: pd.DataFrame | None, columns: Sequence[str]
) -> tuple[tuple[tuple[str, str], ...], ...]:
    if df is None or df.empty:
        return ()
    out = []
    for _, r in df.iterrows():
        pairs = []
        for c in columns:
            if c in df.columns:
                v = r[c]
                v = ", ".join(map(str, v)) if isinstance(v, list | tuple) else text(v)
                if v:  # a fact never recorded is left out, not shown as a blank line
                    pairs.append((c, v))
        out.append(tuple(pairs))
    return tuple(out)


PHONE_COLUMNS = (
    "serial",
    "model",
    "manufacturer",
    "soc",
    "android_release",
    "sdk",
    "abis",
    "fingerprint",
)
BINARY_COLUMNS = (
    "sha256", "flavour", "origin", "target", "abi", "pytorch_version", "source_revision",
    "ndk_version", "build_host", "built_at", "build_flags", "bytecode_min", "bytecode_max",
)  # fmt: skip


def build_run_report(
    run: Mapping[str, Any],
    launches: pd.DataFrame,
    *,
    devices: pd.DataFrame | None = None,
    binaries: pd.DataFrame | None = None,
    variants: pd.DataFrame | None = None,
    skips: pd.DataFrame | None = None,
    comparison: Comparison | None = None,
    history: pd.DataFrame | None = None,
    aa: AACheck | None = None,
    n_boot: int = stats.DEFAULT_BOOT,
    cache: stats.SummaryCache | None = None,
) -> RunReport:
    run_id = str(run.get("run_id", ""))
    prepared = _prepared(launches) if not launches.empty else launches
    stories = build_stories(prepared, n_boot=n_boot, cache=cache)
    n_failed = int((launches["status"] != "ok").sum()) if not launches.empty else 0
    facts = (
        ("run", run_id),
        ("status", text(run.get("status"))),
        ("started", when(run.get("started_at"))),
        ("finished", when(run.get("finished_at"))),
        ("host", text(run.get("host"))),
        ("benchorch", text(run.get("benchorch_version"))),
        ("launches", f"{len(launches)} ({n_failed} failed)"),
    )
    torch_versions: set[str] = set()
    if binaries is not None and "pytorch_version" in binaries.columns:
        torch_versions |= {f"binary: {text(v)}" for v in binaries["pytorch_version"].dropna()}
    if variants is not None and "torch_version" in variants.columns:
        torch_versions |= {f"export: {text(v)}" for v in variants["torch_version"].dropna()}
    failures = build_failures(prepared)
    skip_groups = build_skips(skips)
    return RunReport(
        title=f"benchorch run {run_id}",
        run_id=run_id,
        facts=tuple((k, v) for k, v in facts if v),
        reproduce=reproduce_command(run),
        phones=_facts_rows(devices, PHONE_COLUMNS),
        binaries=_facts_rows(binaries, BINARY_COLUMNS),
        torch_versions=tuple(sorted(torch_versions)),
        stories=stories,
        heatmap=build_heatmap(stories),
        failures=failures,
        skips=skip_groups,
        comparison=build_compare_view(comparison, history, aa) if comparison is not None else None,
        n_launches=len(launches),
        n_failed=n_failed,
        headline=build_headline(stories, failures, sum(g.count for g in skip_groups)),
    )
