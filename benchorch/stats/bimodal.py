"""Launches that fall in two clusters (pure).

A phone that lands some launches on its little cores, or throttles part of a
run, gives launch medians in two groups far apart (often about 2x). Their
median answers no question (it jumps between the groups with how many
launches landed where), and an interval over them is wide, so a comparison
of such a side used to end ``inconclusive`` with nothing saying why. The
comparison now names it: ``Verdict.BIMODAL`` with the share and the factor.

Rule (on the log launch medians of one side, sorted): split at the widest
gap; the side is bimodal when the gap is at least ``log(MIN_FACTOR)``, at
least ``SEPARATION`` times the spread inside the two groups (their pooled
robust standard deviation, at least 0.5%), and the smaller group holds at
least ``MIN_MINOR`` launches (a single slow launch is an outlier the median
of launches already ignores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_FACTOR = 1.15
SEPARATION = 6.0
MIN_MINOR = 2


@dataclass(frozen=True)
class Bimodal:
    """Two clusters of launches: ``n_slow`` of ``n`` launches ``factor`` times
    slower than the others."""

    n: int
    n_slow: int
    factor: float

    def describe(self, side: str) -> str:
        return (
            f"{side}: {self.n_slow} of {self.n} launches {self.factor:.2f}x slower than"
            f" the other {self.n - self.n_slow} (little cores, throttling?)"
        )


def _spread(y: np.ndarray) -> float:
    if y.size < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(y - np.median(y))))


def bimodality(launch_medians: Sequence[float] | np.ndarray) -> Bimodal | None:
    """The two clusters of a side's launch medians, or None (see the module)."""
    x = np.asarray(launch_medians, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if x.size < 2 * MIN_MINOR:
        return None
    y = np.sort(np.log(x))
    gaps = np.diff(y)
    cut = int(np.argmax(gaps)) + 1
    low, high = y[:cut], y[cut:]
    if min(low.size, high.size) < MIN_MINOR:
        return None
    gap = float(gaps[cut - 1])
    spread = max(
        np.sqrt((_spread(low) ** 2 * low.size + _spread(high) ** 2 * high.size) / y.size), 0.005
    )
    if gap < np.log(MIN_FACTOR) or gap < SEPARATION * spread:
        return None
    factor = float(np.exp(np.median(high) - np.median(low)))
    return Bimodal(n=int(y.size), n_slow=int(high.size), factor=factor)
