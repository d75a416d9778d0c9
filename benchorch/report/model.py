"""The run report's view model, built from the store's DataFrames (pure).

Nothing here touches a file, a database or jinja2: ``build_run_report`` takes
DataFrames with the store's columns (docs/INTERNALS.md, "Store") and returns a
frozen ``RunReport`` that the templates only print. Every number is computed
by ``benchorch.stats``; the parts are built by their own modules: ``story``
(the recipe per phone, the heatmap), ``problems`` (failures, skips),
``headline`` and ``compare_view``; this module adds the run's facts and puts
them together.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchorch import stats
from benchorch.report import fmt
from benchorch.report.compare_view import CompareView, build_compare_view
from benchorch.report.frames import prepared
from benchorch.report.headline import Headline, build_headline
from benchorch.report.problems import FailureRow, SkipGroup, build_failures, build_skips
from benchorch.report.story import Heatmap, PhoneStory, build_heatmap, build_stories
from benchorch.stats import AACheck, Comparison


def reproduce_command(run: Mapping[str, Any]) -> str:
    """The command that made a run: ``params["argv"]`` when the sweep kept it,
    else ``command`` when it is a whole command line, else ``benchorch
    COMMAND`` with one ``--flag value`` per parameter (lists repeat the flag,
    ``True`` is a bare flag, ``False``/``None`` are left out), shell-quoted."""
    params = run.get("params") or {}
    argv = params.get("argv") if isinstance(params, Mapping) else None
    if isinstance(argv, list | tuple) and argv:
        words = [str(a) for a in argv]
        if words[0] != "benchorch":
            words = ["benchorch", *words]
        return shlex.join(words)
    command = str(run.get("command") or "sweep")
    if " " in command.strip():
        return command.strip()
    words = ["benchorch", command]
    for key, value in params.items() if isinstance(params, Mapping) else []:
        flag = "--" + str(key).replace("_", "-")
        if value is None or value is False or isinstance(value, Mapping):
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, list | tuple):
            for v in value:
                words += [flag, str(v)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


@dataclass(frozen=True)
class RunReport:
    title: str
    run_id: str
    facts: tuple[tuple[str, str], ...]
    reproduce: str
    phones: tuple[tuple[tuple[str, str], ...], ...]
    binaries: tuple[tuple[tuple[str, str], ...], ...]
    torch_versions: tuple[str, ...]
    stories: tuple[PhoneStory, ...]
    heatmap: Heatmap | None
    failures: tuple[FailureRow, ...]
    skips: tuple[SkipGroup, ...]
    comparison: CompareView | None
    n_launches: int
    n_failed: int
    headline: Headline


def runner_fact(binaries: pd.DataFrame | None) -> str:
    """Which program produced the run's numbers, from the binaries' provenance
    origin: the real ``speed_benchmark_torch`` or the Python host runner."""
    if binaries is None or binaries.empty or "origin" not in binaries.columns:
        return ""
    names = []
    for origin in sorted({fmt.cell(o) for o in binaries["origin"].dropna()}):
        if origin == "hostrunner":
            names.append("Python host runner (benchorch.hostrunner), not speed_benchmark_torch")
        elif origin:
            names.append(f"speed_benchmark_torch ({origin})")
    return "; ".join(names)


def _facts_rows(
    df: pd.DataFrame | None, columns: Sequence[str]
) -> tuple[tuple[tuple[str, str], ...], ...]:
    if df is None or df.empty:
        return ()
    out = []
    for _, r in df.iterrows():
        pairs = []
        for c in columns:
            if c in df.columns:
                v = r[c]
                v = ", ".join(map(str, v)) if isinstance(v, list | tuple) else fmt.cell(v)
                if v:  # a fact never recorded is left out, not shown as a blank line
                    pairs.append((c, v))
        out.append(tuple(pairs))
    return tuple(out)


PHONE_COLUMNS = (
    "serial",
    "model",
    "manufacturer",
    "soc",
    "android_release",
    "sdk",
    "abis",
    "fingerprint",
    "load_clock",
)


BINARY_COLUMNS = (
    "sha256", "flavour", "origin", "target", "abi", "pytorch_version", "source_revision",
    "ndk_version", "build_host", "built_at", "build_flags", "bytecode_min", "bytecode_max",
)  # fmt: skip


def build_run_report(
    run: Mapping[str, Any],
    launches: pd.DataFrame,
    *,
    devices: pd.DataFrame | None = None,
    binaries: pd.DataFrame | None = None,
    variants: pd.DataFrame | None = None,
    skips: pd.DataFrame | None = None,
    comparison: Comparison | None = None,
    history: pd.DataFrame | None = None,
    aa: AACheck | None = None,
    n_boot: int = stats.DEFAULT_BOOT,
    cache: stats.SummaryCache | None = None,
) -> RunReport:
    run_id = str(run.get("run_id", ""))
    frame = prepared(launches) if not launches.empty else launches
    stories = build_stories(frame, n_boot=n_boot, cache=cache, variants=variants)
    n_failed = int((launches["status"] != "ok").sum()) if not launches.empty else 0
    facts = (
        ("run", run_id),
        ("status", fmt.cell(run.get("status"))),
        ("started", fmt.utc(run.get("started_at"))),
        ("finished", fmt.utc(run.get("finished_at"))),
        ("host", fmt.cell(run.get("host"))),
        ("benchorch", fmt.cell(run.get("benchorch_version"))),
        ("launches", f"{len(launches)} ({n_failed} failed)"),
        ("runner", runner_fact(binaries)),
    )
    torch_versions: set[str] = set()
    if binaries is not None and "pytorch_version" in binaries.columns:
        torch_versions |= {f"binary: {fmt.cell(v)}" for v in binaries["pytorch_version"].dropna()}
    if variants is not None and "torch_version" in variants.columns:
        torch_versions |= {f"export: {fmt.cell(v)}" for v in variants["torch_version"].dropna()}
    failures = build_failures(frame)
    skip_groups = build_skips(skips)
    return RunReport(
        title=f"benchorch run {run_id}",
        run_id=run_id,
        facts=tuple((k, v) for k, v in facts if v),
        reproduce=reproduce_command(run),
        phones=_facts_rows(devices, PHONE_COLUMNS),
        binaries=_facts_rows(binaries, BINARY_COLUMNS),
        torch_versions=tuple(sorted(torch_versions)),
        stories=stories,
        heatmap=build_heatmap(stories),
        failures=failures,
        skips=skip_groups,
        comparison=build_compare_view(comparison, history, aa) if comparison is not None else None,
        n_launches=len(launches),
        n_failed=n_failed,
        headline=build_headline(stories, failures, sum(g.count for g in skip_groups)),
    )
