"""The significance tests behind verdicts, in numpy alone (pure).

Each mirrors a scipy function and is checked against it in the tests
(scipy is the tests' reference, never imported here): importing
``scipy.stats`` costs about a second, paid by every ``compare``, ``report``
and ``trend`` otherwise, for a few lines of arithmetic each.

* ``holm_adjust``: statsmodels' ``multipletests(p, method="holm")`` (scipy
  has none).
* ``bh_adjust``: ``scipy.stats.false_discovery_control(p, method="bh")``,
  keeping NaN out of the family (scipy rejects NaN).
* ``mann_whitney``: ``scipy.stats.mannwhitneyu(a, b, alternative="two-sided")``
  on log launch medians.
* ``welch_t``: ``scipy.stats.ttest_ind(cand, base, equal_var=False)`` on log
  launch medians (the confirmation's test: more power than the rank test
  at the same error, docs/STATISTICS.md).
* ``theil_sen_slope``: ``scipy.stats.theilslopes`` (the slope only).
* ``kendall_trend_p``: ``scipy.stats.kendalltau(range(n), y).pvalue``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from benchorch.stats.keys import MIN_LAUNCHES_FOR_TEST

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


#: Up to this many launches on the smaller side the p-value is exact (the
#: counting below); past it, the normal approximation's floor (about 1e-12 at
#: 50 a side) is far under anything a correction for a night asks.
EXACT_MAX = 50


def holm_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN, not counted in m):
    with the ``m`` finite p sorted, ``q_(i) = max_{k <= i} min(1, (m - k + 1)
    p_(k))``. Rejecting ``q_i <= alpha`` keeps the probability of any false
    rejection at most ``alpha`` under any dependence (a family-wise error,
    stricter than Benjamini-Hochberg's false discovery rate: what "at most one
    false slower in 100 nights" asks of a small family). scipy has no Holm;
    statsmodels' ``multipletests(p, method="holm")`` is the same numbers."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    mask = np.isfinite(p)
    m = int(mask.sum())
    if m == 0:
        return out
    finite = p[mask]
    order = np.argsort(finite, kind="stable")
    scaled = np.minimum(1.0, finite[order] * (m - np.arange(m)))
    result = np.empty(m)
    result[order] = np.maximum.accumulate(scaled)
    out[mask] = result
    return out


def mann_whitney(base: np.ndarray, cand: np.ndarray, *, alternative: str = "two-sided") -> float:
    """Two-sided Mann-Whitney U p-value on log launch medians (NaN if too few);
    ``alternative="greater"``: one-sided, the candidate slower (its values
    larger), ``"less"``: the candidate faster (scipy's ``alternative`` with
    ``x = cand``).

    Mirrors ``scipy.stats.mannwhitneyu(a, b, alternative="two-sided",
    method="exact")`` without ties and ``scipy.stats.permutation_test`` of the
    rank sum (exact, every split of the launches) with ties: the p-value is
    always the exact permutation law while the smaller side has at most
    ``EXACT_MAX`` launches, never the normal approximation scipy switches to
    above 8 launches a side. That approximation cannot reach the tail a
    night's correction needs (its smallest p at 10 a side is 1.8e-4, the exact
    law's 1.1e-5: with 274 or more configurations a single regression could
    never pass Benjamini-Hochberg) and over-reaches with ties (three equal
    launches a side, 10% apart: 0.047 where every split gives at least 0.10).

    With average ranks ``R`` of ``a ∪ b`` and ``S = 2 sum_{a} R`` (an
    integer), ``p = min(1, 2 min(P(S' >= S), P(S' <= S)))`` over the
    ``C(n_1 + n_2, n_1)`` equally likely splits: without ties the law of
    ``U = S/2 - n_1 (n_1 + 1) / 2`` is the Gaussian binomial's coefficients
    (``_u_counts``), with ties a count over the tie groups (``_tied_counts``).
    Larger samples: the normal approximation with tie and continuity
    correction, ``z = (U - n_1 n_2 / 2 - 1/2) / sqrt(n_1 n_2 / 12 ((n + 1) -
    sum_t (t^3 - t) / (n (n - 1))))``, ``p = erfc(z / sqrt 2)``."""
    if len(base) < MIN_LAUNCHES_FOR_TEST or len(cand) < MIN_LAUNCHES_FOR_TEST:
        return float("nan")
    a, b = np.log(np.asarray(base, dtype=float)), np.log(np.asarray(cand, dtype=float))
    xy = np.concatenate([a, b])
    if np.ptp(xy) == 0:
        return 1.0
    n1, n2 = a.size, b.size
    _, inverse, counts = np.unique(xy, return_inverse=True, return_counts=True)
    twice_ranks = (2 * np.cumsum(counts) - counts + 1)[inverse]  # 2 R, integers
    s = int(twice_ranks[:n1].sum())
    ties = bool((counts > 1).any())
    if min(n1, n2) <= EXACT_MAX:
        if ties:
            law, low = _tied_counts(tuple(int(c) for c in counts), n1)
            k = s - low
        else:
            law = np.asarray(_u_counts(min(n1, n2), max(n1, n2)), dtype=float)
            k = (s - n1 * (n1 + 1)) // 2  # U of the a side; the law is symmetric
        total = float(law.sum())
        upper = float(law[k:].sum()) / total  # the base ranks high: the candidate faster
        lower = float(law[: k + 1].sum()) / total  # the base ranks low: the candidate slower
        if alternative == "greater":
            return lower
        if alternative == "less":
            return upper
        return float(min(1.0, 2.0 * min(upper, lower)))
    u1 = s / 2.0 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    t = counts.astype(float)
    sd = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - float((t**3 - t).sum()) / (n * (n - 1))))
    if alternative in ("greater", "less"):  # P(U' <= u1) or P(U' >= u1), continuity-corrected
        sign = 1.0 if alternative == "greater" else -1.0
        z = (sign * (n1 * n2 / 2.0 - u1) - 0.5) / sd
        return float(min(1.0, 0.5 * math.erfc(z / math.sqrt(2.0))))
    u = max(u1, n1 * n2 - u1)
    z = (u - n1 * n2 / 2.0 - 0.5) / sd
    return float(min(1.0, math.erfc(z / math.sqrt(2.0))))


@functools.lru_cache(maxsize=256)
def mann_whitney_null_rate(n1: int, n2: int, alpha: float) -> float:
    """``P(mann_whitney(a, b) <= alpha)`` when nothing changed (no ties): the
    exact law is discrete, so at 5 a side ``p <= 0.05`` happens 3.2% of the
    time, not 5%. The normal approximation's rate past ``EXACT_MAX``."""
    if min(n1, n2) < MIN_LAUNCHES_FOR_TEST:
        return 0.0
    if min(n1, n2) > EXACT_MAX:
        return alpha
    law = np.asarray(_u_counts(min(n1, n2), max(n1, n2)), dtype=float)
    law /= law.sum()
    upper = np.cumsum(law[::-1])[::-1]  # P(U' >= u)
    lower = np.cumsum(law)  # P(U' <= u)
    p = np.minimum(1.0, 2.0 * np.minimum(upper, lower))
    return float(law[p <= alpha * (1 + 1e-12)].sum())


@functools.lru_cache(maxsize=256)
def _tied_counts(groups: tuple[int, ...], n1: int) -> tuple[np.ndarray, int]:
    """The permutation law of ``S = 2 sum_{a} R`` with ties: tie groups of sizes
    ``groups`` (in value order, average ranks), ``n1`` of the ``sum(groups)``
    launches on side a. Taking ``k`` of a group of size ``t`` whose doubled
    rank is ``2r`` adds ``2 r k`` to ``S`` in ``C(t, k)`` ways; a table over
    (launches taken, ``S``) walks the groups. Returns the counts of ``S =
    low, low + 1, ...`` (floats: exact up to 2^53, relative 1e-16 past it)
    and ``low``."""
    n = sum(groups)
    top = 2 * n * n + 1
    table = np.zeros((n1 + 1, top))
    table[0, 0] = 1.0
    end = 0
    for t in groups:
        r2 = 2 * end + t + 1
        end += t
        new = table.copy()
        for k in range(1, min(t, n1) + 1):
            shift = r2 * k
            new[k:, shift:] += math.comb(t, k) * table[: n1 + 1 - k, : top - shift]
        table = new
    law = table[n1]
    nz = np.flatnonzero(law)
    law = law[nz[0] : nz[-1] + 1].copy()
    law.flags.writeable = False
    return law, int(nz[0])


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


def welch_t(base: np.ndarray, cand: np.ndarray, *, alternative: str = "two-sided") -> float:
    """Welch's t-test p-value on log launch medians (NaN if too few);
    ``alternative`` as in ``mann_whitney`` (``"greater"``: the candidate
    slower). Mirrors ``scipy.stats.ttest_ind(log(cand), log(base),
    equal_var=False, alternative=...)``.

    ``t = (mean(log cand) - mean(log base)) / se`` with ``se^2 = v_a/n_a +
    v_b/n_b``, Welch-Satterthwaite degrees of freedom, Student's law through
    the regularised incomplete beta function (``_student_sf``). With the same
    launches on both sides and nothing changed, ``t`` is symmetric about 0
    whatever the launches' law (swapping the sides flips it), so skewed
    launch noise does not tilt a one-sided p; the tails were checked on
    simulated launches with outliers (``tests/stats/test_nonparametric.py``).
    Two sides without spread fall back to ``mann_whitney``."""
    if len(base) < MIN_LAUNCHES_FOR_TEST or len(cand) < MIN_LAUNCHES_FOR_TEST:
        return float("nan")
    a, b = np.log(np.asarray(base, dtype=float)), np.log(np.asarray(cand, dtype=float))
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread: a t says nothing, the ranks do
        return mann_whitney(base, cand, alternative=alternative)
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se2 = va + vb
    t = (float(b.mean()) - float(a.mean())) / math.sqrt(se2)
    df = se2 * se2 / (va * va / (a.size - 1) + vb * vb / (b.size - 1))
    if alternative == "greater":
        return _student_sf(t, df)
    if alternative == "less":
        return _student_sf(-t, df)
    return float(min(1.0, 2.0 * _student_sf(abs(t), df)))


def _student_sf(t: float, df: float) -> float:
    """``P(T > t)`` for Student's ``T`` with ``df`` degrees of freedom:
    ``I_x(df/2, 1/2) / 2`` with ``x = df / (df + t^2)`` for ``t >= 0``."""
    if not math.isfinite(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``: its continued
    fraction (modified Lentz), on the side of ``x`` where it converges fast
    (``I_x(a, b) = 1 - I_{1-x}(b, a)``)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    f, c, d = 1.0, 1.0, 0.0
    for i in range(1000):
        m = i // 2
        if i == 0:
            num = 1.0
        elif i % 2 == 0:
            num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        f *= c * d
        if abs(1.0 - c * d) < 1e-15:
            break
    return math.exp(log_front) * (f - 1.0) / a


# --- trend tests ----------------------------------------------------------------------


def theil_sen_slope(y: np.ndarray) -> float:
    """Theil-Sen slope of ``y`` against ``0..n-1``: the median of the slopes
    ``(y_j - y_i) / (j - i)`` of all pairs ``i < j`` (``scipy.stats.theilslopes``)."""
    y = np.asarray(y, dtype=float)
    i, j = np.triu_indices(y.size, k=1)
    return float(np.median((y[j] - y[i]) / (j - i))) if i.size else float("nan")


def kendall_trend_p(y: np.ndarray) -> float:
    """Two-sided p-value of Kendall's tau between ``0..n-1`` and ``y`` (a test of a
    monotone trend), as ``scipy.stats.kendalltau`` computes it, in numpy alone.

    With ``S = concordant - discordant`` pairs and ``T = n(n-1)/2``: without
    ties in ``y`` and when ``n <= 33`` (or at most one pair out of order) the
    exact null distribution of the discordant count ``d`` (Mahonian numbers:
    permutations of ``n`` with ``d`` inversions, by the recurrence
    ``f_j = cumsum(f_{j-1})`` truncated at ``c``) gives
    ``p = 2 P(d <= c)``, ``c = min(d, T - d)``. Otherwise ``S`` is taken as
    normal with ``var = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18`` over the
    tie groups ``t`` of ``y``: ``p = erfc(|S| / sqrt(2 var))``.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2:
        return float("nan")
    i, j = np.triu_indices(n, k=1)
    sign = np.sign(y[j] - y[i])
    dis = int((sign < 0).sum())
    con = int((sign > 0).sum())
    tot = n * (n - 1) // 2
    _, counts = np.unique(y, return_counts=True)
    ties = counts[counts > 1].astype(float)
    if ties.size and float((ties * (ties - 1) / 2).sum()) == tot:
        return float("nan")  # constant y: scipy gives NaN
    if not ties.size and (n <= 33 or min(dis, tot - dis) <= 1):
        return _kendall_exact_p(n, min(dis, tot - dis))
    var = (n * (n - 1.0) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18
    z = abs(con - dis) / np.sqrt(var)
    return float(min(1.0, math.erfc(z / math.sqrt(2.0))))


def _kendall_exact_p(n: int, c: int) -> float:
    """``2 P(d <= c)`` for the discordant count ``d`` of a random permutation of
    ``n`` (``c <= T/2``), as scipy's ``_kendall_p_exact`` (two-sided)."""
    if n <= 2:
        return 1.0
    if 4 * c == n * (n - 1):
        return 1.0
    if c == 0:
        return 2.0 / math.factorial(n) if n < 171 else 0.0
    if c == 1:
        return 2.0 / math.factorial(n - 1) if n < 172 else 0.0
    f = np.zeros(c + 1)
    f[0:2] = 1.0
    scaled = n >= 171
    for k in range(3, n + 1):
        f = np.cumsum(f) / k if scaled else np.cumsum(f)
        if k <= c:
            f[k:] -= f[: c + 1 - k]
    prob = float(f.sum()) if scaled else 2.0 * float(f.sum()) / math.factorial(n)
    return float(np.clip(prob, 0.0, 1.0))
