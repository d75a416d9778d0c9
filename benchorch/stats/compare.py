"""Comparing two runs configuration by configuration (pure): verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from benchorch.stats.bimodal import bimodality
from benchorch.stats.history import noise_floor
from benchorch.stats.keys import (
    COMPARABLE_FIELDS,
    DEFAULT_BOOT,
    DEFAULT_MIN_EFFECT,
    DEFAULT_Q,
    MIN_LAUNCHES_FOR_TEST,
    PAIR_FIELDS,
    cell_text,
    device_labels,
    keyed,
    launch_values,
    pair_label,
    with_config_key,
)
from benchorch.stats.nonparametric import bh_adjust, mann_whitney, welch_t
from benchorch.stats.summary import SummaryCache, ratio_of, summarize_parts
from benchorch.stats.thresholds import threshold_for

# --- comparing two runs ----------------------------------------------------------------


class Verdict(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    NOT_COMPARABLE = "not_comparable"
    FAILED = "failed"
    #: Launches on a side fall in two clusters (little-core landings,
    #: throttling): a median of them answers no question; said as such.
    BIMODAL = "bimodal"


@dataclass(frozen=True)
class ComparisonRow:
    """One paired configuration. ``ratio`` is candidate / base (>1 = slower)."""

    label: str
    pair: tuple[str, ...]
    verdict: Verdict
    reason: str
    base_key: str | None = None
    cand_key: str | None = None
    base_median_us: float = float("nan")
    cand_median_us: float = float("nan")
    ratio: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = float("nan")
    p_adjusted: float = float("nan")
    n_base: int = 0
    n_cand: int = 0
    #: ``same`` needs the whole interval inside ``±threshold``.
    threshold: float = float("nan")
    #: ``slower``/``faster`` need the estimate beyond ``±min_effect``.
    min_effect: float = float("nan")
    #: Non-finite samples dropped from the ok launches of each side.
    dropped_base: int = 0
    dropped_cand: int = 0
    #: Confirmation launches a side (0: judged on the screen alone).
    confirm_base: int = 0
    confirm_cand: int = 0
    #: The screen's p-value when the verdict comes from confirmation launches.
    screen_p: float = float("nan")
    #: Mean log launch median, candidate minus base, and its (Welch) standard
    #: error: the screen's score (``confirm.screen_scores``).
    log_change: float = float("nan")
    log_se: float = float("nan")

    @property
    def broke(self) -> bool:
        """Failed in the candidate while the base had results."""
        return self.verdict is Verdict.FAILED and self.n_cand == 0 and self.n_base > 0

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        return {
            "label": self.label,
            **dict(zip(PAIR_FIELDS, self.pair, strict=True)),
            "verdict": self.verdict.value,
            "reason": self.reason,
            "base_key": self.base_key,
            "cand_key": self.cand_key,
            "base_median_us": num(self.base_median_us),
            "cand_median_us": num(self.cand_median_us),
            "ratio": num(self.ratio),
            "ci_low": num(self.ci_low),
            "ci_high": num(self.ci_high),
            "p_value": num(self.p_value),
            "p_adjusted": num(self.p_adjusted),
            "n_base": self.n_base,
            "n_cand": self.n_cand,
            "threshold": num(self.threshold),
            "min_effect": num(self.min_effect),
            "dropped_base": self.dropped_base,
            "dropped_cand": self.dropped_cand,
            "confirm_base": self.confirm_base,
            "confirm_cand": self.confirm_cand,
            "screen_p": num(self.screen_p),
            "evidence": self.evidence,
        }

    @property
    def evidence(self) -> str:
        """The numbers behind the verdict, in words an engineer can check."""
        if not np.isfinite(self.ratio):
            return ""
        words = [
            f"{_pct(self.ratio)} (95% interval {_pct(self.ci_low)} to {_pct(self.ci_high)})",
            f"p {self.p_value:.2g}"
            + (f", adjusted {self.p_adjusted:.2g}" if np.isfinite(self.p_adjusted) else ""),
        ]
        if self.confirm_base or self.confirm_cand:
            words.append(
                f"on {self.confirm_base} + {self.confirm_cand} confirmation launches"
                f" (A/B interleaved; screen p {self.screen_p:.2g}"
                f" on {self.n_base} + {self.n_cand} launches)"
            )
        else:
            words.append(f"{self.n_base} + {self.n_cand} launches")
        dropped = self.dropped_base + self.dropped_cand
        if dropped:
            words.append(
                f"{dropped} non-finite samples dropped"
                f" ({self.dropped_base} base, {self.dropped_cand} candidate)"
            )
        return "; ".join(words)


def _pct(ratio: float) -> str:
    return f"{ratio - 1.0:+.1%}" if np.isfinite(ratio) else "-"


@dataclass(frozen=True)
class Comparison:
    """The verdict table of ``base`` against ``cand``."""

    base: str
    cand: str
    q: float
    min_effect: float
    rows: tuple[ComparisonRow, ...]

    @property
    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for row in self.rows:
            counts[row.verdict.value] += 1
        return counts

    @property
    def regressions(self) -> tuple[ComparisonRow, ...]:
        return tuple(r for r in self.rows if r.verdict is Verdict.SLOWER)

    @property
    def comparable(self) -> bool:
        return any(r.verdict is not Verdict.NOT_COMPARABLE for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "cand": self.cand,
            "q": self.q,
            "min_effect": self.min_effect,
            "counts": self.counts,
            "rows": [r.to_dict() for r in self.rows],
        }


def _prepare(df: pd.DataFrame, labels: dict[tuple[Any, Any], str]) -> pd.DataFrame:
    out = launch_values(with_config_key(df))
    out["device"] = [
        labels[(m, s)] for m, s in zip(out["device_model"], out["device_serial"], strict=True)
    ]
    return keyed(out, PAIR_FIELDS, "pair_key")


def _failure_reason(side: str, rows: pd.DataFrame) -> str:
    bad = rows[~rows["ok"]]
    kinds = bad["error_kind"].fillna("unknown").astype(str) if "error_kind" in bad else pd.Series()
    first = ""
    if "message" in bad.columns and bad["message"].notna().any():
        first = f": {bad['message'].dropna().iloc[0]}"
    kind = ", ".join(sorted(set(kinds))) or "no result"
    return f"{side}: {len(bad)} of {len(rows)} launches failed ({kind}){first}"


def _differences(b: Mapping[str, Any], c: Mapping[str, Any], vary: Sequence[str]) -> list[str]:
    out = []
    for f in COMPARABLE_FIELDS:
        if f in vary:
            continue
        if cell_text(b.get(f)) != cell_text(c.get(f)):
            out.append(f"{f} differs ({cell_text(b.get(f))[:12]} vs {cell_text(c.get(f))[:12]})")
    return out


def compare_frames(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    base_id: str = "base",
    cand_id: str = "cand",
    history: pd.DataFrame | None = None,
    threshold_pct: float | None = None,
    thresholds: Sequence[tuple[str, float]] | Mapping[str, float] | None = None,
    vary: Sequence[str] = (),
    q: float = DEFAULT_Q,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    cache: SummaryCache | None = None,
    alternatives: Mapping[str, str] | None = None,
    test: str = "mannwhitney",
    device_names: Mapping[tuple[Any, Any], str] | None = None,
) -> Comparison:
    """Compare two runs' launches (store rows) configuration by configuration.
    ``device_names``: the phones' labels ((model, serial) -> label) when they
    must be another comparison's (default ``device_labels([base, cand])``).

    1. Pair on ``PAIR_FIELDS`` (device label, variant name, dims, types, memory
       format, threads, kind). A pair is compared only when every
       ``COMPARABLE_FIELDS`` value is equal (``vary`` names fields that are the
       treatment, e.g. ``variant_sha256`` when a variant was changed on purpose);
       otherwise ``not_comparable`` with the fields that differ. A pair on one
       side only is ``not_comparable`` too. No ok launch on a side: ``failed``.
    2. A side whose launches fall in two clusters (``bimodal.bimodality``):
       ``bimodal``, naming the side, the share and the factor, unless the
       verdict is ``slower`` or ``faster`` all the same (then the clusters
       are named in its reason: a regression is never hidden behind them).
    3. ``p``: two-sided Mann-Whitney U on the log launch medians, exact
       (``nonparametric.mann_whitney``); one-sided for the labels in
       ``alternatives`` (label -> ``"greater"``: slower, ``"less"``: faster),
       as the confirmation tests each suspect in the screen's direction.
       ``test="welch"``: Welch's t-test on the same log launch medians
       (``nonparametric.welch_t``), the confirmation's test.
    4. Benjamini-Hochberg over every ``p`` of the comparison → ``p_adjusted``.
    5. ``r = m_cand / m_base`` with a bootstrap 95% interval ``[lo, hi]``.
       Minimum effect ``m``: ``thresholds``' first pattern matching the
       variant (``thresholds.threshold_for``), else ``threshold_pct`` (percent)
       when given, else ``max(2%, noise_floor(history))`` with the
       history of the configuration as measured on the baseline side (its
       ``base_key``: a new binary or file under ``vary`` has none of its own).
       Threshold ``t`` for ``same``: the given one, else ``max(m, the
       comparison's resolution)`` (``RESOLUTION_SD``): what these launches can
       tell apart, so ``same`` means "no change beyond ±t", ``t`` shown.
    6. Verdicts by ``judge``.

    ``history`` (``run_medians`` rows) is read causally: a configuration's noise
    floor uses its run medians of the baseline and of the runs that started no
    later than the later of the two compared runs (``causal_history``), never
    the candidate's own, so comparing two old runs does not see what came after.
    The candidate side's bootstraps are seeded with ``seed`` (as
    ``summarize`` seeds them, so a report shares them through ``cache``), the
    base's with ``seed + 1``: independent replicates for the ratio even when
    both sides have the same configuration key.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}: use one of {', '.join(TESTS)}")
    min_effect = threshold_pct / 100.0 if threshold_pct is not None else DEFAULT_MIN_EFFECT
    labels = device_labels([base, cand])
    labels.update(device_names or {})
    b_all, c_all = _prepare(base, labels), _prepare(cand, labels)
    b_pos = b_all.groupby("pair_key", sort=False).indices
    c_pos = c_all.groupby("pair_key", sort=False).indices
    fields = list(dict.fromkeys([*PAIR_FIELDS, *COMPARABLE_FIELDS, "config_key"]))
    b_cols = {f: b_all[f].to_numpy(object) for f in fields if f in b_all.columns}
    c_cols = {f: c_all[f].to_numpy(object) for f in fields if f in c_all.columns}
    hist = causal_history(history, base, cand, cand_id=cand_id)
    pending: list[dict[str, Any]] = []
    measured: list[tuple[dict[str, Any], str]] = []
    for pk in sorted(set(b_pos) | set(c_pos)):
        side, other = b_pos.get(pk), c_pos.get(pk)
        cols, pos = (b_cols, side) if side is not None else (c_cols, other)
        assert pos is not None
        pair = tuple(cell_text(cols[f][pos[0]]) for f in PAIR_FIELDS)
        common: dict[str, Any] = {"label": pair_label(pair), "pair": pair}
        pending.append(common)
        if side is None or other is None:
            where = "base" if side is not None else "candidate"
            common.update(verdict=Verdict.NOT_COMPARABLE, reason=f"only in the {where} run")
            continue
        bkeys, ckeys = set(b_cols["config_key"][side]), set(c_cols["config_key"][other])
        if len(bkeys) > 1 or len(ckeys) > 1:
            reason = "several configurations under one name in a run (binaries or builds mixed)"
            common.update(verdict=Verdict.NOT_COMPARABLE, reason=reason)
            continue
        common.update(base_key=str(bkeys.pop()), cand_key=str(ckeys.pop()))
        diffs = _differences(_first_row(b_cols, side), _first_row(c_cols, other), vary)
        if diffs:
            common.update(verdict=Verdict.NOT_COMPARABLE, reason="; ".join(diffs))
            continue
        measured.append((common, str(pk)))
    keys = [pk for _, pk in measured]
    b_sum = summarize_parts(
        b_all, _parts(b_all, b_pos, keys), n_boot=n_boot, seed=seed + 1, cache=cache
    )
    c_sum = summarize_parts(
        c_all, _parts(c_all, c_pos, keys), n_boot=n_boot, seed=seed, cache=cache
    )
    for (common, pk), (_, (bs, breps)), (_, (cs, creps)) in zip(
        measured, b_sum, c_sum, strict=True
    ):
        common.update(
            base_median_us=bs.median_us, cand_median_us=cs.median_us, n_base=bs.n_ok, n_cand=cs.n_ok
        )
        if bs.n_ok == 0 or cs.n_ok == 0:
            reasons = [
                _failure_reason(n, df.iloc[pos[pk]])
                for n, df, pos, st in (
                    ("base", b_all, b_pos, bs),
                    ("candidate", c_all, c_pos, cs),
                )
                if st.n_ok == 0
            ]
            common.update(verdict=Verdict.FAILED, reason="; ".join(reasons))
            continue
        common.update(dropped_base=bs.n_dropped, dropped_cand=cs.n_dropped)
        r = ratio_of(cs, creps, bs, breps)
        common.update(ratio=r.value, ci_low=r.ci_low, ci_high=r.ci_high)
        shapes = [
            b.describe(side)
            for side, st in (("base", bs), ("candidate", cs))
            if (b := bimodality(st.launch_medians_us)) is not None
        ]
        if shapes:
            common["_shape"] = "; ".join(shapes)
        floor = 0.0
        if hist is not None:  # the configuration as measured on the baseline side
            h = hist.get(common["base_key"])
            floor = noise_floor(h) if h is not None else 0.0
        wanted = threshold_for(thresholds, str(common["pair"][1]), str(common["pair"][0]))
        b_meds, c_meds = np.asarray(bs.launch_medians_us), np.asarray(cs.launch_medians_us)
        alt = alternatives.get(str(common["label"]), "two-sided") if alternatives else "two-sided"
        p = TESTS[test](b_meds, c_meds, alternative=alt)
        common.update(_log_change(b_meds, c_meds))
        common.update(
            verdict=None,
            reason="",
            p_value=p,
            min_effect=wanted / 100.0 if wanted is not None else max(min_effect, floor),
            threshold=wanted / 100.0 if wanted is not None else float("nan"),
        )
    resolution = _resolution(pending)
    adjusted = bh_adjust([row.get("p_value", np.nan) for row in pending])
    rows = []
    for row, padj in zip(pending, adjusted, strict=True):
        shape = row.pop("_shape", "")
        if row["verdict"] is None:
            row["p_adjusted"] = float(padj)
            if not np.isfinite(row["threshold"]):
                row["threshold"] = (
                    row["min_effect"]
                    if threshold_pct is not None
                    else max(row["min_effect"], resolution)
                )
            row["verdict"], row["reason"] = judge(row, q)
            if shape and row["verdict"] in (Verdict.SLOWER, Verdict.FASTER):
                row["reason"] += f"; launches in two clusters: {shape}"
            elif shape:  # a median of two clusters answers no question: say so
                row["verdict"], row["reason"] = Verdict.BIMODAL, f"{shape}: {row['reason']}"
        rows.append(ComparisonRow(**row))
    return Comparison(base=base_id, cand=cand_id, q=q, min_effect=min_effect, rows=tuple(rows))


#: The tests ``compare_frames`` can judge with, by name.
TESTS = {"mannwhitney": mann_whitney, "welch": welch_t}


def _log_change(base: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    """``log_change`` and ``log_se`` of two sides' launch medians (NaN with
    fewer than 2 launches a side)."""
    a, b = np.log(base[base > 0]), np.log(cand[cand > 0])
    if a.size < 2 or b.size < 2:
        return {}
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    return {"log_change": float(b.mean() - a.mean()), "log_se": se}


def _parts(
    df: pd.DataFrame, index: Mapping[Any, np.ndarray], pair_keys: Sequence[str]
) -> list[tuple[str, str, np.ndarray]]:
    """``summarize_parts`` input: each pair's rows of ``df``, seeded by its
    (single) configuration key."""
    keys = df["config_key"].to_numpy(object)
    return [(pk, str(keys[index[pk][0]]), index[pk]) for pk in pair_keys]


def _first_row(cols: Mapping[str, np.ndarray], pos: np.ndarray) -> dict[str, Any]:
    return {f: v[pos[0]] for f, v in cols.items()}


def _run_start(df: pd.DataFrame) -> float:
    if df.empty or "started_at" not in df.columns:
        return float("nan")
    t = pd.to_numeric(df["started_at"], errors="coerce").to_numpy(dtype=float)
    return float(np.nanmin(t)) if np.isfinite(t).any() else float("nan")


def causal_history(
    history: pd.DataFrame | None,
    base: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    cand_id: str,
) -> dict[str, np.ndarray] | None:
    """Per configuration key, the run medians a comparison may learn its noise
    floor from (``history``: ``run_medians`` rows), in ``history``'s order.

    A run's start is the earliest ``t`` among its ``history`` rows (its first
    launch); the compared runs' starts are their launches' earliest
    ``started_at``. Kept: every run other than the candidate that started at or
    before ``max(start(base), start(cand))``: the baseline and what came
    before, never a later run. Without start times (no ``t`` column, or no
    launch times) every run but the candidate is kept."""
    if history is None or history.empty:
        return None
    h = history[history["run_id"] != cand_id]
    cutoff = max(_run_start(base), _run_start(cand))
    if "t" in h.columns and np.isfinite(cutoff) and not h.empty:
        t = pd.to_numeric(h["t"], errors="coerce")
        start = t.groupby(h["run_id"]).transform("min")
        h = h[~(start > cutoff)]  # a run without a start time is kept
    if h.empty:
        return None
    values = h["run_median_us"].to_numpy(dtype=float)
    return {str(k): values[pos] for k, pos in h.groupby("config_key", sort=False).indices.items()}


#: ``same`` by default: the whole interval inside ``±expm1(RESOLUTION_SD
#: sigma)``, ``sigma`` the comparison's typical standard error of a log
#: ratio (the median over its configurations of each interval's half-width /
#: 1.96). An unchanged configuration's estimate stays within 1.645 sigma 90%
#: of the time and its interval reaches 1.96 sigma further: 3.6 sigma; 4 leaves
#: room for configurations a little noisier than the typical one.
RESOLUTION_SD = 4.0


def _resolution(rows: Sequence[Mapping[str, Any]]) -> float:
    """The change a comparison's launches can resolve (see ``RESOLUTION_SD``)."""
    sds = [
        (np.log(r["ci_high"]) - np.log(r["ci_low"])) / (2 * 1.96)
        for r in rows
        if r.get("verdict", "") is None
        and not r.get("_shape")
        and np.isfinite(r.get("p_value", np.nan))
        and r["ci_low"] > 0
        and np.isfinite(r["ci_high"])
    ]
    return float(np.expm1(RESOLUTION_SD * np.median(sds))) if sds else 0.0


def judge(row: Mapping[str, Any], q: float) -> tuple[Verdict, str]:
    """One configuration's verdict from its ratio ``r`` and interval ``[lo,
    hi]``, its (adjusted) p-value, ``min_effect`` ``m`` and ``threshold`` ``t``:

    * ``slower``: adjusted p < ``q``, ``lo > 1`` and ``r > 1 + m``;
      ``faster``: adjusted p < ``q``, ``hi < 1`` and ``r < 1 / (1 + m)``;
    * ``same``: the whole interval inside ``[1/(1+t), 1+t]``;
    * else ``inconclusive``, saying which part is missing.

    The reason ends with the evidence (``ComparisonRow.evidence``)."""
    t, m = row["threshold"], row["min_effect"]
    r, lo, hi, padj = row["ratio"], row["ci_low"], row["ci_high"], row["p_adjusted"]
    evidence = ComparisonRow(**{**row, "verdict": Verdict.INCONCLUSIVE}).evidence
    significant = bool(np.isfinite(padj) and padj < q)
    if significant and lo > 1.0 and r > 1.0 + m:
        return Verdict.SLOWER, f"slower by more than {m:.1%}: {evidence}"
    if significant and hi < 1.0 and r < 1.0 / (1.0 + m):
        return Verdict.FASTER, f"faster by more than {m:.1%}: {evidence}"
    if not np.isfinite(padj):
        # One launch a side has a zero-width bootstrap interval: it can show
        # neither a change nor its absence.
        return (
            Verdict.INCONCLUSIVE,
            f"too few launches for a test (need {MIN_LAUNCHES_FOR_TEST}+ a side)",
        )
    if lo >= 1.0 / (1.0 + t) and hi <= 1.0 + t:
        return Verdict.SAME, f"no change beyond ±{t:.1%}: {evidence}"
    if not significant:
        return (
            Verdict.INCONCLUSIVE,
            f"not significant (adjusted p ≥ {q}) and the interval crosses ±{t:.1%}: {evidence}",
        )
    return (
        Verdict.INCONCLUSIVE,
        f"significant but smaller than {m:.1%} and the interval crosses ±{t:.1%}: {evidence}",
    )
