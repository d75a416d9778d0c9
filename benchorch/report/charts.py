"""Pure chart geometry for the inline SVG of the reports.

The templates draw; this module only maps numbers to coordinates. Every
function returns plain frozen records of floats and strings so a template never
does arithmetic, and the maths can be tested:

* linear scale ``x -> r0 + (x - d0) / (d1 - d0) * (r1 - r0)``;
* log scale: the linear scale applied to ``log10 x`` (latencies of variants
  differ by factors, so strip plots share a log axis);
* "nice" ticks: steps of 1, 2 or 5 times a power of ten.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchorch.report import fmt


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


def linear(x: float, d0: float, d1: float, r0: float, r1: float) -> float:
    if d1 == d0:
        return (r0 + r1) / 2.0
    return r0 + (x - d0) / (d1 - d0) * (r1 - r0)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Ticks at multiples of a 1/2/5 x 10^k step covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 x 10^k inside [lo, hi]; falls back to the ends when none fit."""
    if lo <= 0 or hi <= lo:
        return [lo, hi] if lo > 0 else []
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**k
            if lo <= v <= hi:
                out.append(v)
    if len(out) < 3:
        out = [v for v in nice_ticks(lo, hi, 4) if v > 0]
    if len(out) > 7:
        out = [v for v in out if str(v).lstrip("0.").startswith("1")] or out
    return out or [lo, hi]


@dataclass(frozen=True)
class Spark:
    """A sparkline: ``points`` for a polyline, last point marked."""

    width: int
    height: int
    points: str
    last_x: float
    last_y: float


def sparkline(values: Sequence[float], width: int = 90, height: int = 22) -> Spark | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if len(vals) < 2:
        return None
    lo, hi = min(vals), max(vals)
    pad = 2.0
    pts = [
        (linear(i, 0, len(vals) - 1, pad, width - pad), linear(v, lo, hi, height - pad, pad))
        for i, v in enumerate(vals)
    ]
    return Spark(
        width, height, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts), pts[-1][0], pts[-1][1]
    )


@dataclass(frozen=True)
class StripRow:
    label: str
    y: float
    dots: tuple[tuple[float, float], ...]  # (x, launch median us)
    median_x: float
    q1_x: float
    q3_x: float


@dataclass(frozen=True)
class Strip:
    """Launch medians per configuration on a shared log axis, with a box of
    the quartiles and a bar at the median."""

    width: int
    height: int
    left: int
    rows: tuple[StripRow, ...]
    ticks: tuple[Tick, ...]


def strip(
    rows: Sequence[tuple[str, Sequence[float]]], width: int = 720, left: int = 260
) -> Strip | None:
    data = [(label, [v for v in vals if v > 0 and math.isfinite(v)]) for label, vals in rows]
    data = [(label, vals) for label, vals in data if vals]
    if not data:
        return None
    lo = min(min(v) for _, v in data) / 1.05
    hi = max(max(v) for _, v in data) * 1.05
    l0, l1 = math.log10(lo), math.log10(hi)
    right = width - 12

    def x(v: float) -> float:
        return linear(math.log10(v), l0, l1, left, right)

    out = []
    row_h = 22
    for i, (label, vals) in enumerate(data):
        y = 14 + i * row_h + row_h / 2
        s = sorted(vals)
        q1, med, q3 = (_quantile(s, q) for q in (0.25, 0.5, 0.75))
        dots = tuple((round(x(v), 2), v) for v in vals)
        out.append(StripRow(label, y, dots, x(med), x(q1), x(q3)))
    height = 14 + len(data) * row_h + 26
    ticks = tuple(Tick(x(v), fmt.us(v, digits=3)) for v in log_ticks(lo, hi))
    return Strip(width, height, left, tuple(out), ticks)


def _quantile(sorted_vals: Sequence[float], q: float) -> float:
    pos = q * (len(sorted_vals) - 1)
    i = math.floor(pos)
    j = min(i + 1, len(sorted_vals) - 1)
    return sorted_vals[i] + (sorted_vals[j] - sorted_vals[i]) * (pos - i)


@dataclass(frozen=True)
class HistoryPoint:
    x: float
    y: float
    value_us: float
    run_id: str
    changed: bool  # the exact configuration (binary, variant file, ...) changed here


@dataclass(frozen=True)
class History:
    """Run medians in run order; change points drawn as vertical lines at the
    first run of a new level, with the level means as horizontal segments."""

    width: int
    height: int
    points: tuple[HistoryPoint, ...]
    polyline: str
    change_xs: tuple[float, ...]
    levels: tuple[tuple[float, float, float], ...]  # (x0, x1, y)
    ticks: tuple[Tick, ...]
    left: int


def history(
    values: Sequence[float],
    run_ids: Sequence[str],
    change_points: Sequence[int],
    changed: Sequence[bool],
    *,
    width: int = 520,
    height: int = 150,
    left: int = 62,
) -> History | None:
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = hi - lo or abs(hi) * 0.05 or 1.0
    lo, hi = lo - 0.1 * span, hi + 0.1 * span
    top, bottom, right = 10.0, height - 20.0, width - 10.0
    n = len(values)

    def px(i: float) -> float:
        return linear(i, 0, max(n - 1, 1), left + 6, right - 6) if n > 1 else (left + right) / 2

    def py(v: float) -> float:
        return linear(v, lo, hi, bottom, top)

    pts = tuple(
        HistoryPoint(round(px(i), 2), round(py(v), 2), v, r, bool(c))
        for i, (v, r, c) in enumerate(zip(values, run_ids, changed, strict=True))
    )
    bounds = [0, *change_points, n]
    levels = []
    for a, b in itertools.pairwise(bounds):
        seg = sorted(values[a:b])
        if seg:
            levels.append((round(px(a), 2), round(px(b - 1), 2), round(py(_quantile(seg, 0.5)), 2)))
    cx = tuple(round((px(c - 1) + px(c)) / 2, 2) for c in change_points)
    ticks = tuple(Tick(py(v), fmt.us(v, digits=3)) for v in nice_ticks(lo, hi, 4))
    return History(
        width,
        height,
        pts,
        " ".join(f"{p.x},{p.y}" for p in pts),
        cx,
        tuple(levels),
        ticks,
        left,
    )


def heat_colour(speedup: float | None) -> str:
    """A diverging colour for a speed-up: green when faster than the baseline,
    red when slower, saturation growing with |log2 speed-up| up to 4x."""
    if speedup is None or not math.isfinite(speedup) or speedup <= 0:
        return "transparent"
    t = max(-1.0, min(1.0, math.log2(speedup) / 2.0))
    hue = 140 if t >= 0 else 0
    return f"hsla({hue}, 70%, 45%, {abs(t) * 0.75 + 0.08:.2f})"
