"""benchorch.stats: the numpy tests against scipy, their reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
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
