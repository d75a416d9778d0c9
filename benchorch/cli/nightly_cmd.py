"""``benchorch nightly``: run a night (idempotent per night and configuration), show it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from benchorch.cli.main import db_path, invocation
from benchorch.domain import Outcome
from benchorch.exits import comparison_outcome, exit_code

RUN_EPILOG = """\b
Examples:
  benchorch nightly run --config nightly.toml
  benchorch nightly run --config nightly.toml --night 2026-12-04 --deadline 06:00
  benchorch nightly status --night latest

\b
A second trigger of the same night resumes it (never a second night); a
complete night is a no-op that says so; a trigger while another runs the
night says so and exits 0 (--wait waits for it).

\b
With lab = "lab.toml" in nightly.toml the night is queued on the lab at
nightly priority (devices: lab serials, models, tags or "all"), and its
results and account live in the lab's database.

\b
Exit codes: 0 the night ran and coverage met; 1 a launch failed; 2 usage
error; 3 coverage under min_coverage (phones missing, a host down, the
deadline) or an infrastructure failure.
"""


@click.group("nightly")
def nightly() -> None:
    """Every night on every phone: run a night, show its status."""


@nightly.command("run", epilog=RUN_EPILOG)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("nightly.toml"),
    show_default=True,
    help="nightly.toml: every sweep.toml key plus a [nightly] table.",
)
@click.option("--night", metavar="YYYY-MM-DD", help="The night to run (default: today).")
@click.option("--wait", is_flag=True, help="If another trigger runs this night, wait for it.")
@click.option(
    "--deadline",
    metavar="HH:MM",
    help="Local time after which no launch starts (overrides [nightly] deadline).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary at the end.")
@click.pass_context
def run(
    ctx: click.Context,
    config_file: Path,
    night: str | None,
    wait: bool,
    deadline: str | None,
    quiet: bool,
    as_json: bool,
) -> Outcome:
    """Run tonight's benchmarks (or resume them), then print the night's account."""
    from benchorch.nightly.run import run_night

    command = invocation()
    result = run_night(
        db=db_path(ctx),
        config_file=config_file,
        night=night,
        wait=wait,
        deadline=deadline,
        command=command,
        quiet=quiet or as_json,
    )
    if as_json:
        out = {**result.to_json(), "exit_code": int(exit_code(result.outcome))}
        click.echo(json.dumps(out, indent=2, sort_keys=True))
    else:
        for line in result.lines():
            click.echo(line)
    return result.outcome


@nightly.command("status")
@click.option("--night", default="latest", show_default=True, help="YYYY-MM-DD or latest.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Only this nightly.toml's configuration (default: every one of the night).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, night: str, config_file: Path | None, as_json: bool) -> Outcome:
    """Planned, done, failed and not run (with reasons), per phone."""
    from benchorch.nightly.show import night_statuses

    statuses = night_statuses(db_path(ctx), night, config_file)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in statuses], indent=2, sort_keys=True))
    else:
        for s in statuses:
            for line in s.lines():
                click.echo(line)
    return Outcome.OK


REPORT_EPILOG = """\b
Examples:
  benchorch nightly report --config nightly.toml
  benchorch nightly report --night 2026-12-04 --baseline window:14 --format md,json --out reports
  benchorch nightly compare 2026-12-03 2026-12-04

\b
Each configuration is compared with the last complete night AND a window of
complete nights (--baseline previous: the configured window, default 7;
window:N: N nights); a regression needs both, and is confirmed by an A/B
re-run before it is called one. Markdown goes to stdout (and is appended to
$GITHUB_STEP_SUMMARY when set); --out gets the Markdown, JSON and HTML.

\b
Exit codes: 0 nothing confirmed and coverage met; 1 a confirmed regression or
a newly failing configuration; 2 usage; 3 coverage under min_coverage or
infrastructure. A webhook that fails is logged and changes nothing.
"""


@nightly.command("report", epilog=REPORT_EPILOG)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("nightly.toml"),
    show_default=True,
    help="The nightly.toml the night ran with.",
)
@click.option("--night", default="latest", show_default=True, help="YYYY-MM-DD or latest.")
@click.option("--baseline", default="previous", show_default=True, help="previous or window:N.")
@click.option(
    "--format", "formats", default="html,md,json", show_default=True, help="Files to write."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder for the report files.",
)
@click.pass_context
def report(
    ctx: click.Context,
    config_file: Path,
    night: str,
    baseline: str,
    formats: str,
    out: Path,
) -> Outcome:
    """The night's headline (regressions, coverage, phones) then its run report."""
    from benchorch.nightly.report import report_night

    files = report_night(
        db=db_path(ctx),
        config_file=config_file,
        night=night,
        baseline=baseline,
        formats=formats,
        out=out,
    )
    click.echo(files.markdown, nl=False)
    for path in files.written:
        click.echo(f"wrote {path}", err=True)
    if files.issue is not None:
        click.echo(f"wrote GitHub issue body {files.issue}", err=True)
    if files.webhook_sent is False:
        click.echo("webhook failed (logged); the verdict is unchanged", err=True)
    return files.report.outcome


@nightly.command("compare")
@click.argument("night_a")
@click.argument("night_b")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("nightly.toml"),
    show_default=True,
    help="The nightly.toml both nights ran with.",
)
@click.pass_context
def compare(ctx: click.Context, night_a: str, night_b: str, config_file: Path) -> Outcome:
    """NIGHT_B against NIGHT_A (dates or latest), configuration by configuration."""
    from benchorch.nightly.report import compare_nights
    from benchorch.report.text import format_text

    cmp = compare_nights(db=db_path(ctx), config_file=config_file, night_a=night_a, night_b=night_b)
    click.echo(format_text(cmp))
    return comparison_outcome(cmp)
