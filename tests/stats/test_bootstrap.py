"""benchorch.stats: the two-level bootstrap against exact laws and its direct reference."""

from __future__ import annotations

import numpy as np
import pytest

from benchorch import stats


def test_bootstrap_interval_covers_true_median_most_of_the_time() -> None:
    """Launch level lognormal(0, 5%), 51 iterations lognormal(0, 3%) around it:
    log(launch median) = a + median(e) is symmetric about 0, so the true median
    of launch medians is exactly 1."""
    rng = np.random.default_rng(7)
    hits = 0
    trials = 200
    for _ in range(trials):
        level = rng.lognormal(0.0, 0.05, size=10)
        groups = [lv * rng.lognormal(0.0, 0.03, size=51) for lv in level]
        lo, hi = stats.percentile_interval(
            stats.bootstrap_replicates(groups, n_boot=400, seed=int(rng.integers(1 << 30)))
        )
        hits += lo <= 1.0 <= hi
    assert hits / trials >= 0.85


def _median_rank_law_brute_force(n: int) -> np.ndarray:
    """``P(r_m = j, r_{m'} = k)`` over all ``n^n`` draws of ``n`` indices
    (``m' = m`` for odd ``n``, ``m + 1`` for even ``n``)."""
    import itertools

    idx = np.sort(np.array(list(itertools.product(range(n), repeat=n))), axis=1)
    m = (n + 1) // 2 if n % 2 else n // 2
    law = np.zeros((n, n))
    np.add.at(law, (idx[:, m - 1], idx[:, m] if n % 2 == 0 else idx[:, m - 1]), 1.0)
    return law / len(idx)


@pytest.mark.parametrize("n", range(1, 8))
def test_median_rank_tables_are_the_exact_law_of_a_resampled_median(n: int) -> None:
    """The tables' law of the middle ranks equals a count over every draw."""
    cdf, up = stats.median_rank_tables(n)
    m = (n + 1) // 2 if n % 2 else n // 2
    p_j = np.diff(cdf, prepend=0.0)
    law = np.zeros((n, n))
    for j in range(n):
        law[j, j] = p_j[j] * (1.0 - up[j])
        k = n - 1 - j  # r_{m+1} - j - 1 is the least of n - m draws from 0..k-1
        for t in range(k):
            law[j, j + 1 + t] = (
                p_j[j] * up[j] * (((k - t) / k) ** (n - m) - ((k - t - 1) / k) ** (n - m))
            )
    np.testing.assert_allclose(law, _median_rank_law_brute_force(n), atol=1e-14)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_bootstrap_draws_launch_medians_with_the_exact_law(n: int) -> None:
    """One launch, many replicates: each possible median's frequency is within
    5 standard errors of its exact probability (fixed seed)."""
    x = 10.0 * np.arange(n) + 1.0
    draws = 200_000
    reps = stats.bootstrap_replicates([x], n_boot=draws, seed=11)
    law = _median_rank_law_brute_force(n)
    probs: dict[float, float] = {}
    for j, k in zip(*np.nonzero(law), strict=True):
        v = (x[j] + x[k]) / 2
        probs[v] = probs.get(v, 0.0) + law[j, k]
    assert set(np.unique(reps)) <= set(probs)
    for v, p in probs.items():
        se = np.sqrt(p * (1 - p) / draws)
        assert abs((reps == v).mean() - p) <= 5 * se + 1e-12, (v, p)


def test_bootstrap_agrees_with_resampling_every_iteration() -> None:
    """Unequal launches (odd and even lengths, a single value): the
    replicates' quantiles match the iteration-by-iteration bootstrap's."""
    rng = np.random.default_rng(21)
    groups = [rng.lognormal(0.0, 0.05, size=n) for n in (7, 8, 50, 51, 3, 1, 20, 20)]
    fast = stats.bootstrap_replicates(groups, n_boot=60_000, seed=1)
    slow = stats.bootstrap_replicates_direct(groups, n_boot=60_000, seed=2)
    q = [2.5, 10, 25, 50, 75, 90, 97.5]
    np.testing.assert_allclose(np.percentile(fast, q), np.percentile(slow, q), rtol=2e-3)
    assert np.std(fast) == pytest.approx(np.std(slow), rel=0.03)


def test_bootstrap_many_equals_one_call_per_configuration() -> None:
    """Each configuration's replicates depend on its own launches and seed only:
    not on the other configurations of the call, their order or the batching."""
    rng = np.random.default_rng(5)
    configs = [
        [rng.lognormal(0.0, 0.03, size=int(rng.integers(1, 60))) for _ in range(k)]
        for k in (1, 2, 10, 28, 5, 12)
    ]
    configs.append([])
    configs.append([np.array([np.nan, 3.0, 1.0]), np.array([np.nan])])
    seeds = [101, 7, 7, 3, 1 << 31, 9, 0, 4]
    many = stats.bootstrap_many(configs, seeds, n_boot=500)
    for c, (groups, seed) in enumerate(zip(configs, seeds, strict=True)):
        one = stats.bootstrap_replicates(groups, n_boot=500, seed=seed)
        np.testing.assert_array_equal(many[c], one)
    flipped = stats.bootstrap_many(configs[::-1], seeds[::-1], n_boot=500)[::-1]
    for a, b in zip(many, flipped, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(many[6]).all()  # no launch: no interval
    assert np.isnan(many[7]).any() and np.isfinite(many[7]).any()  # an all-NaN launch


def test_guide_table_inversion_equals_searchsorted() -> None:
    from benchorch.stats.bootstrap import _invert

    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 50, 51, 1000):
        cdf, _ = stats.median_rank_tables(n)
        inner = cdf[cdf < 1]
        u = np.concatenate(
            [rng.random(50_000), inner, np.nextafter(inner, 0), np.arange(4096) / 4096, [0.0]]
        )
        np.testing.assert_array_equal(_invert(cdf, u), np.searchsorted(cdf, u, side="right"))
