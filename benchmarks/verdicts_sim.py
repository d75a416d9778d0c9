"""How decisive and how honest the verdicts are: simulated nights, three methods.

Each night compares a baseline run with a candidate run of 300 configurations
on one phone, 10 launches a side of 20 iterations (seeded). Launch-level
noise: lognormal, sd 3-5% (drawn per configuration); iteration noise 5-10%;
1% of iterations are outliers 1.5-3x slower. Cases, each its own set of
nights:

* ``A/A``: nothing changed;
* ``+5%`` / ``+10%``: one configuration among 300 slower by that much;
* ``drift``: the whole candidate run 1.5% slower and creeping by 1% over the
  run (a warmer room), nothing else changed;
* ``bimodal``: nothing changed, but in 30 configurations each launch lands 2x
  slower with probability 0.2 (little cores).

Methods on the same data, side by side:

* ``old``: the comparison before issue 14 (Mann-Whitney with the normal
  approximation above 8 launches a side, Benjamini-Hochberg at 0.05,
  ``slower`` when the whole interval is above +2%, ``same`` when inside ±2%);
* ``asv``: asv's rule (``asv compare``): ``slower`` when the ratio exceeds
  1.1 and Mann-Whitney (exact) gives p < 0.002; anything else shows no change,
  counted as its ``same``;
* ``new``: ``benchorch.stats``: exact Mann-Whitney, ``same`` within the
  comparison's resolution, bimodal named; then screen-then-confirm: the
  suspects (``pick_suspects``, budget ``--budget`` of the night's launches)
  are measured again, A/B interleaved on the same phone
  (same night conditions for both sides), and judged by
  ``judge_confirmation`` (Holm at 0.01).

Printed: false ``slower`` per 100 nights (A/A, drift, bimodal), % of unchanged
configurations called ``same`` (A/A), detection of the single regression (%
of nights it is ``slower``), extra confirmation launches as % of the night's,
and the coverage of the 95% interval of the ratio (the screen's, all
configurations of the A/A and +5% nights; ``new`` also the confirmation
intervals' coverage).

    .venv/bin/python benchmarks/verdicts_sim.py [--nights 20] [--seed 0]

About 1.5 s a night per case on one core: the README's figures are
``--nights 100`` (about 30 minutes on 2 shared cores); the default 20 nights
(``make bench``) is a quick look.
"""

from __future__ import annotations

import argparse
import math
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from trend_report import launch_frame  # beside this script (make bench runs it as a file)

from benchorch import stats
from benchorch.stats import Comparison, Verdict

CONFIGS, LAUNCHES, ITERS = 300, 10, 20


@dataclass(frozen=True)
class Night:
    true_us: np.ndarray  # per configuration
    launch_sd: np.ndarray
    iter_sd: np.ndarray
    effect: np.ndarray  # candidate / baseline, per configuration
    bimodal: np.ndarray  # bool per configuration
    drift: float = 1.0  # whole candidate run
    creep: float = 0.0  # candidate run, over its launch order


def _samples(rng: np.random.Generator, night: Night, side: int, config: np.ndarray,
             order: np.ndarray, drifting: bool) -> np.ndarray:  # fmt: skip
    n = len(config)
    level = night.true_us[config] * rng.lognormal(0.0, night.launch_sd[config])
    if side == 1:
        level = level * night.effect[config]
    if drifting:
        level = level * night.drift * (1.0 + night.creep * order / max(1, order.max()))
    little = night.bimodal[config] & (rng.random(n) < 0.2)
    level = np.where(little, 2.0 * level, level)
    it = level[:, None] * rng.lognormal(0.0, night.iter_sd[config][:, None], size=(n, ITERS))
    outlier = rng.random((n, ITERS)) < 0.01
    return np.where(outlier, it * rng.uniform(1.5, 3.0, size=(n, ITERS)), it)


def run_frame(rng: np.random.Generator, night: Night, side: int, configs: np.ndarray,
              launches: int, drifting: bool, run: int) -> pd.DataFrame:  # fmt: skip
    """One run's launches, interleaved (round-robin over ``configs``)."""
    config = np.tile(configs, launches)
    launch = np.repeat(np.arange(launches), len(configs))
    order = np.arange(len(config), dtype=float)
    samples = _samples(rng, night, side, config, order, drifting)
    names = np.array([f"cfg-{c:03d}" for c in range(CONFIGS)])
    df = launch_frame(np.full(len(config), run), np.zeros(len(config), dtype=int), config,
                      launch, samples, names)  # fmt: skip
    df["started_at"] = 1.78e9 + run * 86400.0 + order * 2.0
    return df


def make_night(rng: np.random.Generator, case: str) -> Night:
    effect = np.ones(CONFIGS)
    regressed = int(rng.integers(CONFIGS))
    if case in ("+5%", "+10%"):
        effect[regressed] = 1.05 if case == "+5%" else 1.10
    bimodal = np.zeros(CONFIGS, dtype=bool)
    if case == "bimodal":
        bimodal[rng.choice(CONFIGS, 30, replace=False)] = True
    return Night(
        true_us=rng.uniform(500.0, 50_000.0, CONFIGS),
        launch_sd=rng.uniform(0.03, 0.05, CONFIGS),
        iter_sd=rng.uniform(0.05, 0.10, CONFIGS),
        effect=effect,
        bimodal=bimodal,
        drift=1.015 if case == "drift" else 1.0,
        creep=0.01 if case == "drift" else 0.0,
    )


# --- the two reference methods ------------------------------------------------------


def _mw_normal(a: np.ndarray, b: np.ndarray) -> float:
    """The old test: scipy's default (normal approximation above 8 a side)."""
    if len(a) > 8 and len(b) > 8:
        x, y = np.log(a), np.log(b)
        n1, n2 = x.size, y.size
        xy = np.concatenate([x, y])
        _, inv, counts = np.unique(xy, return_inverse=True, return_counts=True)
        ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]
        u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
        u = max(u1, n1 * n2 - u1)
        n, t = n1 + n2, counts.astype(float)
        sd = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - float((t**3 - t).sum()) / (n * (n - 1))))
        return float(min(1.0, math.erfc((u - n1 * n2 / 2.0 - 0.5) / sd / math.sqrt(2.0))))
    return stats.mann_whitney(a, b)


def old_and_asv(cmp: Comparison, medians: dict[str, tuple[np.ndarray, np.ndarray]]
                ) -> tuple[dict[str, str], dict[str, str]]:  # fmt: skip
    rows = [r for r in cmp.rows if np.isfinite(r.ratio)]
    p_old = stats.bh_adjust([_mw_normal(*medians[r.label]) for r in rows])
    old, asv = {}, {}
    for r, padj in zip(rows, p_old, strict=True):
        if padj < 0.05 and r.ci_low > 1.02:
            old[r.label] = "slower"
        elif padj < 0.05 and r.ci_high < 1 / 1.02:
            old[r.label] = "faster"
        elif r.ci_low >= 1 / 1.02 and r.ci_high <= 1.02:
            old[r.label] = "same"
        else:
            old[r.label] = "inconclusive"
        p = stats.mann_whitney(*medians[r.label])
        if p < 0.002 and r.ratio > 1.1:
            asv[r.label] = "slower"
        elif p < 0.002 and r.ratio < 1 / 1.1:
            asv[r.label] = "faster"
        else:
            asv[r.label] = "same"
    return old, asv


# --- one night, all methods ---------------------------------------------------------


@dataclass
class Tally:
    nights: int = 0
    false_slower: dict[str, int] = field(default_factory=dict)
    same: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    detected: dict[str, int] = field(default_factory=dict)
    bimodal_named: int = 0
    bimodal_configs: int = 0
    confirm_launches: int = 0
    night_launches: int = 0
    covered: int = 0
    intervals: int = 0
    confirm_covered: int = 0
    confirm_intervals: int = 0

    def add(self, key: str, d: dict[str, int], n: int = 1) -> None:
        d[key] = d.get(key, 0) + n


def simulate(case: str, nights: int, seed: int, budget: float, tally: Tally) -> None:
    rng = np.random.default_rng([seed, zlib.crc32(case.encode())])
    every = np.arange(CONFIGS)
    names = np.array([f"cfg-{c:03d}" for c in range(CONFIGS)])
    for i in range(nights):
        night = make_night(rng, case)
        base = run_frame(rng, night, 0, every, LAUNCHES, False, 0)
        cand = run_frame(rng, night, 1, every, LAUNCHES, True, 1)
        cmp = stats.compare_frames(base, cand, base_id="night-00", cand_id="night-01",
                                   n_boot=500, seed=i)  # fmt: skip
        label_of = {r.pair[1]: r.label for r in cmp.rows}
        cfg_of = {label_of[n]: c for c, n in enumerate(names)}
        bv = stats.launch_values(base).groupby("variant")["value_us"].apply(np.asarray)
        cv = stats.launch_values(cand).groupby("variant")["value_us"].apply(np.asarray)
        medians = {label_of[n]: (bv[n], cv[n]) for n in names}
        old, asv = old_and_asv(cmp, medians)
        night_launches = 2 * CONFIGS * LAUNCHES
        suspects = stats.pick_suspects(cmp, budget=int(budget * night_launches))
        which = np.array(sorted(cfg_of[s.label] for s in suspects), dtype=int)
        per_side = suspects[0].per_side if suspects else 0
        if which.size:  # A/B interleaved on the same phone, in the candidate's night
            cb = run_frame(rng, night, 0, which, per_side, True, 2)
            cc = run_frame(rng, night, 1, which, per_side, True, 2)
            cb["run_id"], cc["run_id"] = "confirm-base", "confirm-cand"
        else:
            cb = cc = pd.DataFrame()
        new_cmp = stats.judge_confirmation(cmp, suspects, cb, cc, n_boot=500, seed=i)
        new = {r.label: r.verdict.value for r in new_cmp.rows}
        tally.nights += 1
        tally.confirm_launches += 2 * per_side * len(suspects)
        tally.night_launches += night_launches
        truth = {r.label: night.effect[cfg_of[r.label]] for r in cmp.rows}
        for method, verdicts in (("old", old), ("asv", asv), ("new", new)):
            for label, v in verdicts.items():
                c = cfg_of[label]
                if truth[label] == 1.0:
                    if v == "slower":
                        tally.add(method, tally.false_slower)
                    if v == "same" and not night.bimodal[c]:
                        tally.add(method, tally.same)
                elif v == "slower":
                    tally.add(method, tally.detected)
        tally.unchanged += int(sum(1 for t in truth.values() if t == 1.0))
        for r in cmp.rows:
            if night.bimodal[cfg_of[r.label]]:
                tally.bimodal_configs += 1
                tally.bimodal_named += r.verdict is Verdict.BIMODAL
            elif np.isfinite(r.ci_low) and case != "drift":
                tally.intervals += 1
                tally.covered += r.ci_low <= truth[r.label] <= r.ci_high
        for r in new_cmp.rows:
            if r.confirm_base and np.isfinite(r.ci_low):
                tally.confirm_intervals += 1
                tally.confirm_covered += r.ci_low <= truth[r.label] <= r.ci_high


def _pct(n: float, d: float) -> str:
    return f"{100.0 * n / d:.1f}%" if d else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=20, help="nights per case (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=0.14,
                    help="confirmation budget, share of the night's launches")  # fmt: skip
    args = ap.parse_args()
    cases = ("A/A", "+5%", "+10%", "drift", "bimodal")
    tallies = {c: Tally() for c in cases}
    t0 = time.perf_counter()
    for case in cases:
        simulate(case, args.nights, args.seed, args.budget, tallies[case])
    wall = time.perf_counter() - t0
    aa, p5, p10 = tallies["A/A"], tallies["+5%"], tallies["+10%"]
    per100 = lambda t, m: f"{100.0 * t.false_slower.get(m, 0) / t.nights:.1f}"  # noqa: E731
    print(f"{args.nights} nights per case x {CONFIGS} configurations, {LAUNCHES} launches a side,"
          f" seed {args.seed}, confirmation budget {args.budget:.0%} ({wall:.0f} s)")  # fmt: skip
    lines = [
        ("A/A: false slower per 100 nights", "<= 1",
         *(per100(aa, m) for m in ("old", "asv", "new"))),
        ("A/A: unchanged configurations same", ">= 90%",
         *(_pct(aa.same.get(m, 0), aa.unchanged) for m in ("old", "asv", "new"))),
        ("single +5% among 300: slower", ">= 80%",
         *(_pct(p5.detected.get(m, 0), p5.nights) for m in ("old", "asv", "new"))),
        ("single +10% among 300: slower", ">= 95%",
         *(_pct(p10.detected.get(m, 0), p10.nights) for m in ("old", "asv", "new"))),
        ("drift 1.5% + 1% creep: false slower per 100 nights", "0",
         *(per100(tallies["drift"], m) for m in ("old", "asv", "new"))),
        ("bimodal: false slower per 100 nights", "<= 1",
         *(per100(tallies["bimodal"], m) for m in ("old", "asv", "new"))),
        ("bimodal configurations named bimodal", "-", "0.0%", "0.0%",
         _pct(tallies["bimodal"].bimodal_named, tallies["bimodal"].bimodal_configs)),
        ("extra confirmation launches, % of the night", "< 15%", "0%", "0%",
         _pct(sum(t.confirm_launches for t in tallies.values()),
              sum(t.night_launches for t in tallies.values()))),
        ("95% interval coverage (screen)", "93-97%", *[_pct(
            aa.covered + p5.covered, aa.intervals + p5.intervals)] * 3),
        ("95% interval coverage (confirmation)", "93-97%", "-", "-", _pct(
            sum(t.confirm_covered for t in tallies.values()),
            sum(t.confirm_intervals for t in tallies.values()))),
    ]  # fmt: skip
    widths = [max(len(str(row[i])) for row in lines) for i in range(5)]
    head = ("measure", "target", "old", "asv", "new")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for row in (head, *lines):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
