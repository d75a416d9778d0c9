"""``report_night``: the plain callable behind ``benchorch nightly report``.

The night (``--night latest`` or a date) of one configuration is judged
(``verdicts.judge_night``: against the last complete night before it and a
window of complete nights), then written: Markdown (returned, for stdout and
``$GITHUB_STEP_SUMMARY``), JSON and the run's HTML report (the same headline first, above
the run's own report) into ``--out``; a GitHub-issue body file for a confirmed
regression; a webhook when there is something to say (its failure is logged,
never the verdict). The outcome: ``REGRESSION`` (exit 1) for a confirmed
regression or a newly failing configuration, else ``PARTIAL`` (exit 3) when
coverage is under the minimum or the confirm step could not run (a baseline
file gone: the error names its hash), else ``OK``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch.domain import Outcome
from benchorch.errors import ConfigError, RunNotFound
from benchorch.files import atomic_write
from benchorch.nightly.config import load_nightly, night_db
from benchorch.nightly.headline import NightReport, html_view, markdown, webhook_text
from benchorch.nightly.night import config_hash
from benchorch.nightly.notify import post_webhook, webhook_url, write_issue
from benchorch.nightly.show import find_nights
from benchorch.nightly.status import night_status
from benchorch.nightly.verdicts import VARY, judge_night
from benchorch.store import Store
from benchorch.store.location import DbLocation
from benchorch.store.nights import COMPLETE, NightStore
from benchorch.sweep.settings import merge

if TYPE_CHECKING:
    from benchorch.stats import Comparison

log = logging.getLogger("benchorch.nightly")

__all__ = ["FORMATS", "ReportFiles", "compare_nights", "parse_baseline", "report_night"]

FORMATS = ("md", "json", "html")
#: bootstrap resamples of the HTML run report's intervals (the verdicts of the
#: night are the headline's; 400 keep a 95% interval's ends within about 0.3%)
HTML_BOOT = 400


@dataclass(frozen=True)
class ReportFiles:
    report: NightReport
    markdown: str
    written: tuple[Path, ...]
    issue: Path | None
    webhook_sent: bool | None  # None: nothing to say or no URL


def _finite(value: Any) -> Any:
    """JSON has no NaN: a missing number is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def compare_nights(
    *, db: Path | DbLocation, config_file: Path, night_a: str, night_b: str
) -> Comparison:
    """``nightly compare A B``: B against A, configuration by configuration."""
    from benchorch import stats

    db = night_db(db, load_nightly(config_file))
    if not db.exists():
        raise RunNotFound(f"no results database at {db}", hint="pass --db / BENCHORCH_DB")
    with Store(db, create=False) as store:
        [a] = find_nights(store, night_a, config_file)
        [b] = find_nights(store, night_b, config_file)
        if a.run_id is None or b.run_id is None:
            raise RunNotFound(f"night {(b if a.run_id else a).night} measured nothing")
        cmp = stats.compare_frames(
            store.launches(a.run_id, include_output=False),
            store.launches(b.run_id, include_output=False),
            base_id=f"{a.night} ({a.run_id})",
            cand_id=f"{b.night} ({b.run_id})",
            vary=VARY,
        )
    return cmp


def parse_baseline(text: str, default_window: int) -> int:
    """``previous`` (the configured window) or ``window:N``: the window size."""
    if text == "previous":
        return default_window
    name, _, n = text.partition(":")
    if name == "window" and n.isdigit() and int(n) >= 1:
        return int(n)
    raise ConfigError(
        f"--baseline {text!r}: not a baseline",
        hint="use previous, or window:N (the last N complete nights)",
    )


def parse_formats(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise ConfigError(f"--format {text!r}: unknown format", hint="use html, md, json")
    return items


def report_night(
    *,
    db: Path | DbLocation,
    config_file: Path,
    night: str,
    baseline: str,
    formats: str,
    out: Path,
) -> ReportFiles:
    ncfg = load_nightly(config_file)
    cfg = merge(ncfg.sweep_values, {})
    db = night_db(db, ncfg)
    window_n = parse_baseline(baseline, ncfg.nightly.window)
    wanted = parse_formats(formats)
    if not db.exists():
        raise RunNotFound(f"no results database at {db}", hint="pass --db / BENCHORCH_DB")
    chash = config_hash(cfg)
    with Store(db, create=False) as store:
        [row] = find_nights(store, night, config_file)
        if row.run_id is None:
            raise RunNotFound(
                f"night {row.night} measured nothing (no healthy phone)",
                hint="see `benchorch nightly status`",
            )
        earlier = [
            r
            for r in NightStore(store).all(chash)
            if r.night < row.night and r.status == COMPLETE and r.run_id
        ]
        previous = earlier[-1] if earlier else None
        window = earlier[-window_n:]
        status = night_status(store, row, ncfg.nightly.min_coverage)
        verdicts = judge_night(
            store,
            row,
            previous,
            window,
            confirm=ncfg.nightly.confirm,
            db=db,
            confirm_budget=ncfg.nightly.confirm_budget,
            lab=ncfg.lab,
            lab_wait=ncfg.nightly.confirm_wait,
        )
        if verdicts.regressions or verdicts.newly_failing:
            outcome = Outcome.REGRESSION
        elif not status.coverage_met or verdicts.confirm_error:
            outcome = Outcome.PARTIAL  # a confirm step that could not run: infrastructure
        else:
            outcome = Outcome.OK
        report = NightReport(
            status=status,
            verdicts=verdicts,
            previous_revisions=dict(previous.detail.get("revisions", {})) if previous else {},
            outcome=outcome,
            config_path=str(config_file),
        )
        text = markdown(report)
        written: list[Path] = []
        out.mkdir(parents=True, exist_ok=True)
        stem = f"nightly-{row.night}-{chash}"
        if "md" in wanted:
            written.append(atomic_write(out / f"{stem}.md", text))
        if "json" in wanted:
            doc = json.dumps(_finite(report.to_dict()), indent=2, sort_keys=True)
            written.append(atomic_write(out / f"{stem}.json", doc))
        if "html" in wanted:
            from benchorch.report import render
            from benchorch.report.api import build_run_report

            # the night's verdicts are the headline's (against the previous night
            # and the window); the HTML is the night's own run report, without the
            # run report's history query over every stored night
            run_report = build_run_report(store, row.run_id, vary=VARY, n_boot=HTML_BOOT)
            html = render.render_run(run_report, nightly=html_view(report))
            written.append(render.write_html(html, out / f"{stem}.html"))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    issue = None
    if verdicts.regressions:
        target = ncfg.nightly.github_issue_file or out / f"{stem}-issue.md"
        issue = write_issue(target, report)
    sent = None
    url = webhook_url(ncfg.nightly.webhook)
    if url and report.something_to_say:
        sent = post_webhook(url, webhook_text(report))
    return ReportFiles(report, text, tuple(written), issue, sent)
