"""Pure statistics: launch summaries, speed-ups, run comparisons, history.

No I/O: numpy, scipy and pandas only. The method is ``STATISTICS.md``:

* A **launch** is one process of the benchmark. Its value is the median of its
  per-iteration latencies (``samples_us``); a launch without samples falls back
  to the binary's own ``us_per_iter``; a load launch (``kind == "load"``) is its
  on-device wall time ``load_s`` in microseconds. Iterations inside a launch are
  not independent (frequency, thermal state and background work move a whole
  launch), launches are.
* A **configuration** is ``config_key``: device model + build fingerprint,
  binary sha256 + flavour, variant sha256, dims, types, memory format, threads,
  core mask and kind.
* Per configuration: ``m = median_i(median_j x_ij)`` over ok launches ``i`` and
  their iterations ``j``; a 95% percentile interval from a two-level bootstrap
  (draw ``L`` launches with replacement, then within each drawn launch its
  ``n_i`` iterations with replacement, take the median of the launch medians;
  ``B`` replicates, seeded from the configuration key so a result never depends
  on the order of the rows); p10/p90 of all iterations pooled; the coefficient
  of variation between launches ``sd(launch medians) / mean(launch medians)``;
  the first iteration of each launch apart from the steady state (iterations
  2..n).
* Speed-up of a variant over a baseline: ``m_base / m_variant`` with the
  interval of the ratio of independent bootstrap replicates.
* Comparison of two runs: see ``compare_frames``. History: ``change_points``
  and ``creep``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

#: The identity of a configuration for statistics (INTERNALS.md, "Store").
CONFIG_FIELDS: tuple[str, ...] = (
    "device_model",
    "device_fingerprint",
    "binary_sha256",
    "binary_flavour",
    "variant_sha256",
    "dims",
    "types",
    "memory_format",
    "threads",
    "core_mask",
    "kind",
)
#: Fields that must be equal for two runs' configurations to be compared.
COMPARABLE_FIELDS: tuple[str, ...] = (
    "device_model",
    "device_fingerprint",
    "binary_sha256",
    "binary_flavour",
    "variant_sha256",
    "core_mask",
)
#: What pairs a configuration of one run with one of another (``device`` is a label).
PAIR_FIELDS: tuple[str, ...] = (
    "device",
    "variant",
    "variant_format",
    "dims",
    "types",
    "memory_format",
    "threads",
    "kind",
)

DEFAULT_Q = 0.05
DEFAULT_MIN_EFFECT = 0.02
DEFAULT_BOOT = 1000
MIN_LAUNCHES_FOR_TEST = 2


def _cell(value: Any) -> str:
    """A stable text form of one key field: ``-`` for missing, ``4`` not ``4.0``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "-"
    if isinstance(value, float):
        if np.isnan(value):
            return "-"
        if value.is_integer():
            return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return _cell(float(value))
    return str(value)


def config_key(row: Mapping[str, Any]) -> str:
    """The configuration identity of one launch row, as one ``|``-joined string."""
    return "|".join(_cell(row.get(f)) for f in CONFIG_FIELDS)


def _keyed(df: pd.DataFrame, fields: Sequence[str], name: str) -> pd.DataFrame:
    out = df.copy()
    for f in fields:
        if f not in out.columns:
            out[f] = None
    if out.empty:
        out[name] = pd.Series(dtype=object)
        return out
    codes = out.groupby(list(fields), dropna=False, sort=False).ngroup().to_numpy()
    firsts = pd.Series(np.arange(len(out))).groupby(codes).first().to_numpy()
    labels = ["|".join(_cell(out[f].iloc[i]) for f in fields) for i in firsts]
    lookup = np.asarray(labels, dtype=object)
    out[name] = lookup[codes]
    return out


def with_config_key(launches: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``launches`` with a ``config_key`` column (vectorised by groups)."""
    return _keyed(launches, CONFIG_FIELDS, "config_key")


def launch_values(launches: pd.DataFrame) -> pd.DataFrame:
    """Add the per-launch numbers: ``value_us`` (launch median), ``first_us``,
    ``steady_us`` (median of iterations 2..n), ``n_iter`` and ``ok``.

    Launches are grouped by their number of samples and each group's medians are
    taken on one 2-D array, so 100,000 launches cost a few numpy calls.
    """
    df = launches.copy()
    n = len(df)
    value = np.full(n, np.nan)
    first = np.full(n, np.nan)
    steady = np.full(n, np.nan)
    samples = df["samples_us"].tolist() if "samples_us" in df.columns else [None] * n
    lens = np.fromiter(
        (len(s) if isinstance(s, list | tuple | np.ndarray) else 0 for s in samples), int, count=n
    )
    for length in np.unique(lens[lens > 0]):
        idx = np.flatnonzero(lens == length)
        mat = np.asarray([samples[i] for i in idx], dtype=float)
        value[idx] = np.median(mat, axis=1)
        if length > 1:
            first[idx] = mat[:, 0]
            steady[idx] = np.median(mat[:, 1:], axis=1)
    if "us_per_iter" in df.columns:
        fallback = pd.to_numeric(df["us_per_iter"], errors="coerce").to_numpy(dtype=float)
        value = np.where(lens == 0, fallback, value)
    kind = df["kind"].astype(object).to_numpy() if "kind" in df.columns else np.full(n, "latency")
    if "load_s" in df.columns:
        load = pd.to_numeric(df["load_s"], errors="coerce").to_numpy(dtype=float) * 1e6
        value = np.where(kind == "load", load, value)
    status = df["status"].astype(object).to_numpy() if "status" in df.columns else np.full(n, "ok")
    df["value_us"] = value
    df["first_us"] = first
    df["steady_us"] = steady
    df["n_iter"] = np.where(kind == "load", 0, lens)
    df["ok"] = (status == "ok") & np.isfinite(value)
    return df


# --- bootstrap -------------------------------------------------------------------


def _seed(key: str, seed: int) -> int:
    return (zlib.crc32(key.encode()) ^ seed) & 0xFFFFFFFF


def _padded(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.asarray([max(len(g), 1) for g in groups])
    mat = np.full((len(groups), int(lens.max())), np.nan)
    for i, g in enumerate(groups):
        mat[i, : len(g)] = g if len(g) else np.nan
    return mat, lens


def bootstrap_replicates(
    groups: Sequence[np.ndarray], *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> np.ndarray:
    """``n_boot`` two-level bootstrap replicates of the median of launch medians.

    ``groups[i]`` holds launch ``i``'s iterations. Each replicate draws launches
    ``I_1..I_L`` uniformly with replacement, then for each ``I_k`` draws
    ``n_{I_k}`` of its iterations with replacement, takes each drawn launch's
    median and the median of those. Vectorised over replicates in chunks of
    about four million cells.
    """
    if not groups:
        return np.full(n_boot, np.nan)
    rng = np.random.default_rng(seed)
    mat, lens = _padded([np.asarray(g, dtype=float) for g in groups])
    n_launch, width = mat.shape
    equal = bool((lens == width).all())
    chunk = max(1, 4_000_000 // (n_launch * width))
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        pick = rng.integers(0, n_launch, size=(b, n_launch))
        if width == 1:
            meds = mat[pick, 0]
        else:
            n_pick = lens[pick][..., None]
            it = (rng.random((b, n_launch, width)) * n_pick).astype(np.int64)
            vals = mat[pick[..., None], it]
            if equal:
                meds = np.median(vals, axis=2)
            else:
                vals = np.where(np.arange(width) < n_pick, vals, np.nan)
                meds = np.nanmedian(vals, axis=2)
        out[start : start + b] = np.median(meds, axis=1)
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return (float(lo), float(hi))


# --- per configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class ConfigStats:
    """One configuration's summary. Latencies in microseconds."""

    key: str
    n_launches: int
    n_ok: int
    n_failed: int
    n_hot: int
    n_iterations: int
    median_us: float
    ci_low_us: float
    ci_high_us: float
    p10_us: float
    p90_us: float
    cv_launches: float
    first_iter_us: float
    steady_us: float
    launch_medians_us: tuple[float, ...]


def _groups(ok: pd.DataFrame) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for samples, value, kind in zip(ok["samples_us"], ok["value_us"], ok["kind"], strict=True):
        has = isinstance(samples, list | tuple | np.ndarray) and len(samples) > 0
        out.append(
            np.asarray(samples, dtype=float) if has and kind != "load" else np.array([value])
        )
    return out


def summarize_config(
    key: str, rows: pd.DataFrame, *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> tuple[ConfigStats, np.ndarray]:
    """Summarise one configuration's launch rows (from ``launch_values``).

    Returns the summary and its bootstrap replicates (for ratios).
    """
    order = [c for c in ("started_at", "launch_key") if c in rows.columns]
    ok = rows[rows["ok"]].sort_values(order, kind="stable") if order else rows[rows["ok"]]
    groups = _groups(ok) if len(ok) else []
    reps = bootstrap_replicates(groups, n_boot=n_boot, seed=_seed(key, seed))
    lo, hi = percentile_interval(reps)
    meds = ok["value_us"].to_numpy(dtype=float)
    pooled = np.concatenate(groups) if groups else np.array([])
    mean = float(meds.mean()) if meds.size else float("nan")
    cv = float(meds.std(ddof=1) / mean) if meds.size > 1 and mean > 0 else float("nan")
    hot = rows["hot"].fillna(False).astype(bool).sum() if "hot" in rows.columns else 0
    p10, p90 = np.percentile(pooled, [10, 90]) if pooled.size else (np.nan, np.nan)
    firsts = ok["first_us"].to_numpy(dtype=float)
    steadies = ok["steady_us"].to_numpy(dtype=float)
    stats = ConfigStats(
        key=key,
        n_launches=len(rows),
        n_ok=len(ok),
        n_failed=len(rows) - len(ok),
        n_hot=int(hot),
        n_iterations=int(ok["n_iter"].sum()) if len(ok) else 0,
        median_us=float(np.median(meds)) if meds.size else float("nan"),
        ci_low_us=lo,
        ci_high_us=hi,
        p10_us=float(p10),
        p90_us=float(p90),
        cv_launches=cv,
        first_iter_us=_nanmedian(firsts),
        steady_us=_nanmedian(steadies),
        launch_medians_us=tuple(float(m) for m in meds),
    )
    return stats, reps


def _nanmedian(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def summarize(
    launches: pd.DataFrame, *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> dict[str, tuple[ConfigStats, np.ndarray]]:
    """Every configuration of ``launches`` (raw store rows) → (summary, replicates)."""
    df = launch_values(with_config_key(launches))
    return {
        str(key): summarize_config(str(key), rows, n_boot=n_boot, seed=seed)
        for key, rows in df.groupby("config_key", sort=True)
    }


@dataclass(frozen=True)
class Ratio:
    """A ratio of medians with its bootstrap 95% interval."""

    value: float
    ci_low: float
    ci_high: float


def ratio_of(
    num: ConfigStats, num_reps: np.ndarray, den: ConfigStats, den_reps: np.ndarray
) -> Ratio:
    """``num.median / den.median``; interval = percentiles of replicate ratios
    (the two bootstraps are independent: different launches)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = num_reps / den_reps
        value = num.median_us / den.median_us if den.median_us else float("nan")
    lo, hi = percentile_interval(reps)
    return Ratio(float(value), lo, hi)


def speedup(
    base: ConfigStats, base_reps: np.ndarray, variant: ConfigStats, variant_reps: np.ndarray
) -> Ratio:
    """Speed-up of ``variant`` over ``base``: ``m_base / m_variant`` (>1 = faster)."""
    return ratio_of(base, base_reps, variant, variant_reps)


# --- multiple testing ------------------------------------------------------------------


def bh_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN, not counted in m).

    With the ``m`` finite p sorted ``p_(1) <= ... <= p_(m)``:
    ``q_(i) = min_{k >= i} min(1, m p_(k) / k)``. Rejecting ``q_i <= alpha``
    controls the false discovery rate at ``alpha`` (independent or PRDS tests).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    mask = np.isfinite(p)
    m = int(mask.sum())
    if m == 0:
        return out
    finite = p[mask]
    order = np.argsort(finite)
    scaled = finite[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    result = np.empty(m)
    result[order] = adjusted
    out[mask] = result
    return out


def mann_whitney(base: np.ndarray, cand: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value on log launch medians (NaN if too few)."""
    if len(base) < MIN_LAUNCHES_FOR_TEST or len(cand) < MIN_LAUNCHES_FOR_TEST:
        return float("nan")
    a, b = np.log(base), np.log(cand)
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)


# --- history ---------------------------------------------------------------------------


def with_series_key(launches: pd.DataFrame) -> pd.DataFrame:
    """Add ``device`` (a label, see ``compare_frames``) and ``series_key``: the
    ``PAIR_FIELDS`` identity, which stays the same when a nightly build changes
    the binary or the variant file (a trend follows it across such changes)."""
    labels = _device_labels([launches])
    df = launches.copy()
    df["device"] = [
        labels[(m, s)] for m, s in zip(df["device_model"], df["device_serial"], strict=True)
    ]
    return _keyed(df, PAIR_FIELDS, "series_key")


def run_medians(
    launches: pd.DataFrame, *, run_order: Sequence[str] | None = None, key: str = "config_key"
) -> pd.DataFrame:
    """One row per (``key``, run): ``run_median_us`` (median of launch medians),
    ``n_ok``, ``t`` (first launch start), ``config_key`` (the run's first) and
    ``order`` (0, 1, ... per key, by ``run_order`` when given, else by ``t``).
    ``key`` is ``config_key`` (exact configuration) or ``series_key``."""
    df = with_config_key(launches)
    if key == "series_key":
        df = with_series_key(df)
    df = launch_values(df)
    df = df[df["ok"]]
    cols = [key, "run_id", "run_median_us", "n_ok", "t", "config_key", "order"]
    if df.empty:
        return pd.DataFrame(columns=list(dict.fromkeys(cols)))
    t = df["started_at"] if "started_at" in df.columns else pd.Series(0.0, index=df.index)
    df = df.assign(t=pd.to_numeric(t, errors="coerce"))
    out = (
        df.groupby([key, "run_id"], sort=False)
        .agg(
            run_median_us=("value_us", "median"),
            n_ok=("value_us", "size"),
            t=("t", "min"),
            **({} if key == "config_key" else {"config_key": ("config_key", "first")}),
        )
        .reset_index()
    )
    if key == "config_key":
        out["config_key"] = out[key]
    if run_order is not None:
        rank = {r: i for i, r in enumerate(run_order)}
        out["rank"] = out["run_id"].map(rank)
        out = out.sort_values([key, "rank", "t"]).drop(columns="rank")
    else:
        out = out.sort_values([key, "t", "run_id"])
    out["order"] = out.groupby(key).cumcount()
    return out.reset_index(drop=True)


def robust_sigma(values: np.ndarray) -> float:
    """Noise of a series robust to steps and creep: ``1.4826 MAD(diff(x)) / sqrt(2)``.

    For i.i.d. normal ``x`` with sd ``s``, ``diff(x)`` has sd ``s sqrt 2`` and
    ``1.4826 MAD`` estimates an sd; a few steps move few differences, so they
    barely move the median.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 3:
        return float("nan")
    d = np.diff(x)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def noise_floor(history_us: Sequence[float] | np.ndarray, *, min_runs: int = 4) -> float:
    """A configuration's noise floor from its run medians: ``exp(2 sigma) - 1``
    with ``sigma = robust_sigma(log medians)`` (two run-to-run standard
    deviations, as a fraction). 0 with fewer than ``min_runs`` runs."""
    x = np.asarray(history_us, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if x.size < min_runs:
        return 0.0
    sigma = robust_sigma(np.log(x))
    return float(np.expm1(2.0 * sigma)) if np.isfinite(sigma) else 0.0


def change_points(
    values_us: Sequence[float] | np.ndarray,
    *,
    threshold: float = 4.0,
    min_size: int = 2,
    min_shift: float = 0.02,
) -> list[int]:
    """Indices where a new level starts, by binary segmentation on log values.

    With ``y = log x`` and ``sigma = robust_sigma(y)`` (floored at 0.2% so a
    noiseless series does not split on rounding), a segment ``y[a:b]`` of
    length ``n`` is split at the ``k`` maximising the standardised CUSUM
    ``T_k = |S_k - (k/n) S_n| / (sigma sqrt(k (n-k) / n))`` (``S_k`` the sum
    of its first ``k`` values; under "no change" ``T_k`` is a standard normal
    for each ``k``), when ``T_k > threshold`` and the two sides' means differ by
    more than ``log(1 + min_shift)``; each side is then searched again. A slow
    creep becomes a step once its accumulated shift is large enough.
    """
    y = np.log(np.asarray(values_us, dtype=float))
    if y.size < 2 * min_size or not np.isfinite(y).all():
        return []
    sigma = max(robust_sigma(y), 0.002)
    found: list[int] = []
    stack = [(0, y.size)]
    while stack:
        a, b = stack.pop()
        seg = y[a:b]
        n = seg.size
        if n < 2 * min_size:
            continue
        k = np.arange(min_size, n - min_size + 1)
        s = np.cumsum(seg)
        t = np.abs(s[k - 1] - k / n * s[-1]) / (sigma * np.sqrt(k * (n - k) / n))
        best = int(np.argmax(t))
        split = int(k[best])
        shift = abs(seg[:split].mean() - seg[split:].mean())
        if t[best] > threshold and shift > np.log1p(min_shift):
            found.append(a + split)
            stack.extend([(a, a + split), (a + split, b)])
    return sorted(found)


@dataclass(frozen=True)
class Creep:
    """A monotone drift: Theil-Sen slope (fraction per run) and Kendall's tau p."""

    slope_per_run: float
    total: float
    p_value: float
    significant: bool


def creep(
    values_us: Sequence[float] | np.ndarray, *, alpha: float = 0.01, min_total: float = 0.02
) -> Creep:
    """Slow creep on log values: Theil-Sen slope ``beta`` (median of pairwise
    slopes) and Kendall's tau test of ``y`` against run order. ``total`` is
    ``exp(beta (n - 1)) - 1``; significant when ``p < alpha`` and
    ``|total| > min_total``."""
    y = np.log(np.asarray(values_us, dtype=float))
    if y.size < 4 or not np.isfinite(y).all():
        return Creep(float("nan"), float("nan"), float("nan"), False)
    x = np.arange(y.size, dtype=float)
    beta = float(sps.theilslopes(y, x).slope)
    tau = sps.kendalltau(x, y)
    p = float(tau.pvalue) if np.isfinite(tau.pvalue) else 1.0
    total = float(np.expm1(beta * (y.size - 1)))
    return Creep(float(np.expm1(beta)), total, p, p < alpha and abs(total) > min_total)


# --- comparing two runs ----------------------------------------------------------------


class Verdict(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    NOT_COMPARABLE = "not_comparable"
    FAILED = "failed"


@dataclass(frozen=True)
class ComparisonRow:
    """One paired configuration. ``ratio`` is candidate / base (>1 = slower)."""

    label: str
    pair: tuple[str, ...]
    verdict: Verdict
    reason: str
    base_key: str | None = None
    cand_key: str | None = None
    base_median_us: float = float("nan")
    cand_median_us: float = float("nan")
    ratio: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = float("nan")
    p_adjusted: float = float("nan")
    n_base: int = 0
    n_cand: int = 0
    threshold: float = float("nan")

    @property
    def broke(self) -> bool:
        """Failed in the candidate while the base had results."""
        return self.verdict is Verdict.FAILED and self.n_cand == 0 and self.n_base > 0

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        return {
            "label": self.label,
            **dict(zip(PAIR_FIELDS, self.pair, strict=True)),
            "verdict": self.verdict.value,
            "reason": self.reason,
            "base_key": self.base_key,
            "cand_key": self.cand_key,
            "base_median_us": num(self.base_median_us),
            "cand_median_us": num(self.cand_median_us),
            "ratio": num(self.ratio),
            "ci_low": num(self.ci_low),
            "ci_high": num(self.ci_high),
            "p_value": num(self.p_value),
            "p_adjusted": num(self.p_adjusted),
            "n_base": self.n_base,
            "n_cand": self.n_cand,
            "threshold": num(self.threshold),
        }


@dataclass(frozen=True)
class Comparison:
    """The verdict table of ``base`` against ``cand``."""

    base: str
    cand: str
    q: float
    min_effect: float
    rows: tuple[ComparisonRow, ...]

    @property
    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for row in self.rows:
            counts[row.verdict.value] += 1
        return counts

    @property
    def regressions(self) -> tuple[ComparisonRow, ...]:
        return tuple(r for r in self.rows if r.verdict is Verdict.SLOWER)

    @property
    def comparable(self) -> bool:
        return any(r.verdict is not Verdict.NOT_COMPARABLE for r in self.rows)

    @property
    def exit_code(self) -> int:
        """0 nothing slower; 1 a confirmed regression, or a configuration that
        failed in the candidate but not in the base; 3 nothing comparable."""
        if not self.comparable:
            return 3
        if self.regressions or any(r.broke for r in self.rows):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "cand": self.cand,
            "q": self.q,
            "min_effect": self.min_effect,
            "counts": self.counts,
            "rows": [r.to_dict() for r in self.rows],
        }


def _device_labels(frames: Sequence[pd.DataFrame]) -> dict[tuple[Any, Any], str]:
    """``(model, serial) -> label``: the model, or "model (serial)" when a model
    has several serials in any one run, or the serial when the model is unknown."""
    labels: dict[tuple[Any, Any], str] = {}
    ambiguous: set[Any] = set()
    for df in frames:
        if df.empty:
            continue
        serials = df.groupby(df["device_model"].astype(object).fillna("\0"))[
            "device_serial"
        ].nunique()
        ambiguous |= {m for m, n in serials.items() if n > 1}
    for df in frames:
        for model, serial in (
            df[["device_model", "device_serial"]].drop_duplicates().itertuples(index=False)
        ):
            known = _cell(model) != "-"
            if not known:
                labels[(model, serial)] = str(serial)
            elif model in ambiguous:
                labels[(model, serial)] = f"{model} ({serial})"
            else:
                labels[(model, serial)] = str(model)
    return labels


def _prepare(df: pd.DataFrame, labels: dict[tuple[Any, Any], str]) -> pd.DataFrame:
    out = launch_values(with_config_key(df))
    out["device"] = [
        labels[(m, s)] for m, s in zip(out["device_model"], out["device_serial"], strict=True)
    ]
    return _keyed(out, PAIR_FIELDS, "pair_key")


def pair_label(pair: Sequence[str]) -> str:
    """``phone · variant (format) · dims types · Nt`` plus the memory format
    when not contiguous and ``load`` for load launches."""
    f = dict(zip(PAIR_FIELDS, pair, strict=True))
    parts = [f["device"], f"{f['variant']} ({f['variant_format']})", f"{f['dims']} {f['types']}"]
    parts.append(f"{f['threads']}t")
    if f["memory_format"] not in ("contiguous_format", "-"):
        parts.append(f["memory_format"])
    if f["kind"] != "latency":
        parts.append(f["kind"])
    return " · ".join(parts)


def _failure_reason(side: str, rows: pd.DataFrame) -> str:
    bad = rows[~rows["ok"]]
    kinds = bad["error_kind"].fillna("unknown").astype(str) if "error_kind" in bad else pd.Series()
    first = ""
    if "message" in bad.columns and bad["message"].notna().any():
        first = f": {bad['message'].dropna().iloc[0]}"
    kind = ", ".join(sorted(set(kinds))) or "no result"
    return f"{side}: {len(bad)} of {len(rows)} launches failed ({kind}){first}"


def _differences(b: pd.Series, c: pd.Series, vary: Sequence[str]) -> list[str]:
    out = []
    for f in COMPARABLE_FIELDS:
        if f in vary:
            continue
        if _cell(b.get(f)) != _cell(c.get(f)):
            out.append(f"{f} differs ({_cell(b.get(f))[:12]} vs {_cell(c.get(f))[:12]})")
    return out


def compare_frames(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    base_id: str = "base",
    cand_id: str = "cand",
    history: pd.DataFrame | None = None,
    threshold_pct: float | None = None,
    vary: Sequence[str] = (),
    q: float = DEFAULT_Q,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
) -> Comparison:
    """Compare two runs' launches (store rows) configuration by configuration.

    1. Pair on ``PAIR_FIELDS`` (device label, variant name, dims, types, memory
       format, threads, kind). A pair is compared only when every
       ``COMPARABLE_FIELDS`` value is equal (``vary`` names fields that are the
       treatment, e.g. ``variant_sha256`` when a variant was changed on purpose);
       otherwise ``not_comparable`` with the fields that differ. A pair on one
       side only is ``not_comparable`` too. No ok launch on a side: ``failed``.
    2. ``p``: two-sided Mann-Whitney U on the log launch medians.
    3. Benjamini-Hochberg over every ``p`` of the comparison → ``p_adjusted``.
    4. ``r = m_cand / m_base`` with a bootstrap 95% interval ``[lo, hi]``;
       ``t = max(threshold_pct/100 or 2%, noise_floor(history of the config))``.
       ``slower``: ``p_adjusted < q`` and ``lo > 1 + t``; ``faster``:
       ``p_adjusted < q`` and ``hi < 1 / (1 + t)``; ``same``: the whole interval
       inside ``[1/(1+t), 1+t]``; else ``inconclusive``.
    """
    min_effect = threshold_pct / 100.0 if threshold_pct is not None else DEFAULT_MIN_EFFECT
    labels = _device_labels([base, cand])
    b_all, c_all = _prepare(base, labels), _prepare(cand, labels)
    b_groups = dict(tuple(b_all.groupby("pair_key", sort=True)))
    c_groups = dict(tuple(c_all.groupby("pair_key", sort=True)))
    pending: list[dict[str, Any]] = []
    for pk in sorted(set(b_groups) | set(c_groups)):
        side = b_groups.get(pk)
        other = c_groups.get(pk)
        ref = side if side is not None else other
        assert ref is not None
        pair = tuple(_cell(ref[f].iloc[0]) for f in PAIR_FIELDS)
        label = pair_label(pair)
        common: dict[str, Any] = {"label": label, "pair": pair}
        if side is None or other is None:
            where = "base" if side is not None else "candidate"
            pending.append(
                {**common, "verdict": Verdict.NOT_COMPARABLE, "reason": f"only in the {where} run"}
            )
            continue
        bkeys, ckeys = side["config_key"].unique(), other["config_key"].unique()
        if len(bkeys) > 1 or len(ckeys) > 1:
            reason = "several configurations under one name in a run (binaries or builds mixed)"
            pending.append({**common, "verdict": Verdict.NOT_COMPARABLE, "reason": reason})
            continue
        common.update(base_key=str(bkeys[0]), cand_key=str(ckeys[0]))
        diffs = _differences(side.iloc[0], other.iloc[0], vary)
        if diffs:
            pending.append(
                {**common, "verdict": Verdict.NOT_COMPARABLE, "reason": "; ".join(diffs)}
            )
            continue
        bs, breps = summarize_config(str(bkeys[0]), side, n_boot=n_boot, seed=seed)
        cs, creps = summarize_config(str(ckeys[0]), other, n_boot=n_boot, seed=seed + 1)
        common.update(
            base_median_us=bs.median_us, cand_median_us=cs.median_us, n_base=bs.n_ok, n_cand=cs.n_ok
        )
        if bs.n_ok == 0 or cs.n_ok == 0:
            reasons = [
                _failure_reason(n, r)
                for n, r, s in (("base", side, bs), ("candidate", other, cs))
                if s.n_ok == 0
            ]
            pending.append({**common, "verdict": Verdict.FAILED, "reason": "; ".join(reasons)})
            continue
        r = ratio_of(cs, creps, bs, breps)
        floor = 0.0
        if history is not None and not history.empty:
            h = history[(history["config_key"] == ckeys[0]) & (history["run_id"] != cand_id)]
            floor = noise_floor(h["run_median_us"].to_numpy(dtype=float))
        p = mann_whitney(np.asarray(bs.launch_medians_us), np.asarray(cs.launch_medians_us))
        pending.append(
            {
                **common,
                "verdict": None,
                "reason": "",
                "ratio": r.value,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "p_value": p,
                "threshold": max(min_effect, floor),
            }
        )
    adjusted = bh_adjust([row.get("p_value", np.nan) for row in pending])
    rows = []
    for row, padj in zip(pending, adjusted, strict=True):
        if row["verdict"] is None:
            row["p_adjusted"] = float(padj)
            row["verdict"], row["reason"] = _judge(row, q)
        rows.append(ComparisonRow(**row))
    return Comparison(base=base_id, cand=cand_id, q=q, min_effect=min_effect, rows=tuple(rows))


def _judge(row: Mapping[str, Any], q: float) -> tuple[Verdict, str]:
    t, lo, hi, padj = row["threshold"], row["ci_low"], row["ci_high"], row["p_adjusted"]
    up, down = 1.0 + t, 1.0 / (1.0 + t)
    significant = bool(np.isfinite(padj) and padj < q)
    if significant and lo > up:
        return Verdict.SLOWER, f"whole interval above +{t:.1%}, adjusted p {padj:.2g} < {q}"
    if significant and hi < down:
        return Verdict.FASTER, f"whole interval below -{1 - down:.1%}, adjusted p {padj:.2g} < {q}"
    if lo >= down and hi <= up:
        return Verdict.SAME, f"whole interval within ±{t:.1%}"
    if not np.isfinite(padj):
        return (
            Verdict.INCONCLUSIVE,
            f"too few launches for a test (need {MIN_LAUNCHES_FOR_TEST}+ a side)",
        )
    if not significant:
        return Verdict.INCONCLUSIVE, f"adjusted p {padj:.2g} ≥ {q} and interval crosses ±{t:.1%}"
    return Verdict.INCONCLUSIVE, f"significant but the interval reaches inside ±{t:.1%}"


def split_half_aa(launches: pd.DataFrame, **kwargs: Any) -> Comparison:
    """An A/A check inside one run: its even-numbered launches against its odd
    ones, through the whole ``compare_frames`` pipeline. Nothing changed
    between the halves, so every ``faster``/``slower`` is a false alarm; the
    report shows their count as the measured false-alarm rate."""
    idx = pd.to_numeric(launches["launch_index"], errors="coerce").fillna(0).astype(int)
    even, odd = launches[idx % 2 == 0], launches[idx % 2 == 1]
    return compare_frames(even, odd, base_id="even launches", cand_id="odd launches", **kwargs)
