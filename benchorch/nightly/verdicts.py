"""A night's verdicts: each configuration against the last complete night AND a
rolling window of nights, screened, then confirmed before anyone is accused.

* **Screen** (``stats.confirm``'s drift-free score ``z``): a configuration is a
  suspect only when it scores ``z >= z_min`` against the previous complete
  night **and** against the window (``stats.pooled_comparison``: the previous
  night's launches pooled with those of the window's nights that measured
  the same configuration on the same phone, binary and file): one bad
  baseline night can neither invent a regression (the window disagrees) nor
  hide one (the previous night alone does not decide). Faster in both: an
  improvement candidate.
* **Confirm**: these suspects, and only these, go to the sweep's confirm step
  (``benchorch.sweep.confirm.confirm_run(suspects=...)``, not its own pooled
  screen: the configurations the report accuses are the ones re-run;
  the baseline night's exact binary
  and variant file, by content hash, A/B interleaved with tonight's on the same
  phone, judged by ``stats.judge_confirmation``). Only a suspect the
  confirmation calls ``slower`` is a confirmed regression; the rest are listed
  apart as unconfirmed suspects. When this benchorch has no confirm step, no
  suspect is confirmed and the report says why. A phone imported from captured
  logs (``benchorch import --run`` into the night's run) is screened like the
  others, but never re-run: its suspects stay suspects, and say so.
* **Newly failing**: a configuration whose launches all failed tonight but
  not on the previous night (``ComparisonRow.broke``).

The night's binary and variant files may change from night to night (that is
what is measured): they are the treatment (``vary``), not a reason to refuse.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchorch import stats
from benchorch.captured import NOT_RERUNNABLE, imported_labels
from benchorch.errors import BenchorchError
from benchorch.stats.confirm import DEFAULT_Z, screen_scores
from benchorch.store import Store
from benchorch.store.nights import NightRow

log = logging.getLogger("benchorch.nightly")

__all__ = ["ConfigVerdict", "NightVerdicts", "judge_night"]

#: the night's binary and variant files are the treatment, not a mismatch
VARY = ("binary_sha256", "variant_sha256", "device_fingerprint")
#: nights of history in a sparkline
SPARK_NIGHTS = 10


@dataclass(frozen=True)
class ConfigVerdict:
    label: str
    kind: str  # regression | improvement | suspect | newly failing
    ratio_previous: float
    ratio_window: float
    z_previous: float
    z_window: float
    confirmed: bool
    reason: str
    serial: str
    spark: tuple[float, ...] = ()  # median us per night, oldest first (this night last)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["spark"] = list(self.spark)
        return out


@dataclass(frozen=True)
class NightVerdicts:
    night: str
    run_id: str
    previous: NightRow | None
    window: tuple[NightRow, ...]
    regressions: tuple[ConfigVerdict, ...] = ()
    improvements: tuple[ConfigVerdict, ...] = ()
    suspects: tuple[ConfigVerdict, ...] = ()  # not confirmed
    newly_failing: tuple[ConfigVerdict, ...] = ()
    confirm_launches: int = 0
    confirm_note: str = ""
    confirm_error: str = ""  # the confirm step could not run (a baseline file gone, a phone)
    #: extra launches spent on the confirmed and on the rejected suspects
    #: (``sweep.confirm.Confirmation.cost``: suspects, launches, per_suspect)
    confirm_cost: dict[str, dict[str, float]] = field(default_factory=dict)
    compared: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "night": self.night,
            "run_id": self.run_id,
            "previous_night": self.previous.night if self.previous else None,
            "window_nights": [r.night for r in self.window],
            "compared": self.compared,
            "regressions": [v.to_dict() for v in self.regressions],
            "improvements": [v.to_dict() for v in self.improvements],
            "unconfirmed_suspects": [v.to_dict() for v in self.suspects],
            "newly_failing": [v.to_dict() for v in self.newly_failing],
            "confirm_launches": self.confirm_launches,
            "confirm_note": self.confirm_note,
            "confirm_error": self.confirm_error,
            "confirm_cost": self.confirm_cost,
            "notes": list(self.notes),
        }


class Frames:
    """Each run's launches read once (without raw output)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache: dict[str, pd.DataFrame] = {}

    def one(self, run_id: str) -> pd.DataFrame:
        if run_id not in self.cache:
            self.cache[run_id] = self.store.launches(run_id, include_output=False)
        return self.cache[run_id]

    def many(self, run_ids: Sequence[str]) -> pd.DataFrame:
        frames = [f for f in (self.one(r) for r in run_ids) if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _sparks(
    frames: Frames, nights: Sequence[NightRow], labels: dict[tuple[Any, Any], str]
) -> dict[str, tuple]:
    """The comparison's pair key -> median launch value per night (oldest first).

    The phones are named with the comparison's own labels (``labels``), so two
    phones of one model and build (same configuration key) keep their own lines."""
    runs = [r.run_id for r in nights if r.run_id]
    hist = frames.many(runs)
    if hist.empty:
        return {}
    hist = stats.launch_values(hist)
    hist = hist[(hist["status"] == "ok") & (hist["kind"] != "load")].copy()
    hist["device"] = [
        labels.get((m, s), str(s))
        for m, s in zip(hist["device_model"], hist["device_serial"], strict=True)
    ]
    hist = stats.keyed(hist, stats.PAIR_FIELDS, "series_key")
    med = hist.groupby(["series_key", "run_id"])["value_us"].median()
    order = {rid: i for i, rid in enumerate(runs)}
    out: dict[str, list[tuple[int, float]]] = {}
    for (skey, rid), value in med.items():
        out.setdefault(str(skey), []).append((order[str(rid)], float(value)))
    return {k: tuple(v for _i, v in sorted(vals)) for k, vals in out.items()}


def _ratio(row: stats.ComparisonRow | None) -> float:
    return float(row.ratio) if row is not None else float("nan")


def judge_night(
    store: Store,
    night: NightRow,
    previous: NightRow | None,
    window: Sequence[NightRow],
    *,
    confirm: bool,
    db: Any,
    z_min: float = DEFAULT_Z,
    confirm_budget: float = 14.0,
    lab: Path | None = None,
    lab_wait: float | None = None,
) -> NightVerdicts:
    """The verdicts of ``night`` (see the module); ``db``: where the confirm
    step stores its A/B launches; ``confirm_budget``: its extra launches, % of
    the night's (``[nightly] confirm_budget``); ``lab``: the night's lab.toml
    (the A/B re-runs are then jobs of the lab, each holding its phone's lock);
    ``lab_wait``: seconds such a job may wait for its phone before it is not run."""
    assert night.run_id is not None
    base = NightVerdicts(night.night, night.run_id, previous, tuple(window))
    if previous is None or previous.run_id is None:
        return _with(base, notes=("no earlier complete night: nothing to compare with yet",))
    frames = Frames(store)
    cand = frames.one(night.run_id)
    prev = frames.one(previous.run_id)
    win = frames.many([r.run_id for r in window if r.run_id])
    cmp_prev = stats.compare_frames(
        prev, cand, base_id=previous.run_id, cand_id=night.run_id, vary=VARY
    )
    # the window's comparison gives the screen's score (no bootstrap in it) and a
    # ratio to show: the previous night pooled with the window's nights that
    # measured the same configuration (phone, binary, file), as `sweep
    # --confirm` pools its baseline (a window night of another binary used to
    # make the whole window "not comparable" and silence the screen)
    cmp_win = stats.pooled_comparison(prev, win, cand, cand_id=night.run_id, vary=VARY)
    z_prev, z_win = screen_scores(cmp_prev), screen_scores(cmp_win)
    by_win = {r.label: r for r in cmp_win.rows}
    history = [*window, night] if window else [previous, night]
    sparks = _sparks(frames, history[-SPARK_NIGHTS:], stats.device_labels([prev, cand]))
    slower: list[tuple[stats.ComparisonRow, float, float]] = []
    faster: list[tuple[stats.ComparisonRow, float, float]] = []
    failing: list[ConfigVerdict] = []
    for row in cmp_prev.rows:
        zp = z_prev.get(row.label, float("nan"))
        zw = z_win.get(row.label, float("nan"))
        if row.broke:
            failing.append(
                _verdict(
                    row, by_win.get(row.label), "newly failing", zp, zw, True, row.reason, sparks
                )
            )
        elif zp >= z_min and zw >= z_min:
            slower.append((row, zp, zw))
        elif zp <= -z_min and zw <= -z_min:
            faster.append((row, zp, zw))
    error = ""
    cost: dict[str, dict[str, float]] = {}
    try:
        confirmed, launches, note, cost = _confirm(
            db, night, previous, slower, faster, confirm, confirm_budget, lab, lab_wait
        )
    except BenchorchError as exc:  # a phone gone, a baseline file gone: the suspects stay suspects
        log.error("the confirm step failed: %s", exc)
        error = str(exc)
        confirmed, launches, note = {}, 0, f"not confirmed: the confirm step failed: {exc}"
    drifted, notes = _drifted_phones(cmp_prev.rows, [r for r, _zp, _zw in slower], confirmed)
    regs, imps, sus = [], [], []
    imported = (
        imported_labels(store, (previous.run_id, night.run_id), [prev, cand])
        if slower or faster
        else set()
    )
    for row, zp, zw in [*slower, *faster]:
        got = confirmed.get(row.label)
        if row.pair and row.pair[0] in imported:
            got, note_row = None, NOT_RERUNNABLE
        else:
            note_row = note
        kind_ok = row in [s[0] for s in slower]
        if got is not None and got.verdict is stats.Verdict.SLOWER and kind_ok:
            regs.append(
                _verdict(
                    got, by_win.get(row.label), "regression", zp, zw, True, got.reason, sparks, row
                )
            )
        elif got is not None and got.verdict is stats.Verdict.FASTER and not kind_ok:
            imps.append(
                _verdict(
                    got, by_win.get(row.label), "improvement", zp, zw, True, got.reason, sparks, row
                )
            )
        else:
            why = (
                got.reason
                if got is not None
                else (
                    note_row
                    or "not confirmed: the confirm step did not measure it again (its budget)"
                )
            )
            if row.pair and row.pair[0] in drifted:
                why = f"phone drift? every configuration of {row.pair[0]} is slower alike; {why}"
            sus.append(
                _verdict(
                    row,
                    by_win.get(row.label),
                    "slower?" if kind_ok else "faster?",
                    zp,
                    zw,
                    False,
                    why,
                    sparks,
                )
            )
    return _with(
        base,
        regressions=tuple(regs),
        improvements=tuple(imps),
        suspects=tuple(sus),
        newly_failing=tuple(failing),
        confirm_launches=launches,
        confirm_note=note,
        confirm_error=error,
        confirm_cost=cost,
        compared=sum(1 for r in cmp_prev.rows if r.verdict is not stats.Verdict.NOT_COMPARABLE),
        notes=notes,
    )


#: a phone whose configurations all changed within this factor of each other drifted
DRIFT_SPREAD = 1.05


def _drifted_phones(
    rows: Sequence[stats.ComparisonRow],
    slower: Sequence[stats.ComparisonRow],
    confirmed: dict[str, stats.ComparisonRow],
) -> tuple[dict[str, float], tuple[str, ...]]:
    """Phones (device labels) whose every compared configuration (at least 2)
    is a slower suspect, either by nearly the same factor or with the A/B
    re-run on that phone finding none of them slower (both nights' binaries
    and files were slow alike there: the phone, not the code): device label
    -> median ratio, and the report's note on each."""
    suspects = {r.label for r in slower}
    by_phone: dict[str, list[stats.ComparisonRow]] = {}
    for r in rows:
        if r.pair and np.isfinite(r.ratio) and r.verdict is not stats.Verdict.NOT_COMPARABLE:
            by_phone.setdefault(str(r.pair[0]), []).append(r)
    out: dict[str, float] = {}
    notes = []
    for phone, mine in by_phone.items():
        if len(mine) < 2 or not all(r.label in suspects for r in mine):
            continue
        ratios = [r.ratio for r in mine]
        med = float(np.median(ratios))
        again = [confirmed.get(r.label) for r in mine]
        rejected = all(
            a is not None and a.confirm_base and a.verdict is not stats.Verdict.SLOWER
            for a in again
        )
        if rejected:
            out[phone] = med
            notes.append(
                f"{phone}: every configuration slower ({(med - 1) * 100:+.1f}%), and the A/B"
                " re-run on it found none slower with tonight's binary and files than with"
                " the previous night's: the phone drifted, not a code change"
            )
        elif max(ratios) / min(ratios) < DRIFT_SPREAD and not any(
            a is not None and a.verdict is stats.Verdict.SLOWER for a in again
        ):
            out[phone] = med
            notes.append(
                f"{phone}: every configuration {(med - 1) * 100:+.1f}% alike: the phone drifted,"
                " not a code change on this evidence (an A/B re-run on it decides)"
            )
    return out, tuple(notes)


def _with(v: NightVerdicts, **changes: Any) -> NightVerdicts:
    import dataclasses

    return dataclasses.replace(v, **changes)


def _verdict(
    row: stats.ComparisonRow,
    win: stats.ComparisonRow | None,
    kind: str,
    zp: float,
    zw: float,
    confirmed: bool,
    reason: str,
    sparks: dict[str, tuple],
    screened: stats.ComparisonRow | None = None,
) -> ConfigVerdict:
    """``row``'s verdict; its sparkline is the screened row's (the night's
    comparison with the previous night names the phones as the history does)."""
    serial = str(row.pair[0]) if row.pair else ""
    return ConfigVerdict(
        label=row.label,
        kind=kind,
        ratio_previous=float(row.ratio),
        ratio_window=_ratio(win),
        z_previous=float(zp) if np.isfinite(zp) else float("nan"),
        z_window=float(zw) if np.isfinite(zw) else float("nan"),
        confirmed=confirmed,
        reason=reason,
        serial=serial,
        spark=sparks.get("|".join((screened or row).pair), ()),
    )


def _confirm(
    db: Any,
    night: NightRow,
    previous: NightRow,
    slower: Sequence[tuple[stats.ComparisonRow, float, float]],
    faster: Sequence[tuple[stats.ComparisonRow, float, float]],
    enabled: bool,
    budget_pct: float,
    lab: Path | None = None,
    lab_wait: float | None = None,
) -> tuple[dict[str, stats.ComparisonRow], int, str, dict[str, dict[str, float]]]:
    """The confirm step's verdicts by label, its extra launches, a note, and
    its launches per confirmed and per rejected suspect."""
    if not slower and not faster:
        return {}, 0, "", {}
    if not enabled:
        return {}, 0, "not confirmed: confirm = false in [nightly]", {}
    try:
        from benchorch.sweep import confirm as sweep_confirm
    except ImportError:
        return (
            {},
            0,
            (
                "not confirmed: this benchorch has no A/B confirm step yet "
                "(benchorch.sweep.confirm); a suspect is never called a regression unconfirmed"
            ),
            {},
        )
    if night.run_id is None or previous.run_id is None:
        return {}, 0, "not confirmed: a night without a stored run", {}
    # the night's own suspects, each by its weaker score of the two baselines:
    # the configurations this report accuses are the ones re-run A/B
    mine = {row.label: min(zp, zw) for row, zp, zw in slower}
    mine.update({row.label: max(zp, zw) for row, zp, zw in faster})
    done = sweep_confirm.confirm_run(
        db=db,
        cand_run=night.run_id,
        baseline=previous.run_id,
        vary=VARY,
        budget_share=budget_pct / 100.0,
        suspects=mine,
        lab=lab,
        lab_wait=lab_wait,
    )
    rows = {r.label: r for r in done.comparison.rows if r.confirm_base}
    return rows, int(done.launches), "", done.cost()
