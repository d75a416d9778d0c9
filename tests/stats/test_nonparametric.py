"""benchorch.stats: the numpy tests against scipy, their reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from benchorch import stats


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0.5, 2.0), min_size=2, max_size=14),
    st.lists(st.floats(0.5, 2.0), min_size=2, max_size=14),
    st.booleans(),
)
def test_mann_whitney_equals_scipy(a: list[float], b: list[float], rounded: bool) -> None:
    """The numpy Mann-Whitney U (no scipy.stats import) gives scipy's p-value:
    exact law for small samples without ties, normal approximation otherwise."""
    x, y = np.asarray(a), np.asarray(b)
    if rounded:  # ties
        x, y = np.round(x, 1), np.round(y, 1)
    got = stats.mann_whitney(x, y)
    lx, ly = np.log(x), np.log(y)
    if np.ptp(np.concatenate([lx, ly])) == 0:
        assert got == 1.0
        return
    want = sps.mannwhitneyu(lx, ly, alternative="two-sided").pvalue
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


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
