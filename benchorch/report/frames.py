"""Launch frames as the report builders read them (pure helpers).

``prepared`` adds the configuration and series keys and the per-launch values
(``benchorch.stats``) once, so the recipe table and the failures table share
them; the others read single values safely.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from benchorch import stats


def prepared(launches: pd.DataFrame) -> pd.DataFrame:
    """``launches`` with configuration and series keys and launch values; a
    frame that already has them (``prepared`` before) is returned as it is."""
    if {"config_key", "series_key", "value_us", "ok"} <= set(launches.columns):
        return launches
    return stats.launch_values(stats.with_series_key(stats.with_config_key(launches)))


def first_value(rows: pd.DataFrame, column: str) -> Any:
    """The first non-missing value of ``column``, else ``None``."""
    if column not in rows.columns or rows.empty:
        return None
    vals = rows[column].dropna()
    return vals.iloc[0] if len(vals) else None


def as_float(value: Any) -> float:
    """``value`` as a float, NaN when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def finite_or_zero(v: float) -> float:
    return v if math.isfinite(v) else 0.0
