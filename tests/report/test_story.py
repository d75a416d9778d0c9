"""The recipe per phone and the heatmap: order, baseline, speed-up, load time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchorch.report import story
from tests.report.builder import launches, recipe
from tests.report.conftest import EVIL, report_of


def test_story_orders_the_recipe_and_picks_the_baseline(two_runs: dict[str, Any]) -> None:
    rep = report_of(two_runs)
    assert [s.device for s in rep.stories] == sorted(["SM-G991B", EVIL])
    rows = rep.stories[0].rows
    names = [(r.variant, r.variant_format) for r in rows]
    assert names[0] == ("baseline", "full_jit") and rows[0].is_baseline
    assert names.index(("fused", "full_jit")) < names.index(("fused+quantized", "full_jit"))
    assert names.index(("fused+quantized", "full_jit")) < names.index(("baseline", "lite"))
    assert names[-1] == ("baseline", "flatbuffer")
    assert all(
        r.stats.key.endswith("latency") for r in rows
    )  # load launches are a column, not rows


def test_speedup_and_load_time_match_stats(two_runs: dict[str, Any]) -> None:
    b = two_runs["b"]
    rep = report_of(two_runs)
    rows = {(r.variant, r.variant_format): r for r in rep.stories[1].rows}  # SM-G991B
    base, fq = rows[("baseline", "full_jit")], rows[("fused+quantized", "full_jit")]
    assert fq.speedup is not None
    assert fq.speedup.value == pytest.approx(base.stats.median_us / fq.stats.median_us)
    assert fq.speedup.ci_low < fq.speedup.value < fq.speedup.ci_high
    assert 2.3 < fq.speedup.value < 2.9  # the builder's true ratio is 9000 / 3500
    loads = b[
        (b.kind == "load")
        & (b.device_serial == "R58M1")
        & (b.variant == "baseline")
        & (b.variant_format == "lite")
    ]
    assert rows[("baseline", "lite")].load_us == pytest.approx(np.median(loads["load_s"]) * 1e6)
    assert np.isnan(rows[("fused", "full_jit")].load_us)
    assert (
        rows[("mobile", "full_jit")].stats.n_ok == 0
        and rows[("mobile", "full_jit")].speedup is None
    )


def test_heatmap_variant_by_phone_then_by_dims() -> None:
    two = launches("r", recipe() + recipe("p2", "Pixel 8"), n_launches=4)
    stories = story.build_stories(two, n_boot=50)
    heat = story.build_heatmap(stories)
    assert heat is not None and set(heat.columns) == {"SM-G991B", "Pixel 8"}
    one = launches(
        "r",
        [c.with_(dims=d) for c in recipe()[:2] for d in ("1,3,224,224", "1,3,112,112")],
        n_launches=4,
    )
    heat1 = story.build_heatmap(story.build_stories(one, n_boot=50))
    assert heat1 is not None and set(heat1.columns) == {"1,3,224,224", "1,3,112,112"}
    (row,) = [r for name, r in heat1.rows if name.startswith("fused")]
    assert all(cell.value > 1.0 and cell.colour.startswith("hsla(140") for cell in row)
