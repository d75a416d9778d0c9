"""The trend view model: change points and configuration changes."""

from __future__ import annotations

import pytest

from benchorch import stats
from benchorch.report import trend_model
from tests.report.builder import Cfg, launches


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
