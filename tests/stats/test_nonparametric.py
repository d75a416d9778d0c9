"""benchorch.stats: the numpy tests against scipy, their reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from benchorch import stats


def _rank_sum(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    both = np.concatenate([x, y], axis=axis)
    return np.take(sps.rankdata(both, axis=axis), range(x.shape[axis]), axis=axis).sum(axis=axis)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0.5, 2.0), min_size=2, max_size=14),
    st.lists(st.floats(0.5, 2.0), min_size=2, max_size=14),
    st.booleans(),
)
def test_mann_whitney_is_the_exact_permutation_law(
    a: list[float], b: list[float], rounded: bool
) -> None:
    """The numpy Mann-Whitney U (no scipy.stats import) is exact at every size
    a night uses: scipy's exact method without ties, scipy's exact
    permutation test of the rank sum (every split) with ties; never the
    normal approximation scipy falls back to above 8 launches a side."""
    x, y = np.asarray(a), np.asarray(b)
    if rounded:  # ties
        x, y = np.round(x, 1), np.round(y, 1)
    got = stats.mann_whitney(x, y)
    lx, ly = np.log(x), np.log(y)
    if np.ptp(np.concatenate([lx, ly])) == 0:
        assert got == 1.0
        return
    if np.unique(np.concatenate([lx, ly])).size == lx.size + ly.size:
        want = sps.mannwhitneyu(lx, ly, alternative="two-sided", method="exact").pvalue
    elif lx.size + ly.size <= 14:
        want = sps.permutation_test(
            (lx, ly), _rank_sum, permutation_type="independent", n_resamples=np.inf,
            vectorized=True,
        ).pvalue  # fmt: skip
    else:
        return  # exact enumeration too long for scipy here: checked below
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_mann_whitney_reaches_the_tail_a_night_needs_and_not_further() -> None:
    """Issue 14, defect 1: at 10 launches a side the normal approximation's
    smallest p was 1.8e-4 (no single regression among 274+ configurations
    could pass Benjamini-Hochberg); the exact law reaches 2 / C(20, 10). With
    ties the approximation said 0.047 for three equal launches a side 10%
    apart, where every one of the 20 splits gives at least 2/20."""
    base, cand = np.arange(1.0, 11.0), np.arange(1.0, 11.0) * 1.5 + 100.0
    assert stats.mann_whitney(base, cand) == pytest.approx(2 / 184756, rel=1e-12)
    assert stats.mann_whitney(np.ones(3), np.full(3, 1.1)) == pytest.approx(0.1)
    # Ties at 12 a side (past the enumeration above): the rank-sum law by
    # tie groups equals a seeded Monte Carlo of the splits.
    rng = np.random.default_rng(3)
    x = np.round(rng.lognormal(0, 0.05, 12), 2)
    y = np.round(rng.lognormal(0.04, 0.05, 12), 2)
    res = sps.permutation_test(
        (np.log(x), np.log(y)), _rank_sum, permutation_type="independent",
        n_resamples=200_000, vectorized=True, random_state=1,
    )  # fmt: skip
    got = stats.mann_whitney(x, y)
    assert abs(got - res.pvalue) < 5 * np.sqrt(res.pvalue / 200_000) + 1e-4


def test_bh_hand_cases() -> None:
    np.testing.assert_allclose(stats.bh_adjust([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(stats.bh_adjust([0.5]), [0.5])
    np.testing.assert_allclose(stats.bh_adjust([0.9, 0.95]), [0.95, 0.95])
    out = stats.bh_adjust([0.01, np.nan, 0.02])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])
    assert stats.bh_adjust([]).size == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60))
def test_bh_matches_scipy_and_is_monotone(ps: list[float]) -> None:
    adj = stats.bh_adjust(ps)
    np.testing.assert_allclose(
        adj, sps.false_discovery_control(ps, method="bh"), rtol=1e-12, atol=1e-15
    )
    assert (adj >= np.asarray(ps) - 1e-15).all()
    order = np.argsort(ps)
    assert (np.diff(adj[order]) >= -1e-15).all()


_series = st.one_of(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=60),
    st.lists(st.integers(0, 3).map(float), min_size=2, max_size=60),  # many ties
    st.integers(2, 200).map(lambda n: [float(i) for i in range(n)]),  # exact tails, n >= 171
)


@settings(max_examples=300, deadline=None)
@given(y=_series)
def test_creep_tests_equal_scipy(y: list[float]) -> None:
    """``creep`` runs Theil-Sen and Kendall's tau in numpy (the trend report
    never imports scipy.stats); they must agree with scipy's own."""
    from benchorch.stats.nonparametric import kendall_trend_p, theil_sen_slope

    x = np.arange(len(y), dtype=float)
    want_p = sps.kendalltau(x, y).pvalue
    got_p = kendall_trend_p(np.asarray(y))
    if np.isnan(want_p):
        assert np.isnan(got_p)
    else:
        assert got_p == pytest.approx(want_p, rel=1e-9, abs=1e-12)
    assert theil_sen_slope(np.asarray(y)) == pytest.approx(
        sps.theilslopes(y, x).slope, rel=1e-12, abs=1e-12
    )
    reversed_p = kendall_trend_p(np.asarray(y[::-1]))
    assert np.isnan(got_p) or reversed_p == pytest.approx(got_p, rel=1e-9)  # two-sided


def test_statistics_do_not_import_scipy_stats() -> None:
    """scipy.stats costs about a second to import: neither the trend command
    (history) nor a comparison (Mann-Whitney in numpy) may pay it."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from benchorch import stats; import benchorch.report;"
        " from tests.report.builder import Cfg, launches;"
        " stats.creep(np.linspace(1, 2, 30)); stats.change_points(np.ones(10));"
        " stats.compare_frames(launches('A', [Cfg()]), launches('B', [Cfg()], seed=1), n_boot=50);"
        " print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0.5, 2.0), min_size=2, max_size=90),
    st.lists(st.floats(0.5, 2.0), min_size=2, max_size=90),
    st.sampled_from(["two-sided", "greater", "less"]),
)
def test_welch_t_is_scipys(a: list[float], b: list[float], alternative: str) -> None:
    """The confirmation's test: Welch's t on log launch medians, as
    ``scipy.stats.ttest_ind(log b, log a, equal_var=False)`` (the candidate
    second: ``greater`` is slower), its Student law through the numpy
    incomplete beta, down to tails a night's Holm asks for."""
    x, y = np.log(a), np.log(b)
    got = stats.welch_t(np.asarray(a), np.asarray(b), alternative=alternative)
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        assert got == stats.mann_whitney(np.asarray(a), np.asarray(b), alternative=alternative)
        return
    assume(x.var() + y.var() > 1e-20)  # else scipy itself loses the precision
    want = sps.ttest_ind(y, x, equal_var=False, alternative=alternative).pvalue
    assert got == pytest.approx(want, rel=1e-8, abs=1e-300)


def test_welch_t_reaches_far_tails_and_is_one_sided() -> None:
    rng = np.random.default_rng(4)
    a = np.exp(rng.normal(0.0, 0.04, 83))
    b = np.exp(rng.normal(0.08, 0.04, 83))
    p = stats.welch_t(a, b, alternative="greater")
    assert p == pytest.approx(
        sps.ttest_ind(np.log(b), np.log(a), equal_var=False, alternative="greater").pvalue,
        rel=1e-8,
    )
    assert 0 < p < 1e-20
    assert stats.welch_t(a, b, alternative="less") == pytest.approx(1 - p)
    assert np.isnan(stats.welch_t(a[:1], b))


@pytest.mark.parametrize("n", [10, 40])
def test_welch_t_keeps_its_level_on_skewed_launches_with_outliers(n: int) -> None:
    """Nothing changed, ``n`` launches a side whose log medians are skewed
    (lognormal launch noise of a lognormal level) with 5% of launches 1.5-2x
    slower: the one-sided p falls under 0.01 and 0.002 at most as often as
    it should (20,000 draws; the bound's slack is 3 binomial sd). Equal sides
    make ``t`` symmetric about 0 whatever the law, so skew cannot tilt it."""
    rng = np.random.default_rng(n)
    draws = 20_000

    def side() -> np.ndarray:
        level = np.exp(rng.lognormal(-3.3, 0.5, (draws, n)))  # right-skewed in the log
        slow = rng.random((draws, n)) < 0.05
        return level * np.where(slow, rng.uniform(1.5, 2.0, (draws, n)), 1.0)

    a, b = side(), side()
    p = np.array([stats.welch_t(a[k], b[k], alternative="greater") for k in range(draws)])
    for alpha in (0.01, 0.002):
        bound = alpha * draws + 3 * np.sqrt(alpha * draws)
        assert (p < alpha).sum() <= bound, (alpha, int((p < alpha).sum()))
    # not a test that never rejects (gross outliers make it conservative: 2% at 5%)
    assert (p < 0.05).sum() > 0.015 * draws
