"""``benchorch db``: look after a results database (upgrade, check, copy, flush)
and the files its runs keep (prune-files).

Each reads ``--db`` / ``BENCHORCH_DB`` like every command (a file or a
PostgreSQL URL, the password never shown).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from benchorch.cli.main import db_path
from benchorch.errors import InfraError, UsageError
from benchorch.store.location import DbLocation, parse_db

if TYPE_CHECKING:
    from benchorch.store import Store
    from benchorch.store.copy import CopyResult


@click.group()
def db() -> None:
    """Upgrade, check or copy a results database.

    \b
    Examples:
      benchorch --db results.sqlite db check
      benchorch --db postgresql://bench@db.lab/results db upgrade
      benchorch db copy results.sqlite postgresql://bench@db.lab/results
    """


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Bring the database's schema to this benchorch's (creating it if empty).

    Safe to run while others use the database, and twice at once: the second
    waits, then finds nothing to do.
    """
    from benchorch.store import Store
    from benchorch.store.schema import SCHEMA_VERSION

    location = db_path(ctx)
    with Store(location) as store:
        if store.upgraded is None:
            click.echo(f"{location}: schema version {SCHEMA_VERSION}, nothing to do")
        else:
            before, after = store.upgraded
            click.echo(f"{location}: schema version {before} -> {after}")


@db.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Print the schema version, the row counts and an integrity check.

    Exit 0 when the database is current and sound, 3 when its integrity
    check fails; never changes it (an older schema is reported, not upgraded).
    """
    from benchorch.store import Store
    from benchorch.store.check import integrity_problems
    from benchorch.store.schema import SCHEMA_VERSION

    location = db_path(ctx)
    if location.path is not None and not location.path.exists():
        raise UsageError(
            f"no results database at {location}", hint="point --db / BENCHORCH_DB at one"
        )
    with Store(location, create=False, upgrade=False) as store:
        version = store.schema_version
        click.echo(f"database: {location}")
        note = "" if version == SCHEMA_VERSION else " (run `benchorch db upgrade`)"
        click.echo(f"schema version: {version}, this benchorch: {SCHEMA_VERSION}{note}")
        for table, n in store.counts().items():
            click.echo(f"  {table}: {n}")
        problems, notes = integrity_problems(store)
    for note in notes:
        click.echo(f"note: {note}")
    if problems:
        for p in problems:
            click.echo(f"integrity: {p}", err=True)
        raise InfraError(
            f"results database {location} failed its integrity check ({len(problems)} problems)",
            hint="copy what is sound into a new database with `benchorch db copy`",
        )
    click.echo("integrity: ok")


@db.command()
@click.pass_context
def flush(ctx: click.Context) -> None:
    """Write the launches waiting in the local spool (the database was away
    during a sweep) into the database, in order, each exactly once."""
    from benchorch.store import Store, sweep_spool

    location = db_path(ctx)
    spool = sweep_spool(location)
    if spool is None or not spool.has_pending():
        if spool is not None:
            spool.close()
        click.echo(f"{location}: nothing waits in the local spool")
        return
    with Store(location, spool=spool) as store:
        written = store.flush_spool()
        counts = spool.counts()
    click.echo(
        f"{location}: replayed {written} launches from the local spool"
        f" ({counts.spooled} spooled, {counts.replayed} replayed in all)"
    )


@db.command("prune-files")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=14.0,
    show_default=True,
    help="Keep files any run used within this many days (other databases may share the cache).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_context
def prune_files(ctx: click.Context, older_than: float, dry_run: bool) -> None:
    """Remove kept binaries and variant files (the confirm step's baselines,
    under the cache's ``kept/``) that no run of this database references."""
    from benchorch.kept import kept_root, prune_kept
    from benchorch.store import Store

    location = db_path(ctx)
    if location.path is not None and not location.path.exists():
        raise UsageError(
            f"no results database at {location}",
            hint="point --db / BENCHORCH_DB at the database whose runs the files serve",
        )
    with Store(location, create=False) as store:
        referenced = store.file_hashes()
    result = prune_kept(referenced, older_than_s=older_than * 86400.0, dry_run=dry_run)
    click.echo(f"{kept_root()}: {'would have ' if dry_run else ''}{result.line()}")


@db.command()
@click.argument("src")
@click.argument("dst")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def copy(src: str, dst: str, quiet: bool) -> None:
    """Copy every run of SRC into DST (files or PostgreSQL URLs), verified.

    Runs DST already has are skipped, so running it twice copies nothing
    twice, and an interrupted copy is finished by running it again. At the
    end the row counts and a checksum of every run are compared.
    """
    from benchorch.store import Store

    source, target = _existing(parse_db(src)), parse_db(dst)
    with Store(source, create=False) as a, Store(target) as b:
        result = _with_progress(a, b, quiet)
    click.echo(
        f"copied {result.launches_copied} launches of {result.runs_copied} runs"
        f" ({result.runs} at the source) from {source} to {target}"
    )
    if not result.verified:
        raise InfraError(
            f"the copy into {target} differs from {source}: runs"
            f" {', '.join(result.mismatched) or '(counts)'}",
            hint="run `benchorch db copy` again; if it persists, `benchorch db check` both",
        )
    click.echo(
        f"verified: counts and a checksum of each of {result.runs} runs equal"
        f" ({result.counts_dst.get('launches', 0)} launches in {target})"
    )


def _existing(location: DbLocation) -> DbLocation:
    if location.path is not None and not location.path.exists():
        raise UsageError(
            f"db copy: no results database at {location}", hint="give the file a sweep wrote"
        )
    return location


def _with_progress(a: Store, b: Store, quiet: bool) -> CopyResult:
    """``copy_store`` with a progress bar on a terminal, a line per run elsewhere."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from benchorch.store.copy import copy_store

    if quiet:
        return copy_store(a, b)
    if not sys.stderr.isatty():

        def line(done: int, total: int, n: int) -> None:
            click.echo(f"copy: {done}/{total} runs, {n} launches copied", err=True)

        return copy_store(a, b, line)
    columns = (TextColumn("copy"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TextColumn("runs, {task.fields[n]} launches"), transient=True) as bar:
        task = bar.add_task("copy", total=None, n=0)

        def progress(done: int, total: int, n: int) -> None:
            bar.update(task, completed=done, total=total, n=n)

        return copy_store(a, b, progress)
