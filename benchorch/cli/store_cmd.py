"""``benchorch runs`` and ``benchorch export``: look into the results store.

Both read the database chosen by ``--db`` / ``BENCHORCH_DB`` (never create
it); ``open_results`` and ``existing_db`` are every read-only command's way in.
A run may be named by its id, a unique prefix of it, or ``latest``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from benchorch.cli.main import db_path
from benchorch.errors import OutputNotWritable, RunNotFound, UsageError
from benchorch.store import Store

if TYPE_CHECKING:
    import pandas as pd

#: Launch columns that hold dicts (JSON text in CSV and Parquet) and lists (JSON text in CSV).
_DICT_COLUMNS = ("health_before", "health_after")
_NESTED_COLUMNS = (*_DICT_COLUMNS, "samples_us", "argv", "variant_steps")


def existing_db(path: Path) -> Path | None:
    """``path`` when it is a results file to read, ``None`` when it could be one
    but does not exist yet (a read-only command then finds no runs). A path that
    can never be one (its folder is missing, or it is a folder) is a usage
    error naming the path; nothing is created either way."""
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
    return path if path.exists() else None


def open_results(path: Path) -> Store:
    """The results store at ``path`` for reading: never created (``existing_db``)."""
    if existing_db(path) is None:
        raise RunNotFound(
            f"no results database at {path}",
            hint="run `benchorch sweep` first, or point --db / BENCHORCH_DB at one",
        )
    return Store(path, create=False)


def _when(ts: float | None) -> str:
    if ts is None or ts != ts:  # None or NaN
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


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
            rows = store.runs().to_dict("records")
    rows.reverse()
    if limit is not None:
        rows = rows[:limit]
    if as_json:
        click.echo(json.dumps([_jsonable(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no runs in {path}", err=True)
        return
    table = [("RUN", "STARTED (UTC)", "STATUS", "LAUNCHES", "FAILED", "DEVICES", "COMMAND")]
    for r in rows:
        table.append(
            (
                str(r["run_id"]),
                _when(r["started_at"]),
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


def _jsonable(value: Any) -> Any:
    """Plain JSON values from pandas/numpy scalars (NaN and NA become null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return value


def _flatten(df: pd.DataFrame, columns: tuple[str, ...] = _NESTED_COLUMNS) -> pd.DataFrame:
    """``columns`` (lists, dicts) as JSON text, for formats with flat cells."""
    out = df.copy()
    for name in columns:
        out[name] = [None if v is None else json.dumps(_jsonable(v)) for v in out[name]]
    return out


def _write_bytes(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {output} ({exc.strerror})", hint="choose a writable -o path"
        ) from exc


def _parquet(df: pd.DataFrame) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise UsageError(
            "--format parquet needs pyarrow, which is not installed",
            hint="pip install pyarrow (it is in benchorch[dev]), or use --format csv or json",
        ) from exc
    # Parquet has real lists (samples_us, argv, steps); the health dicts vary in
    # shape from device to device, so they travel as JSON text.
    table = pa.Table.from_pandas(_flatten(df, _DICT_COLUMNS), preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


@click.command()
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "parquet"]),
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
def export(ctx: click.Context, run: str, fmt: str, output: Path | None) -> None:
    """Write the launches of RUN (an id, a unique prefix, or `latest`) as one table.

    One row per launch with its configuration, outcome, raw per-iteration
    samples, health before/after, and the device, binary and variant facts.

    \b
    Example:
      benchorch export latest --format parquet -o launches.parquet
    """
    with open_results(db_path(ctx)) as store:
        run_id = store.resolve_run_id(run)
        df = store.launches(run_id)
    if fmt == "csv":
        data = _flatten(df).to_csv(index=False).encode()
    elif fmt == "json":
        records = [_jsonable(r) for r in df.to_dict("records")]
        # One launch per line: greppable, and still one JSON array.
        data = ("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n").encode()
    else:
        data = _parquet(df)
    _write_bytes(data, output)
    if output is not None:
        click.echo(f"wrote {len(df)} launches of run {run_id} to {output}", err=True)
