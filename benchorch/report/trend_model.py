"""The trend report's view model (pure): history per series across runs.

A **series** is ``stats.with_series_key``: phone, variant, dims, types, memory
format, threads and kind. It follows a configuration across nightly runs even
when the binary or the variant file changes (points where the exact
``config_key`` changed are marked). Per series: the run medians (median of
launch medians) in run order, ``stats.change_points`` on them (binary
segmentation of log medians) and ``stats.creep`` (Theil-Sen slope with
Kendall's tau), so both steps and slow drift show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from benchorch import stats
from benchorch.report import charts, fmt


@dataclass(frozen=True)
class TrendSeries:
    key: str
    label: str
    device: str
    n_runs: int
    first_us: float
    last_us: float
    change: float  # last / first - 1
    change_points: tuple[str, ...]  # run ids where a new level starts
    creep: stats.Creep
    chart: charts.History | None

    @property
    def flagged(self) -> bool:
        return bool(self.change_points) or self.creep.significant


@dataclass(frozen=True)
class TrendReport:
    title: str
    scope: tuple[tuple[str, str], ...]
    n_runs: int
    n_launches: int
    series: tuple[TrendSeries, ...]  # flagged first

    @property
    def n_flagged(self) -> int:
        return sum(s.flagged for s in self.series)


def build_trend_report(
    launches: pd.DataFrame,
    *,
    run_order: Sequence[str] | None = None,
    devices: Sequence[str] | None = None,
    since: str | None = None,
) -> TrendReport:
    """Every series of ``launches`` (any number of runs) with its chart."""
    rm = stats.run_medians(launches, run_order=run_order, key="series_key")
    series = []
    for key, grp in rm.groupby("series_key", sort=True):
        grp = grp.sort_values("order")
        values = grp["run_median_us"].to_numpy(dtype=float)
        runs = [str(r) for r in grp["run_id"]]
        cfgs = grp["config_key"].tolist()
        changed = [i > 0 and cfgs[i] != cfgs[i - 1] for i in range(len(cfgs))]
        cps = stats.change_points(values)
        parts = str(key).split("|")
        label = stats.pair_label(parts) if len(parts) == len(stats.PAIR_FIELDS) else str(key)
        series.append(
            TrendSeries(
                key=str(key),
                label=label,
                device=parts[0],
                n_runs=len(values),
                first_us=float(values[0]),
                last_us=float(values[-1]),
                change=float(values[-1] / values[0] - 1.0) if values[0] > 0 else math.nan,
                change_points=tuple(runs[c] for c in cps),
                creep=stats.creep(values),
                chart=charts.history(values.tolist(), runs, cps, changed),
            )
        )
    series.sort(key=lambda s: (not s.flagged, s.device, s.label))
    scope = [("runs", str(rm["run_id"].nunique()) if not rm.empty else "0")]
    if not rm.empty:
        scope.append(("from", fmt.utc(rm["t"].min())))
        scope.append(("to", fmt.utc(rm["t"].max())))
    if devices:
        scope.append(("devices", ", ".join(devices)))
    if since:
        scope.append(("since", fmt.cell(since)))
    return TrendReport(
        title="benchorch trend",
        scope=tuple(scope),
        n_runs=int(rm["run_id"].nunique()) if not rm.empty else 0,
        n_launches=len(launches),
        series=tuple(series),
    )
