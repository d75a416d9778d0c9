"""benchorch.stats: per-configuration summaries, ratios and the summary cache."""

from __future__ import annotations

import numpy as np
import pytest

from benchorch import stats
from tests.report.builder import Cfg, launches, many


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


def test_bootstrap_is_seeded_and_order_free() -> None:
    df = launches("r1", many(3), n_launches=5)
    a = stats.summarize(df, n_boot=100)
    b = stats.summarize(df.iloc[::-1].reset_index(drop=True), n_boot=100)
    for key in a:
        assert a[key][0].ci_low_us == b[key][0].ci_low_us


def test_speedup_interval_contains_truth() -> None:
    df = launches("r1", [Cfg(true_us=6000.0), Cfg(variant="fused", true_us=4000.0)], n_launches=10)
    summ = stats.summarize(df, n_boot=500)
    (bk,) = [k for k in summ if stats.config_key(df[df.variant == "baseline"].iloc[0]) == k]
    (vk,) = [k for k in summ if k != bk]
    r = stats.speedup(*summ[bk], *summ[vk])
    assert r.ci_low < 1.5 < r.ci_high
    assert r.value == pytest.approx(summ[bk][0].median_us / summ[vk][0].median_us)


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
