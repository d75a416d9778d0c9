"""The A/A check inside one run: can its launches be told apart from themselves? (pure)

``split_half_aa`` compares a run's even-numbered launches with its odd ones
through the whole ``compare_frames`` pipeline: nothing changed between the
halves, so every ``faster``/``slower`` is a false alarm. On its own that
check could not warn: at 10 launches a run has 5 against 5 a side, whose
smallest exact p is 0.0079, and across 300 configurations Benjamini-Hochberg
needs about 1.7e-4: it always said "0 false alarms".

``aa_check`` therefore judges the run as a whole: under exchangeable launches
each configuration's raw p falls at or under ``ALPHA`` with the exact null
rate of its launch counts (``mann_whitney_null_rate``: 3.2% at 5 a side, not
5%), so the number of configurations that do is a sum of independent
Bernoulli trials. ``alarm`` when that count is improbably high (upper tail
under ``ALARM_P``, by the Poisson-binomial's normal approximation with
continuity correction): the run's launches are not exchangeable (launches
alternating between states, a phone changing between consecutive launches),
and a comparison of such launches will over-call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchorch.stats.compare import Comparison, Verdict, compare_frames
from benchorch.stats.nonparametric import mann_whitney_null_rate

ALPHA = 0.05
ALARM_P = 1e-3


def split_half_aa(launches: pd.DataFrame, **kwargs: Any) -> Comparison:
    """An A/A comparison inside one run: its even-numbered launches against
    its odd ones, through the whole ``compare_frames`` pipeline."""
    idx = pd.to_numeric(launches["launch_index"], errors="coerce").fillna(0).astype(int)
    even, odd = launches[idx % 2 == 0], launches[idx % 2 == 1]
    return compare_frames(even, odd, base_id="even launches", cand_id="odd launches", **kwargs)


@dataclass(frozen=True)
class AACheck:
    """The split-half A/A check of one run (see the module)."""

    tested: int  # configurations with a p-value
    flagged: int  # of them, raw p <= ALPHA
    expected: float  # what exchangeable launches give on average
    p_value: float  # P(at least ``flagged`` | exchangeable)
    alarm: bool
    false_verdicts: int  # faster/slower after the correction (rarely possible)

    def describe(self) -> str:
        head = "ALARM: launches not exchangeable" if self.alarm else "no alarm"
        return (
            f"{head}: {self.flagged} of {self.tested} configurations at raw p ≤ {ALPHA}"
            f" where {self.expected:.1f} are expected (p {self.p_value:.2g})"
        )


def aa_check(launches: pd.DataFrame, **kwargs: Any) -> AACheck:
    """``split_half_aa`` of ``launches`` judged as a whole (see the module)."""
    cmp = split_half_aa(launches, **kwargs)
    rows = [r for r in cmp.rows if np.isfinite(r.p_value)]
    flagged = sum(r.p_value <= ALPHA * (1 + 1e-12) for r in rows)
    rates = np.array([mann_whitney_null_rate(r.n_base, r.n_cand, ALPHA) for r in rows])
    expected = float(rates.sum())
    var = float((rates * (1 - rates)).sum())
    if not rows or var <= 0:
        p = 1.0
    else:
        z = (flagged - 0.5 - expected) / math.sqrt(var)
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
    false = sum(r.verdict in (Verdict.SLOWER, Verdict.FASTER) for r in cmp.rows)
    return AACheck(
        tested=len(rows),
        flagged=int(flagged),
        expected=expected,
        p_value=float(min(1.0, p)),
        alarm=bool(p < ALARM_P) or false > 0,
        false_verdicts=false,
    )
