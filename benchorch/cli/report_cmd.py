"""``benchorch report``, ``compare`` and ``trend``: the reports and the verdicts.

All three read the database chosen by ``--db`` / ``BENCHORCH_DB`` (never
create it). A run may be named by its id, a unique prefix of it, or ``latest``.
``compare`` exits 0 when nothing is slower, 1 on a confirmed regression (or a
configuration that failed in the candidate only), 2 on a usage error, 3 when
nothing was comparable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from benchorch.cli.main import db_path
from benchorch.cli.params import VARY_FIELD
from benchorch.domain import Outcome
from benchorch.exits import comparison_outcome, exit_code

if TYPE_CHECKING:
    from benchorch.store import Store
# The store and report packages pull in pandas/jinja2: import them when a command runs.


def _open(ctx: click.Context) -> Store:
    from benchorch.cli.store_cmd import open_results

    return open_results(db_path(ctx))


@click.command()
@click.argument("run")
@click.option("--baseline", metavar="RUN", help="Compare with this run (verdicts, regressions).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write. Default: reports/RUN.html.",
)
@click.option(
    "--vary",
    multiple=True,
    type=VARY_FIELD,
    help="With --baseline: a field that differs on purpose (see `compare --help`).",
)
@click.pass_context
def report(
    ctx: click.Context, run: str, baseline: str | None, output: Path | None, vary: tuple[str, ...]
) -> None:
    """Render RUN's HTML report (one self-contained file) and print its path.

    \b
    RUN is a run id, a unique prefix of one, or `latest`.

    \b
    Example:
      benchorch report latest --baseline 20261125-0300 -o night.html
    """
    from benchorch.report import write_run_report

    with _open(ctx) as store:
        run_id = store.resolve_run_id(run)
        out = output or Path("reports") / f"{run_id}.html"
        path = write_run_report(store, run_id, out, baseline=baseline, vary=vary)
    click.echo(str(path))


@click.command()
@click.argument("base")
@click.argument("cand")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--threshold",
    default=None,
    metavar="PCT",
    help="Smallest change that counts, in percent (5 or 5%; default: the candidate run's"
    " --threshold and [thresholds], else 2, raised by a noisier history).",
)
@click.option(
    "--vary",
    multiple=True,
    type=VARY_FIELD,
    help="A field that differs on purpose (e.g. variant_sha256 for a changed model). Repeatable.",
)
@click.pass_context
def compare(
    ctx: click.Context,
    base: str,
    cand: str,
    fmt: str,
    threshold: str | None,
    vary: tuple[str, ...],
) -> Outcome:
    """Compare run CAND with run BASE: faster, slower, same, inconclusive.

    \b
    Exit: 0 nothing slower; 1 confirmed regressions (or a configuration that
    failed only in CAND); 2 usage error; 3 nothing comparable.

    \b
    Example:
      benchorch compare 20261124-0300 latest --format markdown --threshold 3
    """
    from benchorch.report import compare_runs
    from benchorch.report.text import format_markdown, format_text
    from benchorch.stats.thresholds import parse_percent

    pct = parse_percent(threshold, what="--threshold") if threshold is not None else None
    with _open(ctx) as store:
        cmp = compare_runs(store, base, cand, threshold_pct=pct, vary=vary)
    outcome = comparison_outcome(cmp)
    if fmt == "json":
        click.echo(json.dumps({**cmp.to_dict(), "exit_code": int(exit_code(outcome))}, indent=2))
    elif fmt == "markdown":
        click.echo(format_markdown(cmp))
    else:
        click.echo(format_text(cmp))
    if outcome is Outcome.NOT_COMPARABLE:
        click.echo(
            f"benchorch: nothing comparable between {cmp.base} and {cmp.cand}"
            " (see the reasons; --vary FIELD compares across a deliberate change)",
            err=True,
        )
    elif outcome is Outcome.REGRESSION:
        n = len(cmp.regressions)
        click.echo(
            f"benchorch: {n} configuration(s) slower in {cmp.cand} than {cmp.base}", err=True
        )
    return outcome


@click.command()
@click.option(
    "--device", "devices", multiple=True, metavar="SERIAL", help="Only these phones (repeatable)."
)
@click.option("--since", metavar="DATE", help="Only launches since DATE (YYYY-MM-DD, UTC).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports") / "trend.html",
    show_default=True,
)
@click.pass_context
def trend(ctx: click.Context, devices: tuple[str, ...], since: str | None, output: Path) -> None:
    """Render the history report: every configuration across runs, with change points.

    \b
    Example:
      benchorch trend --device R58M1 --since 2026-11-01 -o trend.html
    """
    from benchorch.report import write_trend_report

    with _open(ctx) as store:
        path = write_trend_report(store, output, devices=devices or None, since=since)
    click.echo(str(path))
