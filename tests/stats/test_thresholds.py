"""benchorch.stats.thresholds: --threshold 5% and [thresholds] by pattern."""

from __future__ import annotations

import pytest

from benchorch import stats
from benchorch.errors import ConfigError
from benchorch.stats import Verdict
from benchorch.stats.thresholds import parse_percent, parse_thresholds, threshold_for
from tests.report.builder import launches, many


@pytest.mark.parametrize("value", [5, 5.0, "5", "5%", " 5 % "])
def test_a_percent_is_read_with_or_without_its_sign(value: object) -> None:
    assert parse_percent(value, what="--threshold") == 5.0


@pytest.mark.parametrize("value", [0, -1, "x", "150%", True, None])
def test_a_bad_threshold_names_itself_and_the_fix(value: object) -> None:
    with pytest.raises(ConfigError, match="--threshold") as err:
        parse_percent(value, what="--threshold")
    assert "percent" in str(err.value.hint)


def test_the_first_matching_pattern_wins_on_the_variant_or_device_slash_variant() -> None:
    table = parse_thresholds(
        {"baseline": 3, "*quantized*": "8%", "Pixel 8/*": 6}, what="[thresholds]"
    )
    assert table == (("baseline", 3.0), ("*quantized*", 8.0), ("Pixel 8/*", 6.0))
    assert threshold_for(table, "fused+quantized", "Pixel 8") == 8.0
    assert threshold_for(table, "fused", "Pixel 8") == 6.0
    assert threshold_for(table, "fused", "SM-G991B") is None
    assert parse_thresholds([["a", 1], ["b", "2%"]], what="x") == (("a", 1.0), ("b", 2.0))
    with pytest.raises(ConfigError, match=r"\[thresholds\] 'x'"):
        parse_thresholds({"x": "big"}, what="[thresholds]")
    with pytest.raises(ConfigError, match="pattern = percent"):
        parse_thresholds("5", what="[thresholds]")


def test_a_per_configuration_threshold_sets_its_minimum_effect_and_same() -> None:
    """A 6% slowdown on v1: ``slower`` by default (2% minimum effect), ``same``
    where its pattern says 10% is no practical change; the other configurations
    keep the default."""
    cfgs = many(3, launch_sigma=0.005)
    slow = [c.with_(true_us=c.true_us * 1.06) if c.variant == "v1" else c for c in cfgs]
    base, cand = launches("A", cfgs, seed=1), launches("B", slow, seed=2)
    plain = stats.compare_frames(base, cand, n_boot=200)
    loose = stats.compare_frames(base, cand, n_boot=200, thresholds=(("v1", 10.0),))
    (p1,) = [r for r in plain.rows if r.pair[1] == "v1"]
    (l1,) = [r for r in loose.rows if r.pair[1] == "v1"]
    assert p1.verdict is Verdict.SLOWER and p1.min_effect == pytest.approx(0.02)
    assert l1.verdict is Verdict.SAME and l1.min_effect == l1.threshold == pytest.approx(0.10)
    assert "no change beyond ±10.0%" in l1.reason and "95% interval" in l1.reason
    others = [r for r in loose.rows if r.pair[1] != "v1"]
    assert all(r.min_effect == pytest.approx(0.02) for r in others)
