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


def test_a_shared_summary_cache_gives_what_fresh_summaries_give() -> None:
    """The report hands the comparison's candidate summaries to its recipe
    table: the candidate side is seeded as ``summarize`` seeds it, and a cache
    hit is the summary a fresh computation gives."""
    cfgs = many(3)
    base, cand = launches("A", cfgs, seed=1), launches("B", cfgs, seed=2, t0=1_780_100_000.0)
    cache: stats.SummaryCache = {}
    cmp = stats.compare_frames(base, cand, n_boot=200, cache=cache)
    assert len(cache) == 6
    fresh = stats.summarize(cand, n_boot=200)
    cached = stats.summarize_groups(
        stats.launch_values(stats.with_config_key(cand)), n_boot=200, cache=cache
    )
    assert len(cache) == 6  # every candidate configuration was a hit
    assert set(cached) == set(fresh)
    for key, (st_, reps) in fresh.items():
        assert cached[key][0] == st_
        np.testing.assert_array_equal(cached[key][1], reps)
    assert {r.cand_median_us for r in cmp.rows} == {s.median_us for s, _ in fresh.values()}


def test_guide_table_inversion_equals_searchsorted() -> None:
    from benchorch.stats.summary import _invert

    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 50, 51, 1000):
        cdf, _ = stats.median_rank_tables(n)
        inner = cdf[cdf < 1]
        u = np.concatenate(
            [rng.random(50_000), inner, np.nextafter(inner, 0), np.arange(4096) / 4096, [0.0]]
        )
        np.testing.assert_array_equal(_invert(cdf, u), np.searchsorted(cdf, u, side="right"))


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


def test_one_launch_a_side_is_never_same() -> None:
    """One launch a side gives a zero-width interval; it shows neither a change
    nor its absence, so even identical numbers are inconclusive."""
    c = Cfg(launch_sigma=0.0)
    base = launches("A", [c], n_launches=1, seed=1)
    cand = base.assign(run_id="B")
    (row,) = stats.compare_frames(base, cand, n_boot=100).rows
    assert row.verdict is Verdict.INCONCLUSIVE and "too few launches" in row.reason


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


def _history_around(before: float, after: float, cfg: Cfg, base_t: float) -> pd.DataFrame:
    """``run_medians`` rows of ``cfg``: 12 nights before ``base_t`` with
    lognormal noise ``before``, then 30 nights after it with noise ``after``."""
    rng = np.random.default_rng(8)
    key = stats.config_key(launches("h", [cfg], n_launches=1).iloc[0])
    nights = np.r_[np.arange(-12, 0), np.arange(2, 32)]
    sigma = np.where(nights < 0, before, after)
    return pd.DataFrame(
        {
            "config_key": key,
            "run_id": [f"h{i:+03d}" for i in nights],
            "run_median_us": 5000.0 * rng.lognormal(0.0, sigma),
            "t": base_t + nights * 86400.0,
        }
    )


def test_noise_floor_uses_only_runs_up_to_the_compared_ones() -> None:
    """Comparing two old runs: a noisy stretch of history AFTER them must not
    raise their threshold (it did when the floor read every run but the
    candidate); the same noise BEFORE them does."""
    c = Cfg(launch_sigma=0.01)
    t0 = 1_780_000_000.0
    base = launches("A", [c], seed=1, t0=t0)
    cand = launches("B", [c.with_(true_us=5000.0 * 1.05)], seed=2, t0=t0 + 86400.0)
    later_noise = _history_around(0.002, 0.08, c, t0)
    row = stats.compare_frames(base, cand, history=later_noise, n_boot=300).rows[0]
    assert row.threshold == pytest.approx(0.02) and row.verdict is Verdict.SLOWER, row
    everything = stats.noise_floor(later_noise["run_median_us"].to_numpy())
    assert everything > 0.06  # what the old, non-causal floor would have been
    earlier_noise = _history_around(0.08, 0.002, c, t0)
    row = stats.compare_frames(base, cand, history=earlier_noise, n_boot=300).rows[0]
    assert row.threshold > 0.06 and row.verdict is not Verdict.SLOWER, row
    kept = stats.causal_history(later_noise, base, cand, cand_id="B")
    assert kept is not None and len(next(iter(kept.values()))) == 12


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
