"""How decisive and how honest the verdicts are: simulated nights, methods side by side.

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
* ``current``: ``benchorch.stats`` as first merged for issue 14: exact
  Mann-Whitney, ``same`` within the comparison's resolution, bimodal named;
  screen on the baseline run alone, 10 suspects of at most 40 launches a
  side, confirmed two-sided (Holm at 0.01);
* ``new``: the screen's baseline pooled with ``--window`` earlier runs of the
  same configurations (``stats.pooled_scores``; each earlier run with its own
  whole-run shift up to +-1% and every run with 0.5% night-to-night jitter
  per configuration), the budget ``--budget`` tapered over ``--max-suspects``
  (the k-th gets a share ~ k ** -``--taper``), each suspect confirmed
  one-sided in the screen's direction, Holm over the suspects. One column
  per ``--judge TEST:ALPHA`` (default ``mannwhitney:0.01``, the method as it
  was before, and the library's default, Welch's t at 0.002), all judging
  the same confirmation launches of the same nights. Confirmation launches
  are A/B interleaved on the same phone, in the candidate's night.

Every night of a case runs the new method; the first ``--full-nights`` also
compare all 300 configurations (``old``, ``asv``, ``current``, ``same``,
coverage, bimodal; each row says on how many nights). The other nights score
the screens at once in numpy (``fast_scores``, the library's formula) and
compare only the highest and lowest scored configurations, from which
``stats.pick_suspects`` picks and ``stats.judge_confirmation`` judges: the
verdicts still come from the library; the full nights check that the quick
screen picked the library's suspects (printed). Each night draws from its
own seeded stream, so the table does not depend on ``--jobs``.

Printed: false ``slower`` per 100 nights (A/A, drift, bimodal), % of unchanged
configurations called ``same`` (A/A), detection of the single regression (%
of nights it is ``slower``), extra confirmation launches as % of the night's,
and the coverage of the 95% interval of the ratio (the screen's, all
configurations of the A/A and +5% nights; ``new`` also the confirmation
intervals' coverage).

    .venv/bin/python benchmarks/verdicts_sim.py [--nights 20] [--case-nights A/A=300]
        [--full-nights 20] [--seed 0] [--jobs 2] [--judge welch:0.002 ...]

About 1 s of CPU a quick night, 4 s a full one: the README's figures
(``--nights 20 --case-nights A/A=300,+5%=150 --full-nights 5 --jobs 2``)
took 19 minutes at nice 10 on 2 cores shared at load 10-12; the default
(``make bench``) is a quick look.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from trend_report import launch_frame  # beside this script (make bench runs it as a file)

from benchorch import stats
from benchorch.stats import Comparison, Verdict

CONFIGS, LAUNCHES, ITERS = 300, 10, 20


#: Night-to-night jitter of each configuration (its level on one night, lognormal sd).
RUN_SD = 0.005
#: Whole-run shift of each earlier baseline run (uniform, +-): another night's room.
WINDOW_SHIFT = 0.01


@dataclass(frozen=True)
class Night:
    true_us: np.ndarray  # per configuration
    launch_sd: np.ndarray
    iter_sd: np.ndarray
    effect: np.ndarray  # candidate / baseline, per configuration
    bimodal: np.ndarray  # bool per configuration
    drift: float = 1.0  # whole candidate run
    creep: float = 0.0  # candidate run, over its launch order


def _medians(rng: np.random.Generator, night: Night, side: int, config: np.ndarray,
             order: np.ndarray, drifting: bool, level_of: np.ndarray) -> np.ndarray:  # fmt: skip
    """Each launch's median over its ``ITERS`` iterations (drawn per iteration:
    iteration noise and outliers as the module says)."""
    n = len(config)
    level = level_of[config] * rng.lognormal(0.0, night.launch_sd[config])
    if side == 1:
        level = level * night.effect[config]
    if drifting:
        level = level * night.drift * (1.0 + night.creep * order / max(1, order.max()))
    little = night.bimodal[config] & (rng.random(n) < 0.2)
    level = np.where(little, 2.0 * level, level)
    it = level[:, None] * rng.lognormal(0.0, night.iter_sd[config][:, None], size=(n, ITERS))
    outlier = rng.random((n, ITERS)) < 0.01
    it = np.where(outlier, it * rng.uniform(1.5, 3.0, size=(n, ITERS)), it)
    return np.median(it, axis=1)


def run_level(rng: np.random.Generator, night: Night, shift: float = 0.0) -> np.ndarray:
    """Each configuration's level on one night: its truth, its night-to-night
    jitter (``RUN_SD``) and the run's whole shift (``shift``, uniform +-)."""
    whole = rng.uniform(1.0 - shift, 1.0 + shift) if shift else 1.0
    return night.true_us * whole * rng.lognormal(0.0, RUN_SD, CONFIGS)


_TEMPLATES: dict[tuple[int, bytes, int], pd.DataFrame] = {}
_NAMES = np.array([f"cfg-{c:03d}" for c in range(CONFIGS)])


def _template(run: int, configs: np.ndarray, launches: int) -> pd.DataFrame:
    """The store columns of one run's launches (everything but the numbers),
    built once per shape: building them is most of a night's cost otherwise."""
    key = (run, configs.tobytes(), launches)
    df = _TEMPLATES.get(key)
    if df is None:
        config = np.tile(configs, launches)
        launch = np.repeat(np.arange(launches), len(configs))
        one = np.ones((len(config), 1))
        df = launch_frame(np.full(len(config), run), np.zeros(len(config), dtype=int), config,
                          launch, one, _NAMES)  # fmt: skip
        if len(configs) == 1 or len(configs) == CONFIGS:  # the shapes that come back
            _TEMPLATES[key] = df
    return df


def draw(rng: np.random.Generator, night: Night, side: int, configs: np.ndarray,
         launches: int, drifting: bool, level_of: np.ndarray) -> np.ndarray:  # fmt: skip
    """One run's launch medians, interleaved (round-robin over ``configs``),
    in launch order."""
    config = np.tile(configs, launches)
    order = np.arange(len(config), dtype=float)
    return _medians(rng, night, side, config, order, drifting, level_of)


def frame(medians: np.ndarray, configs: np.ndarray, launches: int, run: int,
          day: float | None = None) -> pd.DataFrame:  # fmt: skip
    """A run's store rows from its launch medians (``draw``). Each launch row
    carries its launch median as its one sample: the comparison takes a
    launch's median of its samples, so its verdicts are those of the
    ``ITERS`` samples (at 5 launches a side or more the bootstrap resamples
    launch medians alone), at a fraction of the cost."""
    order = np.arange(len(medians), dtype=float)
    df = _template(run, configs, launches).copy()
    df["us_per_iter"] = medians
    df["samples_us"] = medians[:, None].tolist()
    df["started_at"] = 1.78e9 + (run if day is None else day) * 86400.0 + order * 2.0
    df["finished_at"] = df["started_at"] + 0.5
    return df


def run_frame(rng: np.random.Generator, night: Night, side: int, configs: np.ndarray,
              launches: int, drifting: bool, run: int, level_of: np.ndarray,
              day: float | None = None) -> pd.DataFrame:  # fmt: skip
    """``frame`` of a fresh ``draw``."""
    medians = draw(rng, night, side, configs, launches, drifting, level_of)
    return frame(medians, configs, launches, run, day)


def by_config(medians: np.ndarray, configs: np.ndarray, launches: int) -> np.ndarray:
    """``draw``'s launch medians as (configurations, launches)."""
    return medians.reshape(launches, len(configs)).T


def fast_scores(base: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """``stats.screen_scores`` over all configurations at once, from launch
    medians by configuration (``by_config``): the change of the mean log
    launch median over its Welch standard error, the night's median change
    taken out and each error shrunk halfway to the night's median. The full
    nights check it against ``stats.pooled_scores``/``screen_scores``."""
    a, b = np.log(base), np.log(cand)
    d = b.mean(axis=1) - a.mean(axis=1)
    se = np.sqrt(a.var(axis=1, ddof=1) / a.shape[1] + b.var(axis=1, ddof=1) / b.shape[1])
    se = np.sqrt((se**2 + float(np.median(se)) ** 2) / 2.0)
    return (d - float(np.median(d))) / se


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


SHORT = {"mannwhitney": "MW", "welch": "t"}


@dataclass
class Tally:
    nights: int = 0
    false_slower: dict[str, int] = field(default_factory=dict)
    same: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    detected: dict[str, int] = field(default_factory=dict)
    suspected: dict[str, int] = field(default_factory=dict)
    bimodal_named: int = 0
    bimodal_configs: int = 0
    confirm_launches: dict[str, int] = field(default_factory=dict)
    night_launches: int = 0
    #: the launches of the nights each two-stage method was judged on
    method_launches: dict[str, int] = field(default_factory=dict)
    covered: int = 0
    intervals: int = 0
    confirm_covered: dict[str, int] = field(default_factory=dict)
    confirm_intervals: dict[str, int] = field(default_factory=dict)
    #: nights with a false ``slower``, per method (their numbers: rerun one alone)
    bad_nights: dict[str, list[int]] = field(default_factory=dict)
    #: nights each method was judged on (``old``, ``asv``: the full nights)
    judged: dict[str, int] = field(default_factory=dict)
    full_nights: int = 0
    #: full nights' screens, and those where the quick path picked other suspects
    checked: int = 0
    mismatched: int = 0

    def add(self, key: str, d: dict[str, int], n: int = 1) -> None:
        d[key] = d.get(key, 0) + n

    def merge(self, other: Tally) -> None:
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                for k, v in theirs.items():
                    mine[k] = mine.get(k, 0 if isinstance(v, int) else []) + v
            else:
                setattr(self, f.name, mine + theirs)


@dataclass(frozen=True)
class Options:
    budget: float = 0.14
    window: int = 5  # earlier baseline runs pooled into the new method's screen
    max_suspects: int = 10
    taper: float = 0.5  # the k-th suspect's share of the budget ~ k ** -taper
    full_nights: int = 20  # nights of each case also compared whole (see ``_night``)
    #: the new method's confirmation judged each way: (test, family alpha)
    judgements: tuple[tuple[str, float], ...] = (
        ("mannwhitney", 0.01),
        (stats.DEFAULT_CONFIRM_TEST, stats.DEFAULT_ALPHA),
    )

    @property
    def new_methods(self) -> tuple[str, ...]:
        return tuple(f"new {SHORT.get(t, t)} {a:g}" for t, a in self.judgements)

    @property
    def methods(self) -> tuple[str, ...]:
        return ("old", "asv", "current", *self.new_methods)

    @property
    def two_stage(self) -> tuple[str, ...]:
        return ("current", *self.new_methods)


def simulate(case: str, nights: range, seed: int, opts: Options, tally: Tally) -> None:
    """Nights ``nights`` of ``case``; night ``i`` draws from its own seeded
    stream, so a night is the same whichever process runs it."""
    every = np.arange(CONFIGS)
    for i in nights:
        rng = np.random.default_rng([seed, zlib.crc32(case.encode()), i])
        _night(rng, case, i, opts, tally, every)


def _night(rng: np.random.Generator, case: str, i: int, opts: Options, tally: Tally,
           every: np.ndarray) -> None:  # fmt: skip
    """One night. Every night: the new method, its screen's scores computed
    at once (``fast_scores``), the suspects picked and judged by
    ``stats.pick_suspects``/``judge_confirmation`` on a comparison of the
    highest and lowest scored configurations (a suspect's verdict reads only
    its own row), once per test at its loosest alpha. The first
    ``opts.full_nights``: also the whole comparison of 300 (``old``, ``asv``,
    ``current``, ``same``, coverage, bimodal), the screens by
    ``stats.pooled_scores``/``screen_scores``, each alpha judged on its own, and
    whether the quick path picked the library's suspects."""
    full = i < opts.full_nights
    night = make_night(rng, case)
    earlier_meds = [  # the baseline's earlier runs: same binary, file and phone
        draw(rng, night, 0, every, LAUNCHES, False, run_level(rng, night, WINDOW_SHIFT))
        for _ in range(opts.window)
    ]
    base_meds = draw(rng, night, 0, every, LAUNCHES, False, run_level(rng, night))
    tonight = run_level(rng, night)  # the candidate's night: its confirmation shares it
    cand_meds = draw(rng, night, 1, every, LAUNCHES, True, tonight)
    b2, c2 = by_config(base_meds, every, LAUNCHES), by_config(cand_meds, every, LAUNCHES)
    pool2 = np.concatenate([b2, *(by_config(m, every, LAUNCHES) for m in earlier_meds)], axis=1)
    z_plain, z_pool = fast_scores(b2, c2), fast_scores(pool2, c2)
    base, cand = frame(base_meds, every, LAUNCHES, 0), frame(cand_meds, every, LAUNCHES, 1)
    night_launches = 2 * CONFIGS * LAUNCHES
    budget = int(opts.budget * night_launches)
    verdicts: dict[str, dict[str, str]] = {}
    if full:
        cmp = stats.compare_frames(base, cand, base_id="night-00", cand_id="night-01",
                                   n_boot=500, seed=i)  # fmt: skip
        earlier = pd.concat(
            [frame(m, every, LAUNCHES, 3 + k, day=-1.0 - k) for k, m in enumerate(earlier_meds)]
            or [pd.DataFrame()], ignore_index=True,
        )  # fmt: skip
        pooled = (
            stats.pooled_scores(base, earlier, cand, cand_id="night-01", seed=i)
            if opts.window
            else None
        )
        plain = stats.screen_scores(cmp)
    else:  # the configurations any screen could pick, and a few more
        k = opts.max_suspects + 5
        z = np.concatenate([z_plain, z_pool])
        top = np.unique(np.concatenate([np.argsort(-z)[: 2 * k], np.argsort(z)[: 2 * k]]) % CONFIGS)
        sub = pd.Index(base["variant"]).isin(_NAMES[top])
        cmp = stats.compare_frames(base[sub], cand[pd.Index(cand["variant"]).isin(_NAMES[top])],
                                   base_id="night-00", cand_id="night-01", n_boot=500,
                                   seed=i)  # fmt: skip
        pooled, plain = None, None
    label_of = {r.pair[1]: r.label for r in cmp.rows}
    cfg_of = {label: int(name[4:]) for name, label in label_of.items()}
    quick_pool = {lbl: float(z_pool[c]) for lbl, c in cfg_of.items()}
    quick_plain = {lbl: float(z_plain[c]) for lbl, c in cfg_of.items()}
    if full:
        bv = stats.launch_values(base).groupby("variant")["value_us"].apply(np.asarray)
        cv = stats.launch_values(cand).groupby("variant")["value_us"].apply(np.asarray)
        medians = {label_of[n]: (bv[n], cv[n]) for n in _NAMES}
        verdicts["old"], verdicts["asv"] = old_and_asv(cmp, medians)
    truth_of = {r.label: night.effect[cfg_of[r.label]] for r in cmp.rows}
    for stage in ("current", "new") if full else ("new",):  # current: a reference, full nights
        if stage == "current":  # as merged before: 10 suspects, 40 launches a side
            chosen = [stats.pick_suspects(cmp, budget=budget, max_per_side=40, taper=0.0,
                                          scores=sc) for sc in (plain, quick_plain)]  # fmt: skip
            ways = [("current", "mannwhitney", 0.01, False)]
        else:
            chosen = [stats.pick_suspects(cmp, budget=budget, max_suspects=opts.max_suspects,
                                          scores=sc, taper=opts.taper)
                      for sc in ((pooled, quick_pool) if full else (quick_pool,))]  # fmt: skip
            ways = [
                (m, t, a, True) for m, (t, a) in zip(opts.new_methods, opts.judgements, strict=True)
            ]
        suspects = chosen[0]
        if full:
            tally.checked += 1
            tally.mismatched += [s.label for s in chosen[0]] != [s.label for s in chosen[-1]]
        cb_parts, cc_parts = [], []
        for s in suspects:  # A/B interleaved on the same phone, in the candidate's night
            which = np.array([cfg_of[s.label]])
            cb_parts.append(run_frame(rng, night, 0, which, s.per_side, True, 2, tonight))
            cc_parts.append(run_frame(rng, night, 1, which, s.per_side, True, 2, tonight))
        cb = pd.concat(cb_parts, ignore_index=True) if cb_parts else pd.DataFrame()
        cc = pd.concat(cc_parts, ignore_index=True) if cc_parts else pd.DataFrame()
        if suspects:
            cb["run_id"], cc["run_id"] = "confirm-base", "confirm-cand"
        judged: dict[tuple[str, bool], stats.Comparison] = {}
        for method, test, alpha, one_sided in ways:
            loosest = max(a for _, t, a, _ in ways if t == test)
            if full or (test, one_sided) not in judged:
                judged[(test, one_sided)] = stats.judge_confirmation(
                    cmp, suspects, cb, cc, n_boot=500, seed=i, test=test, one_sided=one_sided,
                    alpha=alpha if full else loosest,
                )  # fmt: skip
            out = judged[(test, one_sided)]
            # a quick night reads the stricter alphas off the loosest judgement:
            # a slower/faster there stays one at ``alpha`` iff its Holm p is under it
            verdicts[method] = {
                r.label: r.verdict.value
                if r.verdict not in (Verdict.SLOWER, Verdict.FASTER) or r.p_adjusted < alpha
                else "inconclusive"
                for r in out.rows
            }
            tally.add(method, tally.confirm_launches, sum(2 * s.per_side for s in suspects))
            tally.add(method, tally.method_launches, night_launches)
            tally.add(method, tally.suspected,
                      int(sum(truth_of[s.label] != 1.0 for s in suspects)))  # fmt: skip
            for r in out.rows:
                if r.confirm_base and np.isfinite(r.ci_low):
                    tally.add(method, tally.confirm_intervals)
                    covered = r.ci_low <= truth_of[r.label] <= r.ci_high
                    tally.add(method, tally.confirm_covered, int(covered))
    tally.nights += 1
    tally.full_nights += full
    tally.night_launches += night_launches
    for method, said in verdicts.items():
        tally.add(method, tally.judged)
        false = 0
        for label, v in said.items():
            if truth_of[label] == 1.0:
                false += v == "slower"
                if full and v == "same" and not night.bimodal[cfg_of[label]]:
                    tally.add(method, tally.same)
            elif v == "slower":
                tally.add(method, tally.detected)
        if false:
            tally.add(method, tally.false_slower, false)
            tally.bad_nights.setdefault(method, []).append(i)
    if not full:
        return
    tally.unchanged += int(sum(1 for t in truth_of.values() if t == 1.0))
    for r in cmp.rows:
        if night.bimodal[cfg_of[r.label]]:
            tally.bimodal_configs += 1
            tally.bimodal_named += r.verdict is Verdict.BIMODAL
        elif np.isfinite(r.ci_low) and case != "drift":
            tally.intervals += 1
            tally.covered += r.ci_low <= truth_of[r.label] <= r.ci_high


def _chunk(job: tuple[str, range, int, Options]) -> tuple[str, Tally]:
    case, nights, seed, opts = job
    tally = Tally()
    simulate(case, nights, seed, opts, tally)
    return case, tally


def _pct(n: float, d: float) -> str:
    return f"{100.0 * n / d:.1f}%" if d else "-"


def _judgement(text: str) -> tuple[str, float]:
    test, _, alpha = text.partition(":")
    if test not in stats.TESTS:
        raise SystemExit(f"--judge {text}: the test must be one of {', '.join(stats.TESTS)}")
    return test, float(alpha)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=20, help="nights per case (default 20)")
    ap.add_argument("--case-nights", default="", metavar="CASE=N,...",
                    help="nights of some cases: A/A=300,+5%%=200")  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full-nights", type=int, default=20,
                    help="nights a case compared whole: old, asv, same, coverage")  # fmt: skip
    ap.add_argument("--budget", type=float, default=0.14,
                    help="confirmation budget, share of the night's launches")  # fmt: skip
    ap.add_argument("--window", type=int, default=5,
                    help="earlier baseline runs pooled into the new screen")  # fmt: skip
    ap.add_argument("--max-suspects", type=int, default=10, help="the new method's")
    ap.add_argument("--taper", type=float, default=0.5, help="the new method's")
    ap.add_argument("--judge", action="append", default=None, metavar="TEST:ALPHA",
                    help="a way to judge the new method's confirmation (repeatable; default"
                    " mannwhitney:0.01, the method before, and the library's default)")  # fmt: skip
    ap.add_argument("--cases", default="A/A,+5%,+10%,drift,bimodal")
    ap.add_argument("--jobs", type=int, default=1, help="processes (nights split among them)")
    args = ap.parse_args()
    judgements = tuple(_judgement(j) for j in args.judge) if args.judge else Options().judgements
    opts = Options(budget=args.budget, window=args.window, max_suspects=args.max_suspects,
                   taper=args.taper, judgements=judgements,
                   full_nights=args.full_nights)  # fmt: skip
    cases = tuple(args.cases.split(","))
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    per_case = dict.fromkeys(cases, args.nights)
    for item in filter(None, args.case_nights.split(",")):
        case, _, n = item.partition("=")
        per_case[case] = int(n)
    step = 5
    jobs = [(c, range(k, min(k + step, per_case[c])), args.seed, opts)
            for c in cases for k in range(0, per_case[c], step)]  # fmt: skip
    tallies = {c: Tally() for c in cases}
    if args.jobs > 1:  # each night has its own seeded stream: the same table either way
        with ProcessPoolExecutor(args.jobs) as pool:
            for k, (case, t) in enumerate(pool.map(_chunk, jobs), 1):
                tallies[case].merge(t)
                print(f"{k}/{len(jobs)} chunks ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    else:
        for case, t in map(_chunk, jobs):
            tallies[case].merge(t)
    wall = time.perf_counter() - t0
    empty = Tally()
    aa, p5, p10 = (tallies.get(c, empty) for c in ("A/A", "+5%", "+10%"))
    drift, bim = tallies.get("drift", empty), tallies.get("bimodal", empty)
    methods, two_stage = opts.methods, opts.two_stage

    def per100(t: Tally, m: str) -> str:
        n = t.judged.get(m, 0)
        return f"{100.0 * t.false_slower.get(m, 0) / n:.2f}" if n else "-"

    def nights_of(t: Tally, m: str) -> str:
        return str(t.judged.get(m, 0))

    def each(f: Callable[[str], str], only: tuple[str, ...] = methods) -> list[str]:
        return [f(m) if m in only else "-" for m in methods]

    everything = list(tallies.values())
    nights = ", ".join(f"{c} {per_case[c]}" for c in cases)
    print(f"nights: {nights}; {CONFIGS} configurations, {LAUNCHES} launches a side, seed"
          f" {args.seed}; confirmation budget {opts.budget:.0%}; new: {opts.window} earlier"
          f" baseline runs pooled into the screen, at most {opts.max_suspects} suspects, taper"
          f" {opts.taper}, one-sided; columns 'new TEST ALPHA': its confirmation judged by that"
          f" test under Holm at that family alpha ({wall:.0f} s, load average"
          f" {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)")  # fmt: skip
    lines = [
        ("A/A: false slower per 100 nights", "<= 1", *each(lambda m: per100(aa, m))),
        ("A/A: nights with a false slower", "-",
         *each(lambda m: f"{len(aa.bad_nights.get(m, []))} of {nights_of(aa, m)}")),
        ("A/A: unchanged configurations same", ">= 90%",
         *each(lambda m: _pct(aa.same.get(m, 0), aa.unchanged))),
        ("single +5% among 300: slower", ">= 80%",
         *each(lambda m: _pct(p5.detected.get(m, 0), p5.judged.get(m, 0)))),
        ("single +5% among 300: nights", "-", *each(lambda m: nights_of(p5, m))),
        ("single +5% among 300: among the suspects", "-",
         *each(lambda m: _pct(p5.suspected.get(m, 0), p5.judged.get(m, 0)), two_stage)),
        ("single +10% among 300: slower", ">= 95%",
         *each(lambda m: _pct(p10.detected.get(m, 0), p10.judged.get(m, 0)))),
        ("drift 1.5% + 1% creep: false slower per 100 nights", "0",
         *each(lambda m: per100(drift, m))),
        ("bimodal: false slower per 100 nights", "<= 1", *each(lambda m: per100(bim, m))),
        ("bimodal configurations named bimodal", "-", "0.0%", "0.0%",
         *[_pct(bim.bimodal_named, bim.bimodal_configs)] * (len(methods) - 2)),
        ("extra confirmation launches, % of the night", "< 15%",
         *each(lambda m: _pct(sum(t.confirm_launches.get(m, 0) for t in everything),
                              sum(t.method_launches.get(m, 0) for t in everything)),
              two_stage)),
        ("95% interval coverage (screen)", "93-97%", *[_pct(
            aa.covered + p5.covered, aa.intervals + p5.intervals)] * len(methods)),
        ("95% interval coverage (confirmation)", "93-97%", *each(lambda m: _pct(
            sum(t.confirm_covered.get(m, 0) for t in everything),
            sum(t.confirm_intervals.get(m, 0) for t in everything)), two_stage)),
    ]  # fmt: skip
    head = ("measure", "target", *methods)
    widths = [max(len(str(row[i])) for row in (head, *lines)) for i in range(len(head))]
    for row in (head, *lines):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    checked = sum(t.checked for t in everything)
    print(f"full nights {opts.full_nights} a case (old, asv, same, coverage, bimodal): the quick"
          f" screen picked other suspects than the library's on"
          f" {sum(t.mismatched for t in everything)} of {checked} screens")  # fmt: skip
    for m in methods:
        if aa.bad_nights.get(m):
            print(f"A/A nights with a false slower, {m}: {sorted(aa.bad_nights[m])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
