"""A comparison as the run report shows it (pure): rows slower first, each
with a sparkline of its series' history, and the baseline's A/A check."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchorch.report import charts, fmt
from benchorch.report.frames import finite_or_zero
from benchorch.stats import AACheck, Comparison, ComparisonRow


@dataclass(frozen=True)
class CompareRowView:
    row: ComparisonRow
    spark: charts.Spark | None


@dataclass(frozen=True)
class CompareView:
    base: str
    cand: str
    q: float
    min_effect: float
    counts: tuple[tuple[str, int], ...]
    rows: tuple[CompareRowView, ...]  # slower first, then failed, inconclusive, ...
    aa_flagged: int | None = None  # split-half A/A check of the base run: raw p <= 0.05
    aa_tested: int = 0
    aa_alarm: bool = False
    aa_text: str = ""


def build_compare_view(
    cmp: Comparison, history: pd.DataFrame | None = None, aa: AACheck | None = None
) -> CompareView:
    """Rows sorted slower first; each with a sparkline of its series' run
    medians (``history`` from ``stats.run_medians(..., key="series_key")``)."""
    series: dict[str, list[float]] = {}
    if history is not None and not history.empty:
        for key, grp in history.groupby("series_key", sort=False):
            series[str(key)] = grp.sort_values("order")["run_median_us"].tolist()
    views = []
    for row in sorted(
        cmp.rows,
        key=lambda r: (fmt.VERDICT_ORDER[r.verdict.value], -finite_or_zero(r.ratio), r.label),
    ):
        views.append(CompareRowView(row, charts.sparkline(series.get("|".join(row.pair), []))))
    aa_flagged = None if aa is None else aa.flagged
    return CompareView(
        cmp.base,
        cmp.cand,
        cmp.q,
        cmp.min_effect,
        tuple(cmp.counts.items()),
        tuple(views),
        aa_flagged,
        aa.tested if aa is not None else 0,
        aa.alarm if aa is not None else False,
        aa.describe() if aa is not None else "",
    )
