"""The ``benchorch`` command: a lazy click group.

Each command lives in its own module under ``benchorch.cli`` and is imported
only when it runs, so ``benchorch parse`` never pays for pandas or torch.
A command returns an ``Outcome`` (or nothing: success) or raises a
``BenchorchError``; ``LazyGroup.invoke`` prints an error as one line on stderr
and exits with the code ``benchorch.exits.exit_code`` gives either.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from benchorch import __version__
from benchorch.domain import Outcome
from benchorch.errors import BenchorchError, UsageError
from benchorch.exits import exit_code
from benchorch.paths import default_results_db

if TYPE_CHECKING:
    from benchorch.store.location import DbLocation

#: command name -> "module:attribute" of its click command, and its one-line help.
COMMANDS: dict[str, tuple[str, str]] = {
    "sweep": (
        "benchorch.cli.sweep_cmd:sweep",
        "Run a benchmark sweep on devices and write the report.",
    ),
    "variants": (
        "benchorch.cli.variants_cmd:variants",
        "Export a model's mobile-recipe variants, checked.",
    ),
    "build": (
        "benchorch.cli.build_cmd:build",
        "Build or register speed_benchmark_torch, with provenance.",
    ),
    "devices": ("benchorch.cli.devices_cmd:devices", "List devices with their facts."),
    "parse": ("benchorch.cli.parse_cmd:parse", "Parse captured benchmark output."),
    "import": (
        "benchorch.cli.import_cmd:import_",
        "Store captured logs (iOS TestApp, unreachable phones) as launches.",
    ),
    "runs": ("benchorch.cli.store_cmd:runs", "List the runs in the results store."),
    "export": ("benchorch.cli.store_cmd:export", "Write a run's launches as CSV, JSON or Parquet."),
    "report": ("benchorch.cli.report_cmd:report", "Render a run's HTML report."),
    "compare": (
        "benchorch.cli.report_cmd:compare",
        "Compare two runs: faster, slower or the same.",
    ),
    "db": (
        "benchorch.cli.db_cmd:db",
        "Upgrade, check or copy a results database; prune kept files.",
    ),
    "trend": ("benchorch.cli.report_cmd:trend", "Render the history report across runs."),
    "nightly": (
        "benchorch.cli.nightly_cmd:nightly",
        "Run tonight's benchmarks once per night; show a night's status.",
    ),
    "lab": ("benchorch.cli.lab_cmd:lab", "The shared lab: phones, reservations, workers."),
    "virtual-phone": (
        "benchorch.cli.vphone_cmd:virtual_phone",
        "Serve a virtual phone over the adbd protocol.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attr = spec[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])

    def invoke(self, ctx: click.Context) -> Any:
        result: Outcome | BaseException | None
        try:
            returned = super().invoke(ctx)
            result = returned if isinstance(returned, Outcome) else None
        except BenchorchError as exc:
            logging.getLogger("benchorch").debug("error", exc_info=True)
            click.echo(f"benchorch: error: {exc}", err=True)
            result = exc
        except KeyboardInterrupt as exc:
            click.echo("benchorch: interrupted", err=True)
            result = exc
        ctx.exit(int(exit_code(result)))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchorch")
@click.option(
    "--db",
    envvar="BENCHORCH_DB",
    default=None,
    metavar="FILE|URL",
    help="Results database: an SQLite file, or postgresql://user@host:port/dbname (password"
    " from the URL, PGPASSWORD or ~/.pgpass). Default: BENCHORCH_DB, else a file in the user"
    " data dir.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: int) -> None:
    """Benchmark PyTorch mobile-recipe variants on phones with speed_benchmark_torch.

    \b
    Exit codes: 0 ok; 1 a benchmark failed or a regression was confirmed;
    2 usage error; 3 infrastructure error (device, build, database).
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    ctx.obj["verbose"] = verbose


def invocation() -> str:
    """This process's command line as a user would type it (stored with a run, so
    the report can show how to reproduce it)."""
    return " ".join(shlex.quote(a) for a in ["benchorch", *sys.argv[1:]])


def db_path(ctx: click.Context) -> DbLocation:
    """The results database chosen by ``--db`` / ``BENCHORCH_DB`` / the default: a
    file or a PostgreSQL URL. A malformed URL, an unknown scheme or a file whose
    folder does not exist is a usage error (exit 2), the password masked."""
    from benchorch.store.location import DbLocation, parse_db

    root = ctx.find_root()
    obj = root.obj or {}
    given = obj.get("db") or os.environ.get("BENCHORCH_DB")
    if not given:
        return DbLocation(path=default_results_db())
    location = parse_db(str(given))
    if location.path is not None and not location.path.parent.is_dir():
        raise UsageError(
            f"results database {location.path} cannot exist: its folder"
            f" {location.path.parent} does not",
            hint="create the folder, or point --db / BENCHORCH_DB at a file in an existing one",
        )
    return location


def main() -> None:
    # standalone_mode keeps click's own usage errors at exit code 2.
    try:
        cli(prog_name="benchorch")
    finally:
        # The process ends here. Its last garbage collections would walk every
        # object of every module imported (pandas, SQLAlchemy, jinja2: about
        # 0.1 s after a sweep's report); frozen, they are skipped. Exit handlers
        # and finalizers still run.
        gc.freeze()
