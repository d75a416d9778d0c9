"""Per-configuration summaries, ratios and the tests behind verdicts (pure).

Per configuration: ``m = median_i(median_j x_ij)`` over ok launches ``i`` and
their iterations ``j``; a 95% percentile interval from a two-level bootstrap
(draw ``L`` launches with replacement, then within each drawn launch its
``n_i`` iterations with replacement, take the median of the launch medians;
``B`` replicates, seeded from the configuration key so a result never depends
on the order of the rows); p10/p90 of all iterations pooled; the coefficient
of variation between launches ``sd(launch medians) / mean(launch medians)``;
the first iteration of each launch apart from the steady state (iterations
2..n). Speed-up of a variant over a baseline: ``m_base / m_variant`` with the
interval of the ratio of independent bootstrap replicates.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchorch.stats.keys import DEFAULT_BOOT, MIN_LAUNCHES_FOR_TEST, launch_values, with_config_key

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
    # Equal lengths and no NaN: the median by an in-place partition of the
    # drawn values (np.median's own method, without its copy and NaN checks).
    fast = equal and bool(np.isfinite(mat).all())
    half = width // 2
    kth = [half] if width % 2 else [half - 1, half]
    flat = mat.ravel()
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
            it += (pick * width)[..., None]
            vals = flat[it]
            if fast:
                vals.partition(kth, axis=2)
                meds = vals[..., half] if width % 2 else (vals[..., half - 1] + vals[..., half]) / 2
            elif equal:
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
    """Two-sided Mann-Whitney U p-value on log launch medians (NaN if too few).

    scipy.stats is imported here, not at module level: it costs about half a
    second, and the trend report (history only) never needs it."""
    from scipy import stats as sps

    if len(base) < MIN_LAUNCHES_FOR_TEST or len(cand) < MIN_LAUNCHES_FOR_TEST:
        return float("nan")
    a, b = np.log(base), np.log(cand)
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
