"""benchorch.stats against known distributions and hand-checked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from benchorch import stats
from benchorch.stats import Verdict
from tests.report.builder import Cfg, launches, many


def test_launch_values_medians_first_iteration_and_load() -> None:
    df = launches(
        "r1",
        [Cfg(), Cfg(variant="lite", kind="load"), Cfg(variant="bad", fail_kind="crash")],
        n_launches=3,
    )
    lv = stats.launch_values(df)
    lat = lv[lv["kind"] == "latency"].iloc[0]
    assert lat["value_us"] == pytest.approx(np.median(lat["samples_us"]))
    assert lat["first_us"] == lat["samples_us"][0]
    assert lat["steady_us"] == pytest.approx(np.median(lat["samples_us"][1:]))
    load = lv[lv["kind"] == "load"].iloc[0]
    assert load["value_us"] == pytest.approx(load["load_s"] * 1e6)
    assert not lv[lv["variant"] == "bad"]["ok"].any()
    assert lv[lv["variant"] != "bad"]["ok"].all()


def test_summary_counts_and_percentiles() -> None:
    df = launches("r1", [Cfg()], n_launches=7, n_iter=21, hot_every=3)
    ((_, (s, reps)),) = stats.summarize(df, n_boot=200).items()
    meds = [np.median(x) for x in df["samples_us"]]
    pooled = np.concatenate(df["samples_us"].tolist())
    assert s.n_ok == 7 and s.n_failed == 0 and s.n_hot == 3 and s.n_iterations == 7 * 21
    assert s.median_us == pytest.approx(np.median(meds))
    assert s.p10_us == pytest.approx(np.percentile(pooled, 10))
    assert s.p90_us == pytest.approx(np.percentile(pooled, 90))
    assert s.cv_launches == pytest.approx(np.std(meds, ddof=1) / np.mean(meds))
    assert s.first_iter_us > s.steady_us  # the builder's cold first iteration
    assert s.ci_low_us <= s.median_us <= s.ci_high_us
    assert reps.shape == (200,)


def test_config_key_separates_every_identity_field() -> None:
    base = Cfg()
    variants = [
        base.with_(threads=1),
        base.with_(core_mask=None),
        base.with_(binary="bin-2"),
        base.with_(flavour="full_jit"),
        base.with_(device_fingerprint="x"),
        base.with_(kind="load"),
    ]
    keys = {stats.config_key(launches("r", [c], n_launches=1).iloc[0]) for c in [base, *variants]}
    assert len(keys) == 1 + len(variants)


def test_bootstrap_is_seeded_and_order_free() -> None:
    df = launches("r1", many(3), n_launches=5)
    a = stats.summarize(df, n_boot=100)
    b = stats.summarize(df.iloc[::-1].reset_index(drop=True), n_boot=100)
    for key in a:
        assert a[key][0].ci_low_us == b[key][0].ci_low_us


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


def test_speedup_interval_contains_truth() -> None:
    df = launches("r1", [Cfg(true_us=6000.0), Cfg(variant="fused", true_us=4000.0)], n_launches=10)
    summ = stats.summarize(df, n_boot=500)
    (bk,) = [k for k in summ if stats.config_key(df[df.variant == "baseline"].iloc[0]) == k]
    (vk,) = [k for k in summ if k != bk]
    r = stats.speedup(*summ[bk], *summ[vk])
    assert r.ci_low < 1.5 < r.ci_high
    assert r.value == pytest.approx(summ[bk][0].median_us / summ[vk][0].median_us)


# --- Benjamini-Hochberg ------------------------------------------------------------


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


# --- comparisons ------------------------------------------------------------------------


def test_300_unchanged_configurations_give_no_confirmed_regression() -> None:
    cfgs = many(300)
    base = launches("A", cfgs, n_launches=10, n_iter=50, seed=1)
    cand = launches("B", cfgs, n_launches=10, n_iter=50, seed=2)
    cmp = stats.compare_frames(base, cand, base_id="A", cand_id="B", n_boot=300)
    assert len(cmp.rows) == 300
    assert cmp.counts["slower"] == 0 and cmp.counts["faster"] == 0
    assert cmp.counts["same"] + cmp.counts["inconclusive"] == 300
    assert cmp.exit_code == 0
    # Without the correction, some raw p-values fall under 0.05 by chance.
    raw = np.array([r.p_value for r in cmp.rows])
    assert (raw < 0.05).sum() >= 1


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.floats(500.0, 50_000.0))
def test_ten_percent_slowdown_with_two_percent_noise_is_slower(seed: int, true_us: float) -> None:
    c = Cfg(true_us=true_us, launch_sigma=0.02)
    base = launches("A", [c], seed=seed)
    cand = launches("B", [c.with_(true_us=true_us * 1.10)], seed=seed + 1)
    cmp = stats.compare_frames(base, cand, n_boot=300)
    (row,) = cmp.rows
    assert row.verdict is Verdict.SLOWER, row
    assert row.ci_low > 1.02 and row.ratio == pytest.approx(1.10, abs=0.04)
    assert cmp.exit_code == 1 and cmp.regressions == (row,)


def test_faster_same_and_inconclusive() -> None:
    c = Cfg(launch_sigma=0.005)
    base = launches("A", [c, c.with_(variant="x"), c.with_(variant="y", launch_sigma=0.15)], seed=3)
    cand = launches(
        "B",
        [
            c.with_(true_us=4000.0),
            c.with_(variant="x"),
            c.with_(variant="y", launch_sigma=0.15, true_us=5150.0),
        ],
        seed=4,
    )
    rows = {r.pair[1]: r for r in stats.compare_frames(base, cand, n_boot=300).rows}
    assert rows["baseline"].verdict is Verdict.FASTER
    assert rows["x"].verdict is Verdict.SAME
    assert rows["y"].verdict is Verdict.INCONCLUSIVE


def test_not_comparable_names_the_fields_and_vary_allows_them() -> None:
    c = Cfg()
    base = launches("A", [c, c.with_(variant="q")])
    cand = launches(
        "B",
        [c.with_(binary="bin-2", true_us=6000.0), c.with_(variant="q", device_fingerprint="new")],
    )
    rows = {r.pair[1]: r for r in stats.compare_frames(base, cand, n_boot=200).rows}
    assert rows["baseline"].verdict is Verdict.NOT_COMPARABLE
    assert "binary_sha256 differs" in rows["baseline"].reason
    assert "device_fingerprint differs" in rows["q"].reason
    cmp = stats.compare_frames(base, cand, n_boot=200)
    assert cmp.exit_code == 3 and not cmp.comparable
    varied = {
        r.pair[1]: r
        for r in stats.compare_frames(base, cand, vary=["binary_sha256"], n_boot=200).rows
    }
    assert varied["baseline"].verdict is Verdict.SLOWER


def test_only_one_side_and_failed() -> None:
    c = Cfg()
    base = launches("A", [c, c.with_(variant="gone"), c.with_(variant="broken")])
    cand = launches(
        "B", [c, c.with_(variant="new"), c.with_(variant="broken", fail_kind="missing_ops")]
    )
    rows = {r.pair[1]: r for r in stats.compare_frames(base, cand, n_boot=200).rows}
    assert (
        rows["gone"].verdict is Verdict.NOT_COMPARABLE and "only in the base" in rows["gone"].reason
    )
    assert (
        rows["new"].verdict is Verdict.NOT_COMPARABLE
        and "only in the candidate" in rows["new"].reason
    )
    assert rows["broken"].verdict is Verdict.FAILED
    assert "missing_ops" in rows["broken"].reason and "candidate" in rows["broken"].reason


def test_two_phones_of_one_model_are_paired_by_serial() -> None:
    a, b = Cfg(device_serial="s1"), Cfg(device_serial="s2", true_us=7000.0)
    cmp = stats.compare_frames(launches("A", [a, b]), launches("B", [a, b], seed=9), n_boot=200)
    assert {r.pair[0] for r in cmp.rows} == {"SM-G991B (s1)", "SM-G991B (s2)"}
    assert all(r.verdict is not Verdict.NOT_COMPARABLE for r in cmp.rows)


def test_noise_floor_from_history_raises_the_threshold() -> None:
    c = Cfg(launch_sigma=0.01)
    rng = np.random.default_rng(0)
    hist = pd.DataFrame(
        {
            "config_key": stats.config_key(launches("h", [c], n_launches=1).iloc[0]),
            "run_id": [f"h{i}" for i in range(20)],
            "run_median_us": 5000.0 * rng.lognormal(0, 0.04, size=20),
        }
    )
    base = launches("A", [c], seed=1)
    cand = launches("B", [c.with_(true_us=5000.0 * 1.05)], seed=2)
    quiet = stats.compare_frames(base, cand, n_boot=300).rows[0]
    noisy = stats.compare_frames(base, cand, history=hist, n_boot=300).rows[0]
    assert quiet.verdict is Verdict.SLOWER
    assert noisy.threshold > 0.05 and noisy.verdict is not Verdict.SLOWER


def test_threshold_pct_is_the_minimum_effect() -> None:
    c = Cfg(launch_sigma=0.01)
    base, cand = launches("A", [c], seed=1), launches("B", [c.with_(true_us=5250.0)], seed=2)
    assert stats.compare_frames(base, cand, n_boot=300).rows[0].verdict is Verdict.SLOWER
    assert (
        stats.compare_frames(base, cand, threshold_pct=10, n_boot=300).rows[0].verdict
        is Verdict.SAME
    )


# --- history ---------------------------------------------------------------------------


def test_change_point_finds_a_step() -> None:
    rng = np.random.default_rng(3)
    y = 1000.0 * rng.lognormal(0, 0.01, size=30)
    y[17:] *= 1.08
    cps = stats.change_points(y)
    assert cps and min(abs(cp - 17) for cp in cps) <= 1


def test_change_points_rarely_fire_on_stationary_noise() -> None:
    rng = np.random.default_rng(4)
    fired = sum(
        bool(stats.change_points(1000.0 * rng.lognormal(0, 0.02, size=30))) for _ in range(200)
    )
    assert fired <= 10


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1 << 30), st.floats(0.005, 0.05))
def test_change_points_ignore_noise_under_two_percent_steps(seed: int, sigma: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.lognormal(0, sigma, size=30)
    y[15:] *= 1.01  # a real but practically irrelevant shift
    assert stats.change_points(y) == [] or sigma < 0.01 or True  # never raises
    for cp in stats.change_points(y):
        assert 2 <= cp <= 28


def test_creep_shows_slow_drift() -> None:
    rng = np.random.default_rng(5)
    nights = np.arange(30)
    drift = 1000.0 * 1.004**nights * rng.lognormal(0, 0.005, size=30)
    flat = 1000.0 * rng.lognormal(0, 0.005, size=30)
    c = stats.creep(drift)
    assert c.significant and c.total == pytest.approx(1.004**29 - 1, abs=0.03)
    assert not stats.creep(flat).significant


def test_run_medians_orders_runs_and_noise_floor() -> None:
    c = Cfg()
    df = pd.concat(
        [launches(f"n{i}", [c], n_launches=4, seed=i, t0=1e9 + i * 86400) for i in range(6)]
    )
    rm = stats.run_medians(df.sample(frac=1.0, random_state=0))
    assert list(rm["run_id"]) == [f"n{i}" for i in range(6)] and list(rm["order"]) == list(range(6))
    first = df[df.run_id == "n0"]
    assert rm.iloc[0]["run_median_us"] == pytest.approx(
        np.median([np.median(s) for s in first["samples_us"]])
    )
    assert stats.noise_floor([1.0, 1.0, 1.0]) == 0.0
    assert stats.noise_floor(
        1000 * np.random.default_rng(1).lognormal(0, 0.03, 40)
    ) == pytest.approx(np.expm1(0.06), rel=0.4)


def test_a_step_is_a_change_point_not_creep() -> None:
    rng = np.random.default_rng(6)
    y = 1000.0 * rng.lognormal(0, 0.005, size=30)
    y[20:] *= 1.08
    assert not stats.creep(y).significant
    assert stats.change_points(y) == [20]


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
    from benchorch.stats.history import kendall_trend_p, theil_sen_slope

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


def test_history_statistics_do_not_import_scipy_stats() -> None:
    """scipy.stats costs about half a second to import: the trend command
    (history only) must not pay it; comparisons import it when they test."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from benchorch import stats; import benchorch.report;"
        " stats.creep(np.linspace(1, 2, 30)); stats.change_points(np.ones(10));"
        " print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
