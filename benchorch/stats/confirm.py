"""Screen, then confirm: the two-stage verdict of a night (pure).

A night's planned launches (10 a side) cannot, on their own, tell a single 5%
regression among 300 configurations from noise: after any correction for 300
tests the evidence 10 launches give is too weak (issue 14 measured 0 of 100
nights). Chromium's Pinpoint answers "unsure" with more samples; so does this:

1. **Screen** (``pick_suspects``): every configuration of the comparison gets
   a score ``z = (d - s) / se``: ``d`` the change of its mean log launch
   median, ``se`` its Welch standard error (``ComparisonRow.log_change``,
   ``log_se``; the mean, not the median, because it ranks better: 1.25x the
   median's efficiency on normal launches), ``s`` the median ``d`` of all the
   night's configurations when there are at least ``MIN_FOR_SHIFT`` (a
   whole-run drift of 1-2%, a warmer room, moves every configuration alike
   and is not a suspect; under ``MIN_FOR_SHIFT``, 0). With that many, each
   ``se`` is also shrunk halfway (in variance) to the night's median ``se``:
   an ``se`` from 10 + 10 launches is itself noisy, and a configuration that
   drew a small one would rank high by luck (the simulation: the regressed
   configuration among the top 10 in 69% of nights instead of 66%).
   Suspects: ``z >= z_min`` (slower) first, by ``z``, then ``z <= -z_min`` (faster), at most
   ``max_suspects``; the budget is shared among them (``per_side`` launches a
   side each, at most ``MAX_PER_SIDE``). Few suspects with many launches
   beat many with few: Holm divides ``alpha`` by their number, and the
   simulation (``benchmarks/verdicts_sim.py``) chose 10. ``failed``,
   ``bimodal`` and ``not_comparable`` rows are not suspects.
2. **Confirm** (``judge_confirmation``): each suspect is measured again,
   ``per_side`` launches of the baseline (its exact binary and variant file)
   and of the candidate, A/B interleaved on the same phone, and judged on
   those launches alone, as a fresh family: Welch's t-test on the log launch
   medians per suspect (``DEFAULT_CONFIRM_TEST``; one-sided in the direction
   the screen suspected, fixed before these launches exist), Holm over the
   suspects at ``alpha`` (``DEFAULT_ALPHA``), then ``judge`` with the screen's
   minimum effect and threshold. A configuration that is not a suspect is
   never ``slower`` or ``faster``: a screen verdict of either that did not
   fit the budget becomes ``inconclusive`` and says so. Why the t-test and
   this alpha: ``benchmarks/verdicts_sim.py`` and docs/STATISTICS.md (the
   t-test finds a 5% change more often than the rank test at the same alpha,
   and that power was spent on a smaller alpha: fewer false alarms).

**Error control for the two stages together.** Given the screen (its data
fix which ``K`` configurations are suspects and their directions), the
confirmation launches are new and, for an unchanged configuration, A and B
launches interleaved on one phone are exchangeable, so its p-value is
independent of the screen and (super-)uniform: exactly so for the rank test;
for Welch's t with equal sides ``t`` is symmetric about 0 under
exchangeability and its level was checked on skewed launches with outliers
(at or under nominal: ``tests/stats/test_nonparametric.py``). Holm at
``alpha`` over the ``K`` suspects keeps the probability of any false
``slower`` or ``faster`` among them at most ``alpha``, whatever ``K``;
nothing outside them can be called either. Averaging over screens: **the
probability that a night calls any unchanged configuration slower or faster
is at most alpha**, with no condition on how the screen chose (its
threshold, the drift correction, the pool, the budget). Tested:
``tests/stats/test_confirm.py`` (the p-values, Holm's family and a
calibrated family error that fails when alpha is spent otherwise) and
``benchmarks/verdicts_sim.py`` (A/A nights). The screen decides only where
the power goes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchorch.stats.compare import Comparison, ComparisonRow, Verdict, compare_frames, judge
from benchorch.stats.keys import DEFAULT_BOOT
from benchorch.stats.nonparametric import holm_adjust

#: Family-wise error of the confirmation stage (and so of the night): at most
#: one night in 500 with a false ``slower``/``faster``. Chosen by simulation
#: (``benchmarks/verdicts_sim.py``): with Welch's t it finds a single 5%
#: regression among 300 about as often as the rank test did at 0.01.
DEFAULT_ALPHA = 0.002
#: The confirmation's test on log launch medians (``compare.TESTS``).
DEFAULT_CONFIRM_TEST = "welch"
#: Confirmation launches a side per suspect: at most this many, at least
#: ``MIN_PER_SIDE`` (a suspect the budget cannot pay that for is left out).
MAX_PER_SIDE = 100
MIN_PER_SIDE = 10
#: Suspects confirmed per night at most.
DEFAULT_MAX_SUSPECTS = 10
#: The ``k``-th suspect gets a share of the budget proportional to ``k ** -DEFAULT_TAPER``.
DEFAULT_TAPER = 0.5
#: Screen score a configuration needs to become a suspect.
DEFAULT_Z = 1.5
#: Configurations needed before the night's median shift is taken out.
MIN_FOR_SHIFT = 20
_SCREENED = (Verdict.SLOWER, Verdict.FASTER, Verdict.SAME, Verdict.INCONCLUSIVE)


@dataclass(frozen=True)
class Suspect:
    """A configuration the screen sends to confirmation."""

    label: str
    pair: tuple[str, ...]
    base_key: str
    cand_key: str
    direction: Verdict  # SLOWER or FASTER
    z: float
    screen_ratio: float
    screen_p: float
    per_side: int  # confirmation launches a side


def screen_scores(cmp: Comparison) -> dict[str, float]:
    """Each screened row's ``z`` by label (see the module), drift taken out."""
    rows = [
        r for r in cmp.rows if r.verdict in _SCREENED and np.isfinite(r.log_change) and r.log_se > 0
    ]
    if not rows:
        return {}
    d = np.array([r.log_change for r in rows])
    se = np.array([r.log_se for r in rows])
    shift = 0.0
    if len(rows) >= MIN_FOR_SHIFT:
        shift = float(np.median(d))
        se = np.sqrt((se**2 + float(np.median(se)) ** 2) / 2.0)
    return {r.label: float(v) for r, v in zip(rows, (d - shift) / se, strict=True)}


def pick_suspects(
    cmp: Comparison,
    *,
    budget: int,
    max_suspects: int = DEFAULT_MAX_SUSPECTS,
    z_min: float = DEFAULT_Z,
    scores: Mapping[str, float] | None = None,
    max_per_side: int = MAX_PER_SIDE,
    taper: float = DEFAULT_TAPER,
) -> tuple[Suspect, ...]:
    """The screen's suspects that ``budget`` extra launches pay for: slower
    ones by score first, then faster ones, at most ``max_suspects``, each
    with ``per_side`` launches a side (the budget shared equally, at most
    ``MAX_PER_SIDE``, at least ``MIN_PER_SIDE``). ``scores``: the screen's
    scores by label when they come from elsewhere (``pool.pooled_scores``: the
    baseline pooled with its earlier runs), else ``screen_scores(cmp)``; only
    rows of ``cmp`` the screen may send on (not failed, bimodal or not
    comparable) are picked. The ``k``-th suspect's share of the budget is
    proportional to ``k ** -taper`` (0: equal shares): the screen's first
    suspect is the true change far more often than its tenth (about half
    the nights a single 5% regression is confirmed it ranked first), so more
    launches there buy more power (``benchmarks/verdicts_sim.py``).
    A suspect whose share is under ``MIN_PER_SIDE`` is left out."""
    by_label = {r.label: r for r in cmp.rows}
    if scores is None:
        scores = screen_scores(cmp)
    else:
        scores = {
            k: z
            for k, z in scores.items()
            if k in by_label and by_label[k].verdict in _SCREENED and np.isfinite(z)
        }
    slower = sorted((z, k) for k, z in scores.items() if z >= z_min)[::-1]
    faster = sorted((z, k) for k, z in scores.items() if z <= -z_min)
    chosen = [*slower, *faster][: max(0, min(max_suspects, budget // (2 * MIN_PER_SIDE)))]
    shares = _shares(len(chosen), budget // 2, taper, max_per_side)
    paid = [(c, n) for c, n in zip(chosen, shares, strict=True) if n >= MIN_PER_SIDE]
    out = []
    for (z, label), per_side in paid:
        r = by_label[label]
        out.append(
            Suspect(
                label=label,
                pair=r.pair,
                base_key=str(r.base_key),
                cand_key=str(r.cand_key),
                direction=Verdict.SLOWER if z > 0 else Verdict.FASTER,
                z=z,
                screen_ratio=r.ratio,
                screen_p=r.p_value,
                per_side=per_side,
            )
        )
    return tuple(out)


def _shares(k: int, per_side_total: int, taper: float, cap: int) -> list[int]:
    """Launches a side for ``k`` suspects out of ``per_side_total``: shares
    proportional to ``rank ** -taper``, each at most ``cap``."""
    if k == 0:
        return []
    w = np.arange(1, k + 1, dtype=float) ** -taper
    return [min(cap, int(n)) for n in np.floor(per_side_total * w / w.sum())]


def judge_confirmation(
    screen: Comparison,
    suspects: Sequence[Suspect],
    confirm_base: pd.DataFrame,
    confirm_cand: pd.DataFrame,
    *,
    alpha: float = DEFAULT_ALPHA,
    vary: Sequence[str] = (),
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    one_sided: bool = True,
    test: str = DEFAULT_CONFIRM_TEST,
) -> Comparison:
    """The night's verdicts: the screen's, with each suspect judged on its
    confirmation launches (``confirm_base``/``confirm_cand``: store rows of the
    A/B interleaved launches) as one family under Holm at ``alpha`` (see the
    module). Rows keep the screen's launch counts and p (``screen_p``) and
    carry the confirmation's ratio, interval, p, adjusted p and launch counts."""
    wanted = {s.label for s in suspects}
    fresh: Mapping[str, ComparisonRow] = {}
    if wanted and not confirm_base.empty and not confirm_cand.empty:
        sided = {
            s.label: "greater" if s.direction is Verdict.SLOWER else "less"
            for s in suspects
            if one_sided and s.direction in (Verdict.SLOWER, Verdict.FASTER)
        }
        again = compare_frames(
            confirm_base,
            confirm_cand,
            vary=vary,
            q=alpha,
            n_boot=n_boot,
            seed=seed,
            alternatives=sided,
            test=test,
            device_names=_screen_names(suspects, [confirm_base, confirm_cand]),
        )
        fresh = {r.label: r for r in again.rows if r.label in wanted}
    tested = [lbl for lbl in sorted(wanted) if lbl in fresh and np.isfinite(fresh[lbl].p_value)]
    holm = dict(zip(tested, holm_adjust([fresh[lbl].p_value for lbl in tested]), strict=True))
    rows = []
    for row in screen.rows:
        if row.label in wanted and row.verdict in _SCREENED:  # not when now not comparable
            rows.append(_confirmed(row, fresh.get(row.label), holm.get(row.label), alpha))
        elif row.verdict in (Verdict.SLOWER, Verdict.FASTER):
            rows.append(
                dataclasses.replace(
                    row,
                    verdict=Verdict.INCONCLUSIVE,
                    reason=f"{row.verdict.value} on the screen, not confirmed (no room in the"
                    f" confirmation budget): {row.evidence}",
                )
            )
        else:
            rows.append(row)
    return dataclasses.replace(screen, q=alpha, rows=tuple(rows))


def _screen_names(
    suspects: Sequence[Suspect], frames: Sequence[pd.DataFrame]
) -> dict[tuple[Any, Any], str]:
    """The phones of the confirmation launches named as the screen named them:
    a phone the screen called "model (serial)" (its model had several phones
    there) keeps that name though it is the only one of its model among the
    confirmation launches (else its suspects would find no launches)."""
    named = {str(s.pair[0]) for s in suspects if s.pair}
    out = {}
    for df in frames:
        for model, serial in (
            df[["device_model", "device_serial"]].drop_duplicates().itertuples(index=False)
        ):
            if f"{model} ({serial})" in named:
                out[(model, serial)] = f"{model} ({serial})"
    return out


def _confirmed(
    row: ComparisonRow, again: ComparisonRow | None, p_holm: float | None, alpha: float
) -> ComparisonRow:
    if again is None or again.n_base == 0 or again.n_cand == 0:
        why = "no confirmation launches" if again is None else again.reason
        return dataclasses.replace(
            row, verdict=Verdict.INCONCLUSIVE, reason=f"suspect, not confirmed: {why}"
        )
    fields: dict[str, Any] = {
        "ratio": again.ratio,
        "ci_low": again.ci_low,
        "ci_high": again.ci_high,
        "p_value": again.p_value,
        "p_adjusted": p_holm if p_holm is not None else float("nan"),
        "confirm_base": again.n_base,
        "confirm_cand": again.n_cand,
        "screen_p": row.p_value,
        "dropped_base": row.dropped_base + again.dropped_base,
        "dropped_cand": row.dropped_cand + again.dropped_cand,
    }
    out = dataclasses.replace(row, **fields)
    if again.verdict in (Verdict.BIMODAL, Verdict.FAILED):
        return dataclasses.replace(
            out, verdict=again.verdict, reason=f"confirmation launches: {again.reason}"
        )
    verdict, reason = judge(dataclasses.asdict(out), alpha)
    return dataclasses.replace(out, verdict=verdict, reason=reason)
