"""``benchorch runs`` and ``benchorch export``: look into the results store.

Both read the database chosen by ``--db`` / ``BENCHORCH_DB`` (never create
it); ``open_results`` and ``existing_db`` are every read-only command's way in.
A run may be named by its id, a unique prefix of it, or ``latest``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from benchorch.cli.main import db_path
from benchorch.errors import RunNotFound, UsageError
from benchorch.report import fmt
from benchorch.store import Store
from benchorch.store.export import FORMATS, ExportFormat, export_run, jsonable
from benchorch.store.location import DbLocation


def existing_db(location: DbLocation) -> DbLocation | None:
    """``location`` when it is a results database to read, ``None`` when it could
    be one but does not exist yet (a read-only command then finds no runs). A
    path that can never be one (its folder is missing, or it is a folder) is a
    usage error naming the path; nothing is created either way. A PostgreSQL
    database always exists to read (its server says otherwise, exit 3)."""
    path = location.path
    if path is None:
        return location
    if path.is_dir():
        raise UsageError(
            f"results database {path} is a folder",
            hint="point --db / BENCHORCH_DB at a results file, e.g. results.sqlite",
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"results database {path} cannot exist: its folder {path.parent} does not",
            hint="point --db / BENCHORCH_DB at the results file a sweep wrote",
        )
    return location if path.exists() else None


def open_results(location: DbLocation) -> Store:
    """The results store at ``location`` for reading: never created (``existing_db``)."""
    if existing_db(location) is None:
        raise RunNotFound(
            f"no results database at {location}",
            hint="run `benchorch sweep` first, or point --db / BENCHORCH_DB at one",
        )
    return Store(location, create=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the newest N runs.")
@click.pass_context
def runs(ctx: click.Context, as_json: bool, limit: int | None) -> None:
    """List the runs in the results store, newest first.

    \b
    Columns: run id, start (UTC), status, launches, failed launches,
    devices, and the command that made the run.

    \b
    Example:
      benchorch --db results.sqlite runs --limit 5
    """
    path = db_path(ctx)
    rows: list[dict[str, Any]] = []
    if existing_db(path) is not None:
        with Store(path, create=False) as store:
            rows = store.run_list()  # no pandas for a list
    rows.reverse()
    if limit is not None:
        rows = rows[:limit]
    if as_json:
        click.echo(json.dumps([jsonable(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no runs in {path}", err=True)
        return
    table = [("RUN", "STARTED (UTC)", "STATUS", "LAUNCHES", "FAILED", "DEVICES", "COMMAND")]
    for r in rows:
        table.append(
            (
                str(r["run_id"]),
                fmt.utc(r["started_at"], suffix="", missing="-"),
                str(r["status"]),
                str(r["launches"]),
                str(r["failures"]),
                ",".join(r["devices"]) or "-",
                " ".join(str(r["command"]).split()),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@click.command()
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="Output format; lists (samples_us, argv) and dicts (health) are JSON text in CSV/Parquet.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of stdout.",
)
@click.pass_context
def export(ctx: click.Context, run: str, fmt: ExportFormat, output: Path | None) -> None:
    """Write the launches of RUN (an id, a unique prefix, or `latest`) as one table.

    One row per launch with its configuration, outcome, raw per-iteration
    samples, health before/after, and the device, binary and variant facts.

    \b
    Example:
      benchorch export latest --format parquet -o launches.parquet
    """
    if output is None:
        sys.stdout.flush()
    with open_results(db_path(ctx)) as store:
        done = export_run(store, run, fmt, output if output is not None else sys.stdout.buffer)
    if output is not None:
        click.echo(f"wrote {done.launches} launches of run {done.run_id} to {output}", err=True)
