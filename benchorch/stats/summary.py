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

The bootstrap never draws single iterations: the median of ``n`` iterations
drawn with replacement from a launch is drawn from its exact law
(``median_rank_tables``), one or two uniforms per drawn launch, and all the
configurations of a report go through numpy together (``bootstrap_many``);
``bootstrap_replicates_direct`` is the iteration-by-iteration reference.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from benchorch.stats.keys import DEFAULT_BOOT, MIN_LAUNCHES_FOR_TEST, launch_values, with_config_key

# --- bootstrap -------------------------------------------------------------------

#: Launches of more iterations than this are resampled iteration by iteration
#: (``bootstrap_replicates_direct``): their median-rank tables cost O(n^2).
MAX_TABLE_ITER = 4096
#: Resampled launch slots (replicates x launches) handled per numpy pass: about
#: 4 configurations of 28 launches at B = 1000, arrays that stay in cache
#: (bigger passes measured slower).
_CHUNK_SLOTS = 1 << 17


def _seed(key: str, seed: int) -> int:
    return (zlib.crc32(key.encode()) ^ seed) & 0xFFFFFFFF


@functools.lru_cache(maxsize=64)
def median_rank_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact law of the median of ``n`` iterations drawn with replacement.

    Sort a launch's iterations ``x_(0) <= ... <= x_(n-1)`` and draw ``n``
    indices uniformly from ``0..n-1``; with ``r_1 <= ... <= r_n`` the drawn
    indices sorted, the drawn values' median is ``x_(r_m)`` for odd ``n``
    (``m = (n+1)/2``) and ``(x_(r_m) + x_(r_{m+1})) / 2`` for even ``n``
    (``m = n/2``), because ``x_(.)`` is monotone. With ``C_j`` the number of
    draws ``<= j`` (``C_j ~ Binomial(n, (j+1)/n)``):

    * ``F[j] = P(r_m <= j) = P(C_j >= m) = sum_{k>=m} b(k; n, (j+1)/n)``;
    * for even ``n``, ``s[j] = P(r_{m+1} > j | r_m = j)``: ``r_m = j < r_{m+1}``
      is ``C_{j-1} <= m-1, C_j = m``, of probability
      ``b(m; n, (j+1)/n) - C(n, m) (j/n)^m ((n-1-j)/n)^(n-m)`` (all ``C_j = m``
      minus those with no draw at ``j``), divided by ``F[j] - F[j-1]``; ``s = 0``
      for odd ``n``.

    Given ``r_m = j < r_{m+1}``, the ``n - m`` draws above ``j`` are independent
    and uniform on ``j+1..n-1``, so ``r_{m+1} = j + 1 + T`` with ``T`` the
    least of ``n - m`` uniform draws from ``0..K-1``, ``K = n-1-j``:
    ``P(T >= t) = ((K-t)/K)^(n-m)``. Read-only arrays of length ``n``."""
    m = (n + 1) // 2 if n % 2 else n // 2
    lg = np.array([math.lgamma(i + 1.0) for i in range(n + 1)])  # log i!
    cdf = np.ones(n)
    s = np.zeros(n)
    if n > 1:
        j = np.arange(n - 1, dtype=float)
        p = (j + 1.0) / n
        k = np.arange(m, n + 1)
        log_c = lg[n] - lg[k] - lg[n - k]
        block = max(1, (1 << 18) // k.size)
        for a in range(0, n - 1, block):
            b = min(a + block, n - 1)
            pb = p[a:b, None]
            cdf[a:b] = np.exp(log_c + k * np.log(pb) + (n - k) * np.log1p(-pb)).sum(1)
        cdf = np.minimum(np.maximum.accumulate(cdf), 1.0)
        cdf[-1] = 1.0
        if n % 2 == 0:
            with np.errstate(divide="ignore"):
                at_m = np.exp(log_c[0] + m * np.log(p) + (n - m) * np.log1p(-p))
                none_at_j = np.exp(log_c[0] + m * np.log(j / n) + (n - m) * np.log((n - 1 - j) / n))
            prob = np.diff(cdf, prepend=0.0)[: n - 1]
            up = np.clip(at_m - none_at_j, 0.0, None)
            with np.errstate(divide="ignore", invalid="ignore"):
                s[: n - 1] = np.where(prob > 0, np.clip(up / prob, 0.0, 1.0), 0.0)
    cdf.flags.writeable = False
    s.flags.writeable = False
    return cdf, s


def _sorted_launch(g: np.ndarray) -> np.ndarray:
    """A launch's iterations sorted, NaN left out; ``[nan]`` when none is left."""
    x = np.sort(np.asarray(g, dtype=float).ravel())
    x = x[: int(np.count_nonzero(~np.isnan(x)))]
    return x if x.size else np.array([np.nan])


def bootstrap_many(
    configs: Sequence[Sequence[np.ndarray]],
    seeds: Sequence[int],
    *,
    n_boot: int = DEFAULT_BOOT,
) -> list[np.ndarray]:
    """``bootstrap_replicates(configs[c], seed=seeds[c])`` for every ``c``, at once.

    Each configuration draws from its own generator (``seeds[c]``), so its
    replicates do not depend on the others in the call; the arithmetic after
    the draws runs over many configurations per numpy pass."""
    out = [np.full(n_boot, np.nan) for _ in configs]
    batch: list[tuple[int, list[np.ndarray], int]] = []
    slots = 0
    for c, (groups, seed) in enumerate(zip(configs, seeds, strict=True)):
        if not len(groups):
            continue
        launches = [_sorted_launch(g) for g in groups]
        if max(x.size for x in launches) > MAX_TABLE_ITER:
            out[c] = bootstrap_replicates_direct(groups, n_boot=n_boot, seed=seed)
            continue
        batch.append((c, launches, seed))
        slots += n_boot * len(launches)
        if slots >= _CHUNK_SLOTS:
            _bootstrap_batch(batch, n_boot, out)
            batch, slots = [], 0
    if batch:
        _bootstrap_batch(batch, n_boot, out)
    return out


def _bootstrap_batch(
    batch: Sequence[tuple[int, list[np.ndarray], int]], n_boot: int, out: list[np.ndarray]
) -> None:
    """Replicates of a batch of configurations (see ``bootstrap_replicates``).

    Configuration ``c`` with ``L`` launches draws, from its own generator, the
    ``n_boot x L`` launch picks, then ``U_1`` and ``U_2`` (``n_boot x L`` each)."""
    launches = [x for _, ls, _ in batch for x in ls]
    lens = np.fromiter((x.size for x in launches), dtype=np.int64, count=len(launches))
    values = np.concatenate(launches)
    sizes, table_of = np.unique(lens, return_inverse=True)
    total = sum(n_boot * len(ls) for _, ls, _ in batch)
    g = np.empty(total, dtype=np.int64)
    u1, u2 = np.empty(total), np.empty(total)
    a = first = 0
    for _, ls, seed in batch:
        rng = np.random.default_rng(seed)
        b = a + n_boot * len(ls)
        g[a:b] = rng.integers(0, len(ls), size=b - a)
        g[a:b] += first
        rng.random(out=u1[a:b])
        rng.random(out=u2[a:b])
        a, first = b, first + len(ls)
    if sizes.size == 1:  # one launch length (the usual case): one table
        size = int(sizes[0])
        n: np.ndarray | int = size
        cdf, ups = median_rank_tables(size)
        j = _invert(cdf, u1)
        at: np.ndarray = j
        base = g * size
    else:  # every length's F in one increasing array (F_t + 2t) and one search
        tables = [median_rank_tables(int(size)) for size in sizes]
        tstart = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        cdfs = np.concatenate([f + 2.0 * t for t, (f, _) in enumerate(tables)])
        ups = np.concatenate([s for _, s in tables])
        t = table_of[g]
        at = np.searchsorted(cdfs, u1 + 2.0 * t, side="right")  # tstart[t] + j
        j = at - tstart[t]
        n = lens[g]
        base = np.concatenate([[0], np.cumsum(lens)[:-1]])[g]
    # For even n: does r_{m+1} leave r_m, and by how much (T)?
    up = np.flatnonzero(u2 < ups[at]) if (sizes % 2 == 0).any() else np.empty(0, np.int64)
    j2 = j.copy()
    if up.size:
        n_up = n if isinstance(n, int) else n[up]
        big_k = (n_up - 1 - j[up]).astype(float)
        w = (1.0 - u2[up] / ups[at[up]]) ** (1.0 / (n_up // 2))
        j2[up] += 1 + np.clip(np.floor(big_k * (1.0 - w)), 0.0, big_k - 1.0).astype(np.int64)
    j += base
    j2 += base
    meds = values[j]
    meds += values[j2]
    meds *= 0.5
    widths = {len(ls) for _, ls, _ in batch}
    if len(widths) == 1:  # one median for the whole batch
        reps = _row_medians(meds.reshape(-1, widths.pop())).reshape(len(batch), n_boot)
        for (c, _, _), r in zip(batch, reps, strict=True):
            out[c] = r
        return
    a = 0
    for c, ls, _ in batch:
        b = a + n_boot * len(ls)
        out[c] = _row_medians(meds[a:b].reshape(n_boot, len(ls)))
        a = b


def _row_medians(x: np.ndarray) -> np.ndarray:
    """``np.median(x, axis=1)``, partitioning ``x`` in place when it has no NaN."""
    width = x.shape[1]
    if width == 1 or np.isnan(x).any():
        return np.median(x, axis=1)
    half = width // 2
    x.partition([half - 1, half] if width % 2 == 0 else [half], axis=1)
    return (x[:, half - 1] + x[:, half]) * 0.5 if width % 2 == 0 else x[:, half].copy()


@functools.lru_cache(maxsize=64)
def _guide(cdf_bytes: bytes, cells: int) -> np.ndarray:
    cdf = np.frombuffer(cdf_bytes)
    return np.searchsorted(cdf, np.arange(cells) / cells, side="right")


def _invert(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``searchsorted(cdf, u, side="right")`` (the least ``j`` with ``cdf[j] > u``)
    by a guide table: ``cells`` a power of two, so ``floor(u cells)`` and
    ``c / cells`` are exact and the guide's ``j(c / cells) <= j(u)``; then step
    up while ``cdf[j] <= u`` (rarely more than once)."""
    cells = 1 << min(16, max(4, (16 * cdf.size - 1).bit_length()))
    j = _guide(cdf.tobytes(), cells)[(u * cells).astype(np.int64)]
    fix = np.flatnonzero(cdf[j] <= u)
    while fix.size:
        j[fix] += 1
        fix = fix[cdf[j[fix]] <= u[fix]]
    return j


def bootstrap_replicates(
    groups: Sequence[np.ndarray], *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> np.ndarray:
    """``n_boot`` two-level bootstrap replicates of the median of launch medians.

    ``groups[i]`` holds launch ``i``'s iterations (NaN iterations left out; a
    launch with none left has median NaN). Each replicate draws launches
    ``I_1..I_L`` uniformly with replacement, then for each ``I_k`` draws
    ``n_{I_k}`` of its iterations with replacement, takes each drawn launch's
    median and the median of those.

    The inner draw is not done iteration by iteration: the median of ``n``
    iterations drawn with replacement is drawn from its exact law
    (``median_rank_tables``) by inversion, so a replicate costs ``O(L)``
    uniforms instead of ``O(L n)``: ``r_m = min{j : F[j] > U_1}``; for even
    ``n``, ``r_{m+1} = r_m`` unless ``U_2 < s[r_m]``, then
    ``r_{m+1} = r_m + 1 + T`` with ``T = floor(K (1 - (1 - V)^(1/(n-m))))`` and
    ``V = U_2 / s[r_m]`` (uniform on ``[0, 1)`` given ``U_2 < s[r_m]``): the
    least of ``n - m`` draws ``floor(K W_i)``, ``W_i`` uniform, whose least
    ``W`` has ``P(W > w) = (1 - w)^(n-m)``. The replicates have
    the same distribution as ``bootstrap_replicates_direct``'s (launches of
    more than ``MAX_TABLE_ITER`` iterations are resampled that way)."""
    return bootstrap_many([groups], [seed], n_boot=n_boot)[0]


def _padded(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.asarray([max(len(g), 1) for g in groups])
    mat = np.full((len(groups), int(lens.max())), np.nan)
    for i, g in enumerate(groups):
        mat[i, : len(g)] = g if len(g) else np.nan
    return mat, lens


def bootstrap_replicates_direct(
    groups: Sequence[np.ndarray], *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> np.ndarray:
    """The two-level bootstrap drawn iteration by iteration (``L n`` uniforms
    per replicate): the reference for ``bootstrap_replicates`` and its method
    for launches of more than ``MAX_TABLE_ITER`` iterations. NaN iterations are
    left out; a launch with none left has median NaN."""
    groups = [_sorted_launch(g) for g in groups]
    if not groups:
        return np.full(n_boot, np.nan)
    rng = np.random.default_rng(seed)
    mat, lens = _padded(groups)
    n_launch, width = mat.shape
    equal = bool((lens == width).all())
    flat = mat.ravel()
    chunk = max(1, 4_000_000 // (n_launch * width))
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        pick = rng.integers(0, n_launch, size=(b, n_launch))
        if width == 1:
            out[start : start + b] = np.median(mat[pick, 0], axis=1)
            continue
        n_pick = lens[pick][..., None]
        it = (rng.random((b, n_launch, width)) * n_pick).astype(np.int64)
        vals = flat[it + (pick * width)[..., None]]
        if equal:  # in-place partition when no NaN (np.median's method, no copy)
            meds = _row_medians(vals.reshape(-1, width)).reshape(b, n_launch)
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


#: Summaries already computed, by (configuration key, seed, ``B``, the sorted
#: launch keys of the rows): share one between frames of one store only (there
#: a launch key names one launch).
SummaryCache: TypeAlias = dict[
    tuple[str, int, int, tuple[str, ...]], tuple[ConfigStats, np.ndarray]
]


def _launch_groups(samples: list[Any], values: np.ndarray, kinds: np.ndarray) -> list[np.ndarray]:
    """Each ok launch's iterations; its value alone for a load launch or one
    without samples."""
    out: list[np.ndarray] = []
    for smp, value, kind in zip(samples, values, kinds, strict=True):
        has = isinstance(smp, list | tuple | np.ndarray) and len(smp) > 0
        out.append(np.asarray(smp, dtype=float) if has and kind != "load" else np.array([value]))
    return out


def summarize_config(
    key: str, rows: pd.DataFrame, *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> tuple[ConfigStats, np.ndarray]:
    """Summarise one configuration's launch rows (from ``launch_values``).

    Returns the summary and its bootstrap replicates (for ratios).
    """
    ((_, out),) = summarize_parts(
        rows, [(key, key, np.arange(len(rows)))], n_boot=n_boot, seed=seed
    )
    return out


def summarize_groups(
    df: pd.DataFrame,
    by: str = "config_key",
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    cache: SummaryCache | None = None,
) -> dict[str, tuple[ConfigStats, np.ndarray]]:
    """``summarize_config`` of every group of ``df`` (``launch_values`` rows with
    ``config_key``) by column ``by``, keyed by the group's ``by`` value; each
    seeded by its first row's ``config_key``. All bootstraps in one
    ``bootstrap_many``: equal to one ``summarize_config`` per group."""
    if df.empty:
        return {}
    keys = df["config_key"].to_numpy(object)
    parts = [
        (str(name), str(keys[pos[0]]), pos)
        for name, pos in df.groupby(by, sort=True).indices.items()
    ]
    return dict(summarize_parts(df, parts, n_boot=n_boot, seed=seed, cache=cache))


def summarize_parts(
    df: pd.DataFrame,
    parts: Sequence[tuple[str, str, np.ndarray]],
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    cache: SummaryCache | None = None,
) -> list[tuple[str, tuple[ConfigStats, np.ndarray]]]:
    """Summaries of ``(name, config key, row positions)`` parts of ``df``
    (``launch_values`` rows): ok launches taken in start order (``started_at``,
    then ``launch_key``), bootstraps seeded by ``_seed(config key, seed)``.
    With ``cache``, a part already summarised (same key, seed, ``B`` and
    launches) is taken from it, and new ones are added."""
    if cache is not None and "launch_key" in df.columns and len(df):
        lkeys = df["launch_key"].astype(str).to_numpy(object)
        ids = [(key, seed, n_boot, tuple(sorted(lkeys[pos]))) for _, key, pos in parts]
        todo = [i for i, k in enumerate(ids) if k not in cache]
        fresh = summarize_parts(df, [parts[i] for i in todo], n_boot=n_boot, seed=seed)
        for i, (_, summary) in zip(todo, fresh, strict=True):
            cache[ids[i]] = summary
        return [(name, cache[k]) for (name, _, _), k in zip(parts, ids, strict=True)]
    n = len(df)
    order = [c for c in ("started_at", "launch_key") if c in df.columns]
    rank = np.empty(n, dtype=np.int64)
    if order and n:
        rank[df.reset_index(drop=True).sort_values(order, kind="stable").index.to_numpy()] = (
            np.arange(n)
        )
    else:
        rank[:] = np.arange(n)
    ok = df["ok"].to_numpy(bool)
    value = df["value_us"].to_numpy(float)
    kinds = df["kind"].to_numpy(object)
    samples = df["samples_us"].tolist()
    first = df["first_us"].to_numpy(float)
    steady = df["steady_us"].to_numpy(float)
    n_iter = df["n_iter"].to_numpy(float)
    hot = (
        df["hot"].astype(object).fillna(False).astype(bool).to_numpy()
        if "hot" in df.columns
        else np.zeros(n, dtype=bool)
    )
    oks, groups = [], []
    for _, _, pos in parts:
        pos = np.asarray(pos, dtype=np.int64)
        sel = pos[ok[pos]]
        sel = sel[np.argsort(rank[sel], kind="stable")]
        oks.append(sel)
        groups.append(_launch_groups([samples[i] for i in sel], value[sel], kinds[sel]))
    seeds = [_seed(key, seed) for _, key, _ in parts]
    all_reps = bootstrap_many(groups, seeds, n_boot=n_boot)
    out = []
    for (name, key, pos), sel, grp, reps in zip(parts, oks, groups, all_reps, strict=True):
        lo, hi = percentile_interval(reps)
        meds = value[sel]
        pooled = np.concatenate(grp) if grp else np.array([])
        mean = float(meds.mean()) if meds.size else float("nan")
        cv = float(meds.std(ddof=1) / mean) if meds.size > 1 and mean > 0 else float("nan")
        p10, p90 = np.percentile(pooled, [10, 90]) if pooled.size else (np.nan, np.nan)
        stats = ConfigStats(
            key=key,
            n_launches=len(pos),
            n_ok=len(sel),
            n_failed=len(pos) - len(sel),
            n_hot=int(hot[pos].sum()),
            n_iterations=int(n_iter[sel].sum()) if len(sel) else 0,
            median_us=float(np.median(meds)) if meds.size else float("nan"),
            ci_low_us=lo,
            ci_high_us=hi,
            p10_us=float(p10),
            p90_us=float(p90),
            cv_launches=cv,
            first_iter_us=_nanmedian(first[sel]),
            steady_us=_nanmedian(steady[sel]),
            launch_medians_us=tuple(float(m) for m in meds),
        )
        out.append((name, (stats, reps)))
    return out


def _nanmedian(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def summarize(
    launches: pd.DataFrame, *, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> dict[str, tuple[ConfigStats, np.ndarray]]:
    """Every configuration of ``launches`` (raw store rows) → (summary, replicates)."""
    return summarize_groups(launch_values(with_config_key(launches)), n_boot=n_boot, seed=seed)


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
    """Two-sided Mann-Whitney U p-value on log launch medians (NaN if too few),
    as ``scipy.stats.mannwhitneyu(a, b, alternative="two-sided")`` gives it, in
    numpy alone (importing scipy.stats costs about a second).

    With average ranks ``R`` of ``a ∪ b``, ``U_1 = sum_{a} R - n_1 (n_1 + 1) / 2``
    and ``U = max(U_1, n_1 n_2 - U_1)``. Both sides over 8 launches, or any
    tie: the normal approximation with tie and continuity correction,
    ``z = (U - n_1 n_2 / 2 - 1/2) / sqrt(n_1 n_2 / 12 ((n + 1) - sum_t (t^3 - t) / (n (n - 1))))``
    over the tie groups ``t``, ``p = 2 Φ(-z) = erfc(z / sqrt 2)``. Otherwise the exact
    null law of ``U``: ``p = 2 P(U' >= U)``, the counts of ``U'`` being the
    coefficients of the Gaussian binomial ``[n_1 + n_2 choose n_1]_q``."""
    if len(base) < MIN_LAUNCHES_FOR_TEST or len(cand) < MIN_LAUNCHES_FOR_TEST:
        return float("nan")
    a, b = np.log(np.asarray(base, dtype=float)), np.log(np.asarray(cand, dtype=float))
    xy = np.concatenate([a, b])
    if np.ptp(xy) == 0:
        return 1.0
    n1, n2 = a.size, b.size
    _, inverse, counts = np.unique(xy, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    ties = bool((counts > 1).any())
    if (n1 > 8 and n2 > 8) or ties:
        n = n1 + n2
        t = counts.astype(float)
        sd = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - float((t**3 - t).sum()) / (n * (n - 1))))
        z = (u - n1 * n2 / 2.0 - 0.5) / sd
        return float(min(1.0, math.erfc(z / math.sqrt(2.0))))
    freq = _u_counts(min(n1, n2), max(n1, n2))
    return float(min(1.0, 2.0 * sum(freq[int(u) :]) / sum(freq)))


@functools.lru_cache(maxsize=32)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many of the ``C(n1 + n2, n1)`` rankings give ``U = 0..n1 n2``: the
    coefficients of ``prod_{i=1}^{n1} (1 - q^(n2+i)) / (1 - q^i)``, exact
    integers (each partial product is a polynomial)."""
    size = n1 * n2 + 1
    c = [1] + [0] * (size - 1)
    for i in range(1, n1 + 1):
        d = n2 + i
        for k in range(size - 1, d - 1, -1):
            c[k] -= c[k - d]
        for k in range(i, size):
            c[k] += c[k - i]
    return tuple(c)
