"""benchorch.stats.pool: the screen's baseline pooled with its earlier runs;
the confirmation's one-sided exact test."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from benchorch import stats
from benchorch.stats import Verdict
from tests.report.builder import launches, many

DAY = 86_400.0
T0 = 1_780_000_000.0


def test_the_pool_takes_only_the_same_configuration_on_the_same_phone_before_the_candidate() -> (
    None
):
    cfgs = many(3, launch_sigma=0.03)
    base = launches("base", cfgs, seed=1, t0=T0)
    same = launches("old-1", cfgs, seed=2, t0=T0 - DAY)
    other_binary = launches("old-2", [c.with_(binary="bin-2") for c in cfgs], seed=3, t0=T0 - DAY)
    other_phone = launches(
        "old-3", [c.with_(device_serial="X1") for c in cfgs], seed=4, t0=T0 - 2 * DAY
    )
    later = launches("later", cfgs, seed=5, t0=T0 + 2 * DAY)
    cand = launches("cand", cfgs, seed=6, t0=T0 + DAY)
    earlier = pd_concat(same, other_binary, other_phone, later, cand)
    pool = stats.pooled_baseline(base, earlier, before=T0 + DAY, exclude=("cand",))
    assert sorted(set(pool["run_id"])) == ["base", "old-1"]
    assert len(pool) == len(base) + len(same)
    # without a cut the later run is pooled too; the candidate never
    loose = stats.pooled_baseline(base, earlier, exclude=("cand",))
    assert sorted(set(loose["run_id"])) == ["base", "later", "old-1"]
    assert stats.pooled_baseline(base, earlier.iloc[:0]) is base


def pd_concat(*frames):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_pooling_earlier_runs_shrinks_the_screens_standard_error_and_keeps_its_labels() -> None:
    cfgs = many(30, launch_sigma=0.04)
    base = launches("base", cfgs, seed=1, n_iter=10)
    cand = launches("cand", cfgs, seed=2, n_iter=10, t0=T0 + DAY)
    earlier = pd_concat(
        *(
            launches(f"old-{k}", cfgs, seed=10 + k, n_iter=10, t0=T0 - (k + 1) * DAY)
            for k in range(5)
        )
    )
    plain = stats.compare_frames(base, cand, cand_id="cand", n_boot=50)
    pooled = stats.pooled_comparison(base, earlier, cand, cand_id="cand")
    assert [r.label for r in plain.rows] == [r.label for r in pooled.rows]
    assert all(r.n_base == 60 for r in pooled.rows)
    ratio = np.median([p.log_se / r.log_se for p, r in zip(pooled.rows, plain.rows, strict=True)])
    assert 0.65 < ratio < 0.9  # sqrt(1/10 + 1/60) / sqrt(2/10) = 0.76
    scores = stats.pooled_scores(base, earlier, cand, cand_id="cand")
    assert set(scores) == {r.label for r in plain.rows}


def test_the_pooled_screen_finds_a_small_regression_the_plain_one_misses_more_often() -> None:
    """A 5% regression among 60 configurations, 20 nights: the pooled screen
    ranks it among the top 5 more often than the screen on one baseline run."""
    cfgs = many(60, launch_sigma=0.04)
    plain_hits = pooled_hits = 0
    for night in range(20):
        slow = [c.with_(true_us=c.true_us * 1.05) if c.variant == "v7" else c for c in cfgs]
        base = launches("base", cfgs, seed=100 * night, n_iter=10)
        cand = launches("cand", slow, seed=100 * night + 1, n_iter=10, t0=T0 + DAY)
        earlier = pd_concat(*(
            launches(f"old-{k}", cfgs, seed=100 * night + 2 + k, n_iter=10, t0=T0 - (k + 1) * DAY)
            for k in range(5)
        ))  # fmt: skip
        cmp = stats.compare_frames(base, cand, cand_id="cand", n_boot=20)
        pooled = stats.pooled_scores(base, earlier, cand, cand_id="cand")
        for scores, hit in ((stats.screen_scores(cmp), "plain"), (pooled, "pooled")):
            picked = stats.pick_suspects(cmp, budget=10_000, max_suspects=5, scores=scores)
            if "v7" in [s.pair[1] for s in picked]:
                plain_hits += hit == "plain"
                pooled_hits += hit == "pooled"
    assert pooled_hits > plain_hits, (pooled_hits, plain_hits)


@pytest.mark.parametrize("n1,n2", [(4, 6), (10, 10), (30, 25), (55, 60)])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_the_one_sided_exact_test_matches_scipy(n1: int, n2: int, alternative: str) -> None:
    rng = np.random.default_rng(n1 * n2)
    a, b = rng.lognormal(0, 0.05, n1), rng.lognormal(0.03, 0.05, n2)
    method = "exact" if max(n1, n2) <= 50 else "asymptotic"
    want = scipy.stats.mannwhitneyu(np.log(b), np.log(a), alternative=alternative, method=method)
    assert stats.mann_whitney(a, b, alternative=alternative) == pytest.approx(want.pvalue, rel=1e-9)


def test_the_confirmation_tests_each_suspect_in_the_screens_direction() -> None:
    """A slower suspect that the confirmation finds faster is not ``faster``:
    its one-sided p is large (the direction was fixed by the screen, so the
    error control holds); the same launches two-sided would call it faster."""
    cfgs = many(4, launch_sigma=0.02)
    fast = [c.with_(true_us=c.true_us * 0.85) if c.variant == "v1" else c for c in cfgs]
    cmp = stats.compare_frames(launches("A", cfgs, seed=1), launches("B", cfgs, seed=2), n_boot=50)
    (row,) = [r for r in cmp.rows if r.pair[1] == "v1"]
    wrong_way = stats.Suspect(row.label, row.pair, str(row.base_key), str(row.cand_key),
                              Verdict.SLOWER, 2.0, row.ratio, row.p_value, 20)  # fmt: skip
    cb = launches("cb", [cfgs[1]], n_launches=20, seed=3)
    cc = launches("cc", [fast[1]], n_launches=20, seed=4)
    one = stats.judge_confirmation(cmp, (wrong_way,), cb, cc, n_boot=50)
    two = stats.judge_confirmation(cmp, (wrong_way,), cb, cc, n_boot=50, one_sided=False)
    (r1,) = [r for r in one.rows if r.label == row.label]
    (r2,) = [r for r in two.rows if r.label == row.label]
    assert r2.verdict is Verdict.FASTER and r1.verdict is not Verdict.FASTER
    assert r1.p_value > 0.99
