"""The two-level bootstrap of a configuration's median of launch medians (pure).

Each replicate draws ``L`` launches with replacement, then within each drawn
launch its ``n_i`` iterations with replacement, and takes the median of the
drawn launches' medians; a 95% percentile interval comes from ``B`` such
replicates. The bootstrap never draws single iterations: the median of ``n``
iterations drawn with replacement is drawn from its exact law
(``median_rank_tables``), one or two uniforms per drawn launch, and all the
configurations of a report go through numpy together (``bootstrap_many``);
``bootstrap_replicates_direct`` is the iteration-by-iteration reference.

Hand-written, not ``scipy.stats.bootstrap``: scipy resamples one level (it
would treat iterations as independent, or need a Python callback per
replicate for the nested draw, about 100x slower on a 3,360-launch report),
and importing ``scipy.stats`` costs about a second on every command.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence

import numpy as np

from benchorch.stats.keys import DEFAULT_BOOT

#: Launches of more iterations than this are resampled iteration by iteration
#: (``bootstrap_replicates_direct``): their median-rank tables cost O(n^2).
MAX_TABLE_ITER = 4096
#: Resampled launch slots (replicates x launches) handled per numpy pass: about
#: 4 configurations of 28 launches at B = 1000, arrays that stay in cache
#: (bigger passes measured slower).
_CHUNK_SLOTS = 1 << 17


def seed_of(key: str, seed: int) -> int:
    """A configuration's generator seed: its key's CRC-32 mixed with ``seed``."""
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
    """A launch's iterations sorted, NaN and inf left out; ``[nan]`` when none is left."""
    x = np.asarray(g, dtype=float).ravel()
    x = np.sort(x[np.isfinite(x)])
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
