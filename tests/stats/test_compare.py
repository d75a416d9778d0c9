"""benchorch.stats: comparing two runs: verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchorch import stats
from benchorch.stats import Verdict
from tests.report.builder import Cfg, launches, many


def test_300_unchanged_configurations_give_no_confirmed_regression() -> None:
    cfgs = many(300)
    base = launches("A", cfgs, n_launches=10, n_iter=50, seed=1)
    cand = launches("B", cfgs, n_launches=10, n_iter=50, seed=2)
    cmp = stats.compare_frames(base, cand, base_id="A", cand_id="B", n_boot=300)
    assert len(cmp.rows) == 300
    assert cmp.counts["slower"] == 0 and cmp.counts["faster"] == 0
    assert cmp.counts["same"] + cmp.counts["inconclusive"] == 300
    assert not cmp.regressions and cmp.comparable
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
    assert cmp.regressions == (row,)


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
    assert not cmp.comparable
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
