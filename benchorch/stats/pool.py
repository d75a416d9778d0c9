"""A baseline pooled with its earlier runs, for the screen (pure).

The screen (``confirm.screen_scores``) ranks configurations by how far their
change stands out; its standard error has a baseline half and a candidate
half. The baseline half shrinks with every earlier run of **the same
configuration on the same phone** (same ``config_key``: same build, binary
and variant file by content hash, dims, threads, ...): with 5 earlier runs of
10 launches, ``se`` falls from ``sqrt(1/10 + 1/10)`` to ``sqrt(1/10 + 1/60)``
launch noises, 0.76x, and a single 5% regression among 300 configurations
ranks among the suspects far more often (``benchmarks/verdicts_sim.py``).

Only the screen uses the pool: it chooses where the confirmation launches
go and nothing else, so pooling cannot add a false ``slower`` (the error
control of ``confirm`` holds whatever the screen chose). Whole-run shifts of
the earlier runs (another room, another night) move every configuration
alike and leave the screen's median shift to take out.

Causal: a run that started after ``before`` (the candidate's start) is never
pooled, nor the candidate itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchorch.stats.compare import Comparison, compare_frames
from benchorch.stats.confirm import screen_scores
from benchorch.stats.keys import with_config_key

#: Earlier runs pooled into the baseline by default.
DEFAULT_WINDOW = 5
#: Bootstrap resamples of the pooled comparison: only its ``log_change`` and
#: ``log_se`` are used (no bootstrap in them), its interval is not.
POOL_BOOT = 50


def _starts(df: pd.DataFrame) -> pd.Series:
    t = pd.to_numeric(df["started_at"], errors="coerce") if "started_at" in df else None
    if t is None:
        return pd.Series(dtype=float)
    return t.groupby(df["run_id"].astype(str)).min()


def pooled_baseline(
    base: pd.DataFrame,
    earlier: pd.DataFrame,
    *,
    before: float | None = None,
    exclude: Sequence[str] = (),
) -> pd.DataFrame:
    """``base``'s launches and those of ``earlier`` (launch rows of any runs)
    that measured one of ``base``'s configurations on the same phone (equal
    ``config_key`` and ``device_serial``). Dropped from ``earlier``: the runs
    in ``base`` or ``exclude`` (the candidate) and runs whose first launch
    started after ``before``."""
    if earlier is None or earlier.empty or base.empty:
        return base
    runs = earlier["run_id"].astype(str)
    skip = {*base["run_id"].astype(str), *map(str, exclude)}
    keep = ~runs.isin(skip)
    if before is not None and np.isfinite(before):
        starts = _starts(earlier)
        late = set(starts.index[starts > before])
        keep &= ~runs.isin(late)
    earlier = earlier[keep]
    if earlier.empty:
        return base
    b = with_config_key(base)
    e = with_config_key(earlier)
    wanted = set(zip(b["config_key"], b["device_serial"].astype(str), strict=True))
    match = [
        (k, s) in wanted
        for k, s in zip(e["config_key"], e["device_serial"].astype(str), strict=True)
    ]
    matched = earlier[np.asarray(match, dtype=bool)]
    if matched.empty:
        return base
    return pd.concat([base, matched], ignore_index=True)


def pooled_comparison(
    base: pd.DataFrame,
    earlier: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    cand_id: str = "cand",
    vary: Sequence[str] = (),
    seed: int = 0,
) -> Comparison:
    """The candidate against ``pooled_baseline(base, earlier)`` (causal to the
    candidate's start): the screen's comparison. Its labels are the plain
    comparison's (the same phones and configurations)."""
    before = _starts(cand).min() if not cand.empty else None
    pool = pooled_baseline(
        base, earlier, before=None if before is None else float(before), exclude=(cand_id,)
    )
    # each pooled configuration is one configuration key over several runs
    pool = pool.assign(run_id="pooled-baseline")
    return compare_frames(
        pool, cand, base_id="pooled-baseline", cand_id=cand_id, vary=vary, n_boot=POOL_BOOT,
        seed=seed,
    )  # fmt: skip


def pooled_scores(
    base: pd.DataFrame,
    earlier: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    cand_id: str = "cand",
    vary: Sequence[str] = (),
    seed: int = 0,
) -> dict[str, float]:
    """The screen's score (``confirm.screen_scores``) of each configuration,
    its baseline pooled with ``earlier`` (see the module)."""
    return screen_scores(
        pooled_comparison(base, earlier, cand, cand_id=cand_id, vary=vary, seed=seed)
    )
