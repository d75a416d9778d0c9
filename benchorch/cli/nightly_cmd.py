"""``benchorch nightly``: run a night (idempotent per night and configuration), show it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from benchorch.cli.exits import exit_code
from benchorch.cli.main import db_path
from benchorch.domain import Outcome

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
Exit codes: 0 the night ran and coverage met; 1 a launch failed; 2 usage
error (a lab = ... key: the lab is not supported yet); 3 coverage under
min_coverage (phones missing, the deadline) or an infrastructure failure.
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

    command = " ".join(shlex.quote(a) for a in ["benchorch", *sys.argv[1:]])
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
