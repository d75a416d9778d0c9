"""The pure view models: what goes side by side, and the numbers behind it."""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np
import pytest

from benchorch import stats
from benchorch.report import charts, model, trend_model
from tests.report.builder import Cfg, launches, recipe
from tests.report.conftest import EVIL
from tests.report.wide import SKIP_REASON, SKIPPED_FILES, wide_report


def _report(two_runs: dict[str, Any], **kw: Any) -> model.RunReport:
    f = two_runs["frames"]
    return model.build_run_report(
        f["run"], two_runs["b"], devices=f["devices"], binaries=f["binaries"],
        variants=f["variants"], skips=f["skips"], n_boot=200, **kw,
    )  # fmt: skip


def test_story_orders_the_recipe_and_picks_the_baseline(two_runs: dict[str, Any]) -> None:
    rep = _report(two_runs)
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
    rep = _report(two_runs)
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


def test_failures_skips_and_facts_are_all_there(two_runs: dict[str, Any]) -> None:
    rep = _report(two_runs)
    assert {(f.device, f.variant, f.error_kind, f.count, f.total) for f in rep.failures} == {
        ("SM-G991B", "mobile", "missing_ops", 10, 10),
        (EVIL, "mobile", "missing_ops", 10, 10),
    }
    assert rep.failures[0].message == "Unknown builtin op: aten::foo"
    assert rep.skips[0].reason.startswith("Mobile optimization")
    assert rep.n_failed == 20 and rep.n_launches == len(two_runs["b"])
    assert ("model", EVIL) in rep.phones[1]
    # facts never recorded are left out rather than printed as blank lines
    assert all(v for phone in rep.phones for _, v in phone)
    frames = dict(two_runs["frames"])
    frames["devices"] = frames["devices"].assign(manufacturer=None, sdk=None)
    bare = model.build_run_report(
        frames["run"], two_runs["b"], **{k: v for k, v in frames.items() if k != "run"}, n_boot=50
    )
    assert [k for k, _ in bare.phones[0]] == [
        k for k, _ in rep.phones[0] if k not in ("manufacturer", "sdk")
    ]
    assert "binary: 1.13.1" in rep.torch_versions and "export: 2.13.0" in rep.torch_versions


def test_heatmap_variant_by_phone_then_by_dims() -> None:
    two = launches("r", recipe() + recipe("p2", "Pixel 8"), n_launches=4)
    stories = model.build_stories(two, n_boot=50)
    heat = model.build_heatmap(stories)
    assert heat is not None and set(heat.columns) == {"SM-G991B", "Pixel 8"}
    one = launches(
        "r",
        [c.with_(dims=d) for c in recipe()[:2] for d in ("1,3,224,224", "1,3,112,112")],
        n_launches=4,
    )
    heat1 = model.build_heatmap(model.build_stories(one, n_boot=50))
    assert heat1 is not None and set(heat1.columns) == {"1,3,224,224", "1,3,112,112"}
    (row,) = [r for name, r in heat1.rows if name.startswith("fused")]
    assert all(cell.value > 1.0 and cell.colour.startswith("hsla(140") for cell in row)


def test_comparison_view_sorts_slower_first_with_sparklines(two_runs: dict[str, Any]) -> None:
    view = model.build_compare_view(two_runs["cmp"], two_runs["hist"])
    verdicts = [v.row.verdict.value for v in view.rows]
    assert verdicts[0] == "slower" and verdicts.count("slower") == two_runs["cmp"].counts["slower"]
    assert {v.row.pair[1] for v in view.rows if v.row.verdict.value == "slower"} == {"fused"}
    assert all(v.spark is not None for v in view.rows if v.row.verdict.value != "failed")
    assert dict(view.counts) == two_runs["cmp"].counts


def test_reproduce_command() -> None:
    argv = {"params": {"argv": ["sweep", "--device", "R58M1", "--model", "my model.pt; rm -rf /"]}}
    cmd = model.reproduce_command(argv)
    assert shlex.split(cmd) == [
        "benchorch",
        "sweep",
        "--device",
        "R58M1",
        "--model",
        "my model.pt; rm -rf /",
    ]
    built = model.reproduce_command(
        {
            "command": "sweep",
            "params": {
                "device": ["a", "b"],
                "launches": 10,
                "quiet": True,
                "resume": None,
                "x": {"k": 1},
            },
        }
    )
    assert shlex.split(built) == [
        "benchorch",
        "sweep",
        "--device",
        "a",
        "--device",
        "b",
        "--launches",
        "10",
        "--quiet",
    ]
    assert (
        model.reproduce_command({"command": "benchorch sweep --device local"})
        == "benchorch sweep --device local"
    )


def test_chart_geometry() -> None:
    assert charts.nice_ticks(0.0, 10.0, 5) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert charts.log_ticks(90.0, 1100.0) == [100.0, 200.0, 500.0, 1000.0]
    assert charts.sparkline([1.0]) is None
    sp = charts.sparkline([1.0, 3.0, 2.0], width=100, height=20)
    assert sp is not None and sp.points.startswith("2.0,18.0") and sp.last_x == 98.0
    h = charts.history(
        [1.0, 1.0, 2.0, 2.0],
        ["a", "b", "c", "d"],
        [2],
        [False, False, True, False],
        width=100,
        left=10,
    )
    assert h is not None and len(h.change_xs) == 1
    assert h.points[1].x < h.change_xs[0] < h.points[2].x
    assert (
        len(h.levels) == 2 and h.levels[0][2] > h.levels[1][2]
    )  # higher value = higher up (smaller y)
    st = charts.strip([("a", [100.0, 200.0]), ("b", [1000.0])])
    assert st is not None and st.rows[0].dots[0][0] < st.rows[0].dots[1][0] < st.rows[1].dots[0][0]


def test_trend_model_marks_change_points_and_config_changes() -> None:
    c = Cfg(launch_sigma=0.005)
    nights = []
    for i in range(20):
        cfg = c.with_(
            true_us=5000.0 * (1.10 if i >= 12 else 1.0), binary="bin-2" if i >= 12 else "bin-1"
        )
        nights.append(
            launches(
                f"n{i:02d}",
                [cfg, c.with_(variant="flat")],
                n_launches=5,
                seed=i,
                t0=1.78e9 + i * 86400,
            )
        )
    import pandas as pd

    rep = trend_model.build_trend_report(pd.concat(nights))
    assert rep.n_runs == 20 and len(rep.series) == 2
    flagged = rep.series[0]
    assert flagged.flagged and "baseline" in flagged.label and flagged.change_points == ("n12",)
    assert flagged.chart is not None and [p.changed for p in flagged.chart.points].index(True) == 12
    assert flagged.change == pytest.approx(0.10, abs=0.02)
    assert not rep.series[1].flagged
    assert stats.change_points([p.value_us for p in flagged.chart.points]) == [12]


def test_skips_are_grouped_by_reason_with_the_files_they_cover() -> None:
    """A lite binary skips seven full-JIT files for one reason: one row naming the seven."""
    rep = wide_report(n_boot=20)
    assert len(rep.skips) == 1
    (group,) = rep.skips
    assert group.reason == SKIP_REASON and group.count == 7
    assert group.files == SKIPPED_FILES and group.devices == ("R58M1",)
    assert rep.headline.n_skipped == 7


def test_headline_names_each_phones_best_variant_and_what_failed(
    two_runs: dict[str, Any],
) -> None:
    rep = _report(two_runs)
    by_device = {p.device: p for p in rep.headline.phones}
    assert set(by_device) == {"SM-G991B", EVIL}
    for story in rep.stories:
        best = by_device[story.device].best
        assert best is not None and best.speedup is not None and not best.is_baseline
        # the largest speed-up of the phone's table (the builder's fused+quantized, ~2.6x)
        assert best.speedup.value == max(r.speedup.value for r in story.rows if r.speedup)
        assert (best.variant, best.variant_format) == ("fused+quantized", "full_jit")
    (failed,) = rep.headline.failed
    assert failed.variant == "mobile" and failed.error_kinds == ("missing_ops",)
    assert set(failed.devices) == {"SM-G991B", EVIL} and (failed.failed, failed.total) == (20, 20)


def test_headline_of_a_phone_with_nothing_faster_than_its_baseline() -> None:
    slow = [Cfg(), Cfg(variant="fused", true_us=6000.0)]
    rep = model.build_run_report({"run_id": "r"}, launches("r", slow, seed=4), n_boot=20)
    (phone,) = rep.headline.phones
    assert phone.best is not None and phone.best.variant == "fused"
    assert phone.best.speedup is not None and phone.best.speedup.value < 1
    assert rep.headline.failed == ()
