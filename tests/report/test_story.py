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


def test_executorch_rows_stand_beside_the_lite_ones() -> None:
    import pandas as pd

    from tests.report.builder import Cfg

    lite = Cfg(binary="sbt", flavour="lite", variant_format="lite")
    et = Cfg(binary="et-runner", flavour="executorch", variant_format="executorch")
    cfgs = [
        lite.with_(variant="baseline", true_us=9000.0),
        lite.with_(variant="fused", true_us=6000.0),
        lite.with_(variant="baseline", variant_format="flatbuffer", true_us=8800.0),
        et.with_(variant="executorch", true_us=30000.0),
        et.with_(variant="executorch+xnnpack", true_us=3000.0),
        et.with_(variant="executorch+xnnpack+int8", true_us=1500.0, size_bytes=300_000),
    ]
    frame = launches("r", cfgs, n_launches=4)
    variants = pd.DataFrame(
        {
            "sha256": [frame.loc[frame.variant == v, "variant_sha256"].iloc[0] for v in
                       ("executorch", "executorch+xnnpack")],
            "delegation": [
                {"backend": None, "delegated_subgraphs": 0, "delegated_nodes": 0, "cpu_nodes": 17},
                {"backend": "XnnpackBackend", "delegated_subgraphs": 1, "delegated_nodes": 15,
                 "cpu_nodes": 5},
            ],
        }
    )  # fmt: skip
    (phone,) = story.build_stories(frame, n_boot=50, variants=variants)
    rows = {r.variant: r for r in phone.rows if r.variant_format != "flatbuffer"}
    # one group across both binaries: every speed-up is over the lite baseline
    base = rows["baseline"]
    assert base.is_baseline and base.variant_format == "lite" and base.runtime == "TorchScript"
    for name in ("executorch", "executorch+xnnpack", "executorch+xnnpack+int8"):
        r = rows[name]
        assert r.runtime == "ExecuTorch" and r.speedup is not None
        assert r.speedup.value == pytest.approx(base.stats.median_us / r.stats.median_us)
    assert 4.0 < rows["executorch+xnnpack+int8"].speedup.value < 8.0  # type: ignore[union-attr]
    assert rows["fused"].is_lite_best and not rows["executorch+xnnpack"].is_lite_best
    assert rows["executorch"].delegation == "portable (17 nodes on CPU kernels)"
    assert rows["executorch+xnnpack"].delegation == "XNNPACK 75% (15 nodes, 5 on CPU)"
    assert rows["fused"].delegation == ""
    heat = story.build_heatmap([phone])
    assert heat is not None
    names = [name for name, _ in heat.rows]
    assert "executorch+xnnpack (ExecuTorch .pte)" in names and "fused (lite)" in names
    # and the page says so
    from benchorch.report import model, render

    html = render.render_run(
        model.build_run_report({"run_id": "r"}, frame, variants=variants, n_boot=50)
    )
    assert "· ExecuTorch · XNNPACK 75% (15 nodes, 5 on CPU)" in html
    assert "lite best" in html and "executorch+xnnpack (ExecuTorch .pte)" in html


def test_a_torchscript_only_run_keeps_its_full_jit_baseline(two_runs: dict[str, Any]) -> None:
    rep = report_of(two_runs)
    rows = rep.stories[0].rows
    assert rows[0].variant_format == "full_jit" and rows[0].is_baseline
    assert not any(r.is_lite_best or r.delegation or r.runtime == "ExecuTorch" for r in rows)
