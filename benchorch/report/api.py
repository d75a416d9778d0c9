"""The report entry points over a ``Store`` (docs/INTERNALS.md, "Report").

Each reads DataFrames from the store, hands them to the pure builders
(``model``, ``trend_model``, ``benchorch.stats``) and writes one HTML file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchorch import stats
from benchorch.report import model, render, trend_model
from benchorch.stats import Comparison

if TYPE_CHECKING:
    from benchorch.store import Store


def _history(store: Store, serials: Sequence[str]) -> pd.DataFrame:
    """Every stored launch on these phones (without raw output) with its
    configuration key and launch values, for noise floors and sparklines
    (``run_medians`` takes them as they are)."""
    if not serials:
        return pd.DataFrame()
    hist = store.lean_launches(None, device=list(serials))
    return stats.launch_values(stats.with_config_key(hist))


def _run_order(store: Store) -> list[str]:
    runs = store.runs()
    return [str(r) for r in runs["run_id"]] if not runs.empty else []


def compare_runs(
    store: Store,
    base: str,
    cand: str,
    *,
    threshold_pct: float | None = None,
    thresholds: Sequence[tuple[str, float]] | None = None,
    vary: Sequence[str] = (),
    n_boot: int = stats.DEFAULT_BOOT,
) -> Comparison:
    """``stats.compare_frames`` of two stored runs (``threshold_pct`` and
    ``thresholds`` when given, else those stored with the candidate run's
    settings: ``--threshold``, ``[thresholds]``), with each configuration's
    noise floor taken from its stored runs up to the later of the two (never
    the candidate's own, never a later run: ``stats.causal_history``); its
    suspects judged on their confirmation launches when ``benchorch sweep
    --confirm`` stored some (``confirmation_of``)."""
    base_id, cand_id = store.resolve_run_id(base), store.resolve_run_id(cand)
    b = store.launches(base_id, include_output=False)
    c = store.launches(cand_id, include_output=False)
    hist = _history(store, sorted(set(b["device_serial"]) | set(c["device_serial"])))
    if threshold_pct is None and thresholds is None:
        threshold_pct, thresholds = stored_thresholds(store, cand_id)
    cmp = _compare(
        b, c, base_id, cand_id, hist, _run_order(store), threshold_pct, vary, n_boot,
        thresholds=thresholds,
    )  # fmt: skip
    return confirmation_of(store, cmp, vary=vary)


def stored_thresholds(
    store: Store, run_id: str
) -> tuple[float | None, tuple[tuple[str, float], ...] | None]:
    """The ``threshold`` and ``thresholds`` stored with a run's settings (a
    sweep's ``--threshold`` and ``[thresholds]``), ``None`` when absent."""
    settings = (store.run(run_id)["params"] or {}).get("settings") or {}
    pct = settings.get("threshold")
    pairs = settings.get("thresholds") or None
    return (
        float(pct) if pct is not None else None,
        tuple((str(k), float(v)) for k, v in pairs) if pairs else None,
    )


def confirmation_of(
    store: Store,
    screen: stats.Comparison,
    *,
    vary: Sequence[str] = (),
    alpha: float = stats.DEFAULT_ALPHA,
) -> stats.Comparison:
    """``screen`` judged with the confirmation runs stored for its two runs
    (the latest pair), or ``screen`` itself when there are none. Each suspect
    is tested one-sided in the direction the screen stored for it; a
    confirmation stored without directions (before they were kept) two-sided."""
    runs = store.runs()
    found: dict[str, str] = {}
    suspects: list[str] = []
    directions: dict[str, str] = {}
    for _, r in runs.iterrows():
        conf = (r["params"] or {}).get("confirm") if isinstance(r["params"], dict) else None
        if conf and conf.get("baseline") == screen.base and conf.get("cand") == screen.cand:
            found[str(conf["side"])] = str(r["run_id"])
            suspects = list(conf.get("suspects", []))
            directions = dict(conf.get("directions") or {})
    if set(found) != {"base", "cand"}:
        return screen
    labels = set(suspects)
    rows = {r.label: r for r in screen.rows if r.label in labels}
    chosen = tuple(
        stats.Suspect(
            label=label,
            pair=row.pair,
            base_key=str(row.base_key),
            cand_key=str(row.cand_key),
            direction=stats.Verdict(directions.get(label, "slower")),
            z=float("nan"),
            screen_ratio=row.ratio,
            screen_p=row.p_value,
            per_side=0,
        )
        for label, row in rows.items()
    )
    return stats.judge_confirmation(
        screen,
        chosen,
        store.launches(found["base"], include_output=False),
        store.launches(found["cand"], include_output=False),
        alpha=alpha,
        vary=vary,
        one_sided=bool(directions),
    )


def _compare(
    b: pd.DataFrame,
    c: pd.DataFrame,
    base_id: str,
    cand_id: str,
    hist: pd.DataFrame,
    order: list[str],
    threshold_pct: float | None,
    vary: Sequence[str],
    n_boot: int,
    cache: stats.SummaryCache | None = None,
    thresholds: Sequence[tuple[str, float]] | None = None,
) -> Comparison:
    history = stats.run_medians(hist, run_order=order) if not hist.empty else None
    return stats.compare_frames(
        b,
        c,
        base_id=base_id,
        cand_id=cand_id,
        history=history,
        threshold_pct=threshold_pct,
        thresholds=thresholds,
        vary=vary,
        n_boot=n_boot,
        cache=cache,
    )


def build_run_report(
    store: Store,
    run_id: str,
    *,
    baseline: str | None = None,
    vary: Sequence[str] = (),
    n_boot: int = stats.DEFAULT_BOOT,
) -> model.RunReport:
    """The run's view model; with ``baseline``, its comparison, the baseline's
    split-half A/A check and the history sparklines (one history query, each
    run's launches read once; the run's bootstraps shared by its recipe table
    and the comparison)."""
    run_id = store.resolve_run_id(run_id)
    launches = store.launches(run_id, include_output=False)
    comparison = history = aa = None
    cache: stats.SummaryCache = {}
    if baseline is not None:
        base_id = store.resolve_run_id(baseline)
        base_launches = store.launches(base_id, include_output=False)
        serials = set(base_launches["device_serial"]) | set(launches["device_serial"])
        hist = _history(store, sorted(serials))
        order = _run_order(store)
        comparison = _compare(
            base_launches, launches, base_id, run_id, hist, order, None, vary, n_boot, cache
        )
        comparison = confirmation_of(store, comparison, vary=vary)
        aa = stats.aa_check(base_launches, n_boot=min(n_boot, 300))
        if not hist.empty:
            upto = order[: order.index(run_id) + 1] if run_id in order else order
            hist = hist[hist["run_id"].isin(upto)]
            history = stats.run_medians(hist, run_order=order, key="series_key")
    return model.build_run_report(
        store.run(run_id),
        launches,
        devices=store.devices(run_id),
        binaries=store.binaries(run_id),
        variants=store.variants(run_id),
        skips=store.skips(run_id),
        comparison=comparison,
        history=history,
        aa=aa,
        n_boot=n_boot,
        cache=cache,
    )


def write_run_report(
    store: Store,
    run_id: str,
    out: Path,
    *,
    baseline: str | None = None,
    vary: Sequence[str] = (),
) -> Path:
    """Render run ``run_id`` (optionally against ``baseline``) into ``out``."""
    report = build_run_report(store, run_id, baseline=baseline, vary=vary)
    return render.write_html(render.render_run(report), out)


def write_trend_report(
    store: Store, out: Path, *, devices: Sequence[str] | None = None, since: Any = None
) -> Path:
    """Render the history of every series (optionally of some phones, since a date)."""
    launches = store.lean_launches(None, device=list(devices) if devices else None, since=since)
    report = trend_model.build_trend_report(
        launches,
        run_order=_run_order(store),
        devices=devices,
        since=None if since is None else str(since),
    )
    return render.write_html(render.render_trend(report), out)
