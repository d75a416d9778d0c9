"""History across runs: run medians, noise floors, change points, creep (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchorch.stats.keys import launch_values, with_config_key, with_series_key
from benchorch.stats.nonparametric import kendall_trend_p, theil_sen_slope


def run_medians(
    launches: pd.DataFrame, *, run_order: Sequence[str] | None = None, key: str = "config_key"
) -> pd.DataFrame:
    """One row per (``key``, run): ``run_median_us`` (median of launch medians),
    ``n_ok``, ``t`` (first launch start), ``config_key`` (the run's first) and
    ``order`` (0, 1, ... per key, by ``run_order`` when given, else by ``t``).
    ``key`` is ``config_key`` (exact configuration) or ``series_key``. Rows
    that already carry ``config_key``, ``series_key`` or the launch values
    (``value_us`` and ``ok``, from ``launch_values``) are used as they are, so
    one prepared history serves both keys."""
    df = launches if "config_key" in launches.columns else with_config_key(launches)
    if key == "series_key" and "series_key" not in df.columns:
        df = with_series_key(df)
    if not {"value_us", "ok"} <= set(df.columns):
        df = launch_values(df)
    df = df[df["ok"]]
    cols = [key, "run_id", "run_median_us", "n_ok", "t", "config_key", "order"]
    if df.empty:
        return pd.DataFrame(columns=list(dict.fromkeys(cols)))
    t = df["started_at"] if "started_at" in df.columns else pd.Series(0.0, index=df.index)
    df = df.assign(t=pd.to_numeric(t, errors="coerce"))
    out = (
        df.groupby([key, "run_id"], sort=False)
        .agg(
            run_median_us=("value_us", "median"),
            n_ok=("value_us", "size"),
            t=("t", "min"),
            **({} if key == "config_key" else {"config_key": ("config_key", "first")}),
        )
        .reset_index()
    )
    if key == "config_key":
        out["config_key"] = out[key]
    if run_order is not None:
        rank = {r: i for i, r in enumerate(run_order)}
        out["rank"] = out["run_id"].map(rank)
        out = out.sort_values([key, "rank", "t"]).drop(columns="rank")
    else:
        out = out.sort_values([key, "t", "run_id"])
    out["order"] = out.groupby(key).cumcount()
    return out.reset_index(drop=True)


def robust_sigma(values: np.ndarray) -> float:
    """Noise of a series robust to steps and creep: ``1.4826 MAD(diff(x)) / sqrt(2)``.

    For i.i.d. normal ``x`` with sd ``s``, ``diff(x)`` has sd ``s sqrt 2`` and
    ``1.4826 MAD`` estimates an sd; a few steps move few differences, so they
    barely move the median.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 3:
        return float("nan")
    d = np.diff(x)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def noise_floor(history_us: Sequence[float] | np.ndarray, *, min_runs: int = 4) -> float:
    """A configuration's noise floor from its run medians: ``exp(2 sigma) - 1``
    with ``sigma = robust_sigma(log medians)`` (two run-to-run standard
    deviations, as a fraction). 0 with fewer than ``min_runs`` runs."""
    x = np.asarray(history_us, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if x.size < min_runs:
        return 0.0
    sigma = robust_sigma(np.log(x))
    return float(np.expm1(2.0 * sigma)) if np.isfinite(sigma) else 0.0


def change_points(
    values_us: Sequence[float] | np.ndarray,
    *,
    threshold: float = 4.0,
    min_size: int = 2,
    min_shift: float = 0.02,
) -> list[int]:
    """Indices where a new level starts, by binary segmentation on log values.

    With ``y = log x`` and ``sigma = robust_sigma(y)`` (floored at 0.2% so a
    noiseless series does not split on rounding), a segment ``y[a:b]`` of
    length ``n`` is split at the ``k`` maximising the standardised CUSUM
    ``T_k = |S_k - (k/n) S_n| / (sigma sqrt(k (n-k) / n))`` (``S_k`` the sum
    of its first ``k`` values; under "no change" ``T_k`` is a standard normal
    for each ``k``), when ``T_k > threshold`` and the two sides' means differ by
    more than ``log(1 + min_shift)``; each side is then searched again. A slow
    creep becomes a step once its accumulated shift is large enough.
    """
    y = np.log(np.asarray(values_us, dtype=float))
    if y.size < 2 * min_size or not np.isfinite(y).all():
        return []
    sigma = max(robust_sigma(y), 0.002)
    found: list[int] = []
    stack = [(0, y.size)]
    while stack:
        a, b = stack.pop()
        seg = y[a:b]
        n = seg.size
        if n < 2 * min_size:
            continue
        k = np.arange(min_size, n - min_size + 1)
        s = np.cumsum(seg)
        t = np.abs(s[k - 1] - k / n * s[-1]) / (sigma * np.sqrt(k * (n - k) / n))
        best = int(np.argmax(t))
        split = int(k[best])
        shift = abs(seg[:split].mean() - seg[split:].mean())
        if t[best] > threshold and shift > np.log1p(min_shift):
            found.append(a + split)
            stack.extend([(a, a + split), (a + split, b)])
    return sorted(found)


@dataclass(frozen=True)
class Creep:
    """A monotone drift: Theil-Sen slope (fraction per run) and Kendall's tau p."""

    slope_per_run: float
    total: float
    p_value: float
    significant: bool


def creep(
    values_us: Sequence[float] | np.ndarray, *, alpha: float = 0.01, min_total: float = 0.02
) -> Creep:
    """Slow creep on log values: Theil-Sen slope ``beta`` (median of pairwise
    slopes) and Kendall's tau test of ``y`` against run order. ``total`` is
    ``exp(beta (n - 1)) - 1``; significant when ``p < alpha``,
    ``|total| > min_total`` and a line fits better than one step (least-squares
    residual of the line below that of the best single split into two
    levels), so a plain step is a change point, not creep."""
    y = np.log(np.asarray(values_us, dtype=float))
    if y.size < 4 or not np.isfinite(y).all():
        return Creep(float("nan"), float("nan"), float("nan"), False)
    x = np.arange(y.size, dtype=float)
    beta = theil_sen_slope(y)
    p = kendall_trend_p(y)
    p = p if np.isfinite(p) else 1.0
    total = float(np.expm1(beta * (y.size - 1)))
    line = np.polyval(np.polyfit(x, y, 1), x)
    sse_line = float(((y - line) ** 2).sum())
    sse_step = min(
        float(((y[:k] - y[:k].mean()) ** 2).sum() + ((y[k:] - y[k:].mean()) ** 2).sum())
        for k in range(2, y.size - 1)
    )
    significant = p < alpha and abs(total) > min_total and sse_line < sse_step
    return Creep(float(np.expm1(beta)), total, p, significant)
