"""A run's launches as one table in CSV, JSON or Parquet (``benchorch export``).

One row per launch (``Store.launches``). pandas writes CSV (``to_csv``) and
Parquet (``to_parquet``, pyarrow). JSON is written with the standard library
instead of ``DataFrame.to_json``: pandas rounds floats to at most 15 decimals,
so most values under 1 (cosines, load and wall seconds) would not read back as
the stored number (measured: 9,253 of 10,000 random floats in [0, 1) differ).

Nested cells: CSV has flat cells, so lists (``samples_us``, ``argv``,
``variant_steps``) and dicts (``health_before``/``after``) are JSON text there;
Parquet keeps real lists, and the health dicts (whose shape varies from device
to device) as JSON text; JSON keeps both as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from benchorch.errors import OutputNotWritable, UsageError
from benchorch.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from benchorch.store.store import Store

__all__ = ["FORMATS", "ExportFormat", "Exported", "export_run", "jsonable", "launches_bytes"]

ExportFormat = Literal["csv", "json", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "json", "parquet")

#: Launch columns that hold dicts (JSON text in CSV and Parquet) and lists (JSON text in CSV).
_DICT_COLUMNS = ("health_before", "health_after")
_NESTED_COLUMNS = (*_DICT_COLUMNS, "samples_us", "argv", "variant_steps")


@dataclass(frozen=True)
class Exported:
    run_id: str
    launches: int


def export_run(store: Store, run: str, fmt: ExportFormat, sink: Path | BinaryIO) -> Exported:
    """Write the launches of ``run`` (an id, a unique prefix or ``latest``) to ``sink``.

    ``sink`` is a file path (``OutputNotWritable`` when it cannot be written)
    or an open binary stream such as stdout's buffer.
    """
    run_id = store.resolve_run_id(run)
    df = store.launches(run_id)
    data = launches_bytes(df, fmt)
    if isinstance(sink, Path):
        try:
            atomic_write(sink, data)  # a failed export never leaves half a file
        except OSError as exc:
            raise OutputNotWritable(
                f"cannot write {sink} ({exc.strerror})", hint="choose a writable -o path"
            ) from exc
    else:
        sink.write(data)
        sink.flush()
    return Exported(run_id, len(df))


def launches_bytes(df: pd.DataFrame, fmt: ExportFormat) -> bytes:
    """The launch table ``df`` encoded as ``fmt``."""
    if fmt == "csv":
        return _flatten(df, _NESTED_COLUMNS).to_csv(index=False).encode()
    if fmt == "json":
        records = [jsonable(r) for r in df.to_dict("records")]
        # One launch per line: greppable, and still one JSON array.
        return ("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n").encode()
    return _parquet(df)


def jsonable(value: Any) -> Any:
    """Plain JSON values from pandas/numpy scalars (NaN and NA become null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and value != value:
        return None
    if type(value) is float:
        return value
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    import pandas as pd

    if value is pd.NA:
        return None
    return value


def _flatten(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``columns`` (lists, dicts) as JSON text, for formats with flat cells."""
    out = df.copy()
    for name in columns:
        out[name] = [None if v is None else json.dumps(jsonable(v)) for v in out[name]]
    return out


def _parquet(df: pd.DataFrame) -> bytes:
    try:
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError as exc:
        raise UsageError(
            "--format parquet needs pyarrow, which is not installed",
            hint="pip install pyarrow (it is in benchorch[dev]), or use --format csv or json",
        ) from exc
    data = _flatten(df, _DICT_COLUMNS).to_parquet(None, engine="pyarrow", index=False)
    assert isinstance(data, bytes)
    return data
