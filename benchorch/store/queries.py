"""Reading the store into pandas DataFrames (pandas and numpy imported lazily).

Representation of the columns that need one:

* ``samples_us``: a list of floats per launch (stored as little-endian float64).
* ``health_before``/``health_after``: a dict, or ``None``; ``argv`` and
  ``variant_steps``: lists; ``params``, ``config``: dicts.
* ``core_mask``, ``exit_code``, ``load_s`` and the other optional numbers: pandas
  nullable ``Int64`` for integers (``<NA>`` when unset), ``float64`` with NaN for
  reals. ``timed_out``, ``hot``: bool. ``check_passed``: True/False/None.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from benchorch.domain import DeviceInfo
from benchorch.errors import UsageError
from benchorch.store.records import LAUNCH_FIELDS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Reader = Callable[[str, Sequence[Any]], list[dict[str, Any]]]
RowReader = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]

RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "started_at",
    "finished_at",
    "status",
    "command",
    "params",
    "host",
    "benchorch_version",
    "devices",
    "launches",
    "failures",
)

JOINED_COLUMNS: tuple[str, ...] = (
    "device_model",
    "device_fingerprint",
    "device_soc",
    "binary_flavour",
    "variant_size_bytes",
    "variant_steps",
    "check_max_abs_err",
    "check_cosine",
    "check_passed",
)

LAUNCH_COLUMNS: tuple[str, ...] = ("launch_id", *LAUNCH_FIELDS, *JOINED_COLUMNS)

_INT_COLUMNS = ("launch_id", "threads", "core_mask", "launch_index", "iters", "warmup", "exit_code")
_INT_COLUMNS_JOINED = ("variant_size_bytes",)
_FLOAT_COLUMNS = (
    "us_per_iter",
    "iters_per_sec",
    "load_s",
    "wall_s",
    "started_at",
    "finished_at",
    "check_max_abs_err",
    "check_cosine",
)


def to_unix(when: datetime | date | str | float) -> float:
    """Unix seconds of a datetime, a date (midnight), an ISO string or a number; naive = UTC."""
    if isinstance(when, int | float):
        return float(when)
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip())
        except ValueError as exc:
            raise UsageError(
                f"--since: {when!r} is not a date", hint="use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
            ) from exc
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def run_summaries(read: Reader, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add devices (serials), launch and failure counts to ``runs`` rows."""
    if not rows:
        return []
    where, args = ("1", []) if len(rows) > 1 else _in("run_id", [rows[0]["run_id"]])
    counts = {
        r["run_id"]: r
        for r in read(
            "SELECT run_id, COUNT(*) AS n, SUM(status != 'ok') AS failed FROM launches"  # noqa: S608
            f" WHERE {where} GROUP BY run_id",
            args,
        )
    }
    serials: dict[str, set[str]] = {}
    for r in read(
        f"SELECT run_id, serial FROM devices WHERE {where}"  # noqa: S608 (? placeholders only)
        f" UNION SELECT DISTINCT run_id, device_serial FROM launches WHERE {where}",
        args + args,
    ):
        serials.setdefault(r["run_id"], set()).add(r["serial"])
    out = []
    for row in rows:
        rid = row["run_id"]
        count = counts.get(rid, {})
        out.append(
            {
                **{k: row[k] for k in RUN_COLUMNS if k in row},
                "params": json.loads(row["params"]),
                "devices": sorted(serials.get(rid, ())),
                "launches": int(count.get("n") or 0),
                "failures": int(count.get("failed") or 0),
            }
        )
    return out


_LAUNCH_SELECT = """SELECT l.id AS launch_id, {fields},
    d.model AS device_model, d.fingerprint AS device_fingerprint, d.soc AS device_soc,
    b.flavour AS binary_flavour, vf.size_bytes AS variant_size_bytes, rv.steps AS variant_steps,
    rv.check_max_abs_err, rv.check_cosine, rv.check_passed
FROM launches l
LEFT JOIN devices d ON d.run_id = l.run_id AND d.serial = l.device_serial
LEFT JOIN binaries b ON b.sha256 = l.binary_sha256
LEFT JOIN variant_files vf ON vf.sha256 = l.variant_sha256
LEFT JOIN run_variants rv ON rv.rowid = COALESCE(
    (SELECT r2.rowid FROM run_variants r2 WHERE r2.run_id = l.run_id
        AND r2.variant = l.variant AND r2.sha256 = l.variant_sha256),
    (SELECT MIN(r3.rowid) FROM run_variants r3 WHERE r3.run_id = l.run_id
        AND r3.sha256 = l.variant_sha256))
WHERE {where}
ORDER BY l.id"""


#: The raw context of a launch, left out by ``include_output=False``.
_RAW_TEXT = ("stdout", "stderr")
_RAW_JSON = ("health_before", "health_after", "argv")


def _launch_fields_sql(include_output: bool) -> str:
    parts = []
    for name in LAUNCH_FIELDS:
        if name == "samples_us":
            parts.append("l.samples AS samples_us")
        elif name in _RAW_TEXT and not include_output:
            parts.append(f"'' AS {name}")
        elif name in _RAW_JSON and not include_output:
            parts.append(f"NULL AS {name}")
        else:
            parts.append(f"l.{name}")
    return ", ".join(parts)


def _where(
    run_ids: Sequence[str] | None, devices: Sequence[str] | None, since: float | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, values in (("l.run_id", run_ids), ("l.device_serial", devices)):
        if values is not None:
            clause, more = _in(column, values)
            clauses.append(clause)
            args += more
    if since is not None:
        clauses.append("l.started_at >= ?")
        args.append(since)
    return " AND ".join(clauses) or "1", args


def sample_arrays(blobs: Sequence[bytes]) -> list[np.ndarray]:
    """Each BLOB as a read-only float64 array: one ``frombuffer`` over all of
    them joined, then a view per launch (no per-launch decoding)."""
    import numpy as np

    lens = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // 8
    flat = np.frombuffer(b"".join(blobs), dtype="<f8").astype(np.float64, copy=False)
    ends = np.cumsum(lens)
    return [flat[a:b] for a, b in zip((ends - lens).tolist(), ends.tolist(), strict=True)]


def sample_lists(blobs: Sequence[bytes]) -> list[list[float]]:
    """Each BLOB as a list of floats (one ``tolist`` over all, then slices)."""
    import numpy as np

    lens = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // 8
    flat = np.frombuffer(b"".join(blobs), dtype="<f8").tolist()
    ends = np.cumsum(lens)
    return [flat[a:b] for a, b in zip((ends - lens).tolist(), ends.tolist(), strict=True)]


def _json_column(values: Sequence[str | None], *, shared: bool) -> list[Any]:
    """JSON texts decoded; ``shared``: decode each distinct text once and hand
    out copies of the (flat) list (for low-cardinality columns like steps)."""
    if not shared:
        return [json.loads(x) if x else None for x in values]
    cache: dict[str, Any] = {}
    out: list[Any] = []
    for x in values:
        if not x:
            out.append(None)
            continue
        v = cache.get(x)
        if v is None:
            v = cache[x] = json.loads(x)
        out.append(list(v) if isinstance(v, list) else json.loads(x))
    return out


def _int_column(values: Sequence[Any]) -> Any:
    import numpy as np
    import pandas as pd

    if None not in values:
        return pd.array(np.fromiter(values, dtype=np.int64, count=len(values)), dtype="Int64")
    return pd.array(list(values), dtype="Int64")


def _frame(
    cols: Sequence[str], rows: Sequence[tuple[Any, ...]], converters: dict[str, Callable[..., Any]]
) -> pd.DataFrame:
    """A DataFrame built column by column from row tuples: each column's values
    go through its converter (whole column at once), others become ``str``
    (text; None is missing) via pandas' own inference."""
    import pandas as pd

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    data: dict[str, Any] = {}
    for name, values in zip(cols, columns, strict=True):
        convert = converters.get(name)
        if convert is not None:
            data[name] = convert(values)
        elif rows and all(v is None for v in values):
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.Series(values, dtype="str" if rows else object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _float_column(values: Sequence[Any]) -> Any:
    import numpy as np

    return np.array(values, dtype=np.float64)


def _bool_column(values: Sequence[Any]) -> Any:
    import numpy as np

    return np.array(values, dtype=bool)


def _object_column(values: Sequence[Any]) -> Any:
    import pandas as pd

    return pd.Series(list(values), dtype=object)


def _passed_column(values: Sequence[Any]) -> Any:
    import pandas as pd

    return pd.Series([None if x is None else bool(x) for x in values], dtype=object)


def _converters(samples: Callable[[Sequence[bytes]], list[Any]]) -> dict[str, Callable[..., Any]]:
    conv: dict[str, Callable[..., Any]] = {
        "samples_us": samples,
        "health_before": lambda v: _object_column(_json_column(v, shared=False)),
        "health_after": lambda v: _object_column(_json_column(v, shared=False)),
        "argv": lambda v: _object_column(_json_column(v, shared=False)),
        "variant_steps": lambda v: _object_column(_json_column(v, shared=True)),
        "check_passed": _passed_column,
        "timed_out": _bool_column,
        "hot": _bool_column,
    }
    conv.update(dict.fromkeys(_INT_COLUMNS + _INT_COLUMNS_JOINED, _int_column))
    conv.update(dict.fromkeys(_FLOAT_COLUMNS, _float_column))
    return conv


def _object_samples(values: Sequence[bytes]) -> Any:
    import pandas as pd

    return pd.Series(sample_lists(values), dtype=object)


def _array_samples(values: Sequence[bytes]) -> Any:
    import pandas as pd

    return pd.Series(sample_arrays(values), dtype=object)


def launches_frame(
    read_rows: RowReader,
    *,
    run_ids: Sequence[str] | None,
    devices: Sequence[str] | None,
    since: float | None,
    include_output: bool,
) -> pd.DataFrame:
    """``LAUNCH_COLUMNS`` of the selected launches, oldest first."""
    where, args = _where(run_ids, devices, since)
    sql = _LAUNCH_SELECT.format(fields=_launch_fields_sql(include_output), where=where)
    cols, rows = read_rows(sql, args)
    df = _frame(cols, rows, _converters(_object_samples))
    return df[list(LAUNCH_COLUMNS)]


#: The identity fields ``lean_frame`` reads as one text per launch (see there).
_LEAN_KEY: tuple[tuple[str, str], ...] = (
    ("run_id", "l.run_id"),
    ("device_serial", "l.device_serial"),
    ("device_model", "d.model"),
    ("device_fingerprint", "d.fingerprint"),
    ("binary_sha256", "l.binary_sha256"),
    ("binary_flavour", "b.flavour"),
    ("variant", "l.variant"),
    ("variant_format", "l.variant_format"),
    ("variant_sha256", "l.variant_sha256"),
    ("dims", "l.dims"),
    ("types", "l.types"),
    ("memory_format", "l.memory_format"),
    ("threads", "l.threads"),
    ("core_mask", "l.core_mask"),
    ("kind", "l.kind"),
    ("status", "l.status"),
)
_LEAN_INT_KEYS = frozenset({"threads", "core_mask"})
#: Key fields that may be NULL (LEFT JOIN facts, no core mask): read with a prefix.
_LEAN_NULLABLE = frozenset({"device_model", "device_fingerprint", "binary_flavour", "core_mask"})
#: What ``lean_frame`` returns: the fields statistics need (config and series
#: identity, outcome, samples), nothing else.
LEAN_COLUMNS: tuple[str, ...] = (
    "launch_id",
    *(name for name, _ in _LEAN_KEY),
    "hot",
    "us_per_iter",
    "load_s",
    "started_at",
    "samples_us",
)
_SEP = "\x1f"  # ASCII unit separator

_LEAN_FROM = """FROM launches l
LEFT JOIN devices d ON d.run_id = l.run_id AND d.serial = l.device_serial
LEFT JOIN binaries b ON b.sha256 = l.binary_sha256
WHERE {where}
ORDER BY l.id"""
_LEAN_SELECT = (
    "SELECT l.id AS launch_id, "
    + " || char(31) || ".join(
        f"IFNULL('=' || {sql}, '')" if name in _LEAN_NULLABLE else sql for name, sql in _LEAN_KEY
    )
    + " AS lean_key, l.hot, l.us_per_iter, l.load_s, l.started_at, l.samples AS samples_us "
    + _LEAN_FROM
)
_LEAN_SELECT_PLAIN = (
    "SELECT l.id AS launch_id, "
    + ", ".join(f"{sql} AS {name}" for name, sql in _LEAN_KEY)
    + ", l.hot, l.us_per_iter, l.load_s, l.started_at, l.samples AS samples_us "
    + _LEAN_FROM
)


def _lean_key_columns(keys: Sequence[str]) -> dict[str, Any] | None:
    """The identity columns from each launch's joined key text, or None when a
    value holds a separator (then the caller reads them as plain columns).

    A night has few distinct keys (configurations x runs), so each distinct
    text is split once and every column is a ``take`` of its distinct values
    by the launches' codes, instead of 100,000 Python strings per column."""
    import numpy as np
    import pandas as pd

    index: dict[str, int] = {}
    codes = np.fromiter(
        (index.setdefault(k, len(index)) for k in keys), dtype=np.intp, count=len(keys)
    )
    parts = [k.split(_SEP) for k in index]
    if any(len(p) != len(_LEAN_KEY) for p in parts):
        return None
    out: dict[str, Any] = {}
    for j, (name, _sql) in enumerate(_LEAN_KEY):
        if name in _LEAN_NULLABLE:
            raw = [p[j][1:] if p[j] else None for p in parts]
        else:
            raw = [p[j] for p in parts]
        if name in _LEAN_INT_KEYS:
            distinct = pd.array([None if v is None else int(v) for v in raw], dtype="Int64")
            out[name] = distinct.take(codes)
        elif raw and all(v is None for v in raw):
            out[name] = pd.Series([None] * len(keys), dtype=object)
        else:
            out[name] = pd.array(raw, dtype="str" if raw else object).take(codes)
    return out


def lean_frame(
    read_rows: RowReader,
    *,
    run_ids: Sequence[str] | None,
    devices: Sequence[str] | None,
    since: float | None,
) -> pd.DataFrame:
    """``LEAN_COLUMNS`` of the selected launches, oldest first; ``samples_us``
    are read-only float64 arrays (views into one buffer), not lists.

    The identity fields come from SQLite as one ``char(31)``-joined text per
    launch, each value of a column that may be NULL prefixed with ``=`` (so
    NULL, an empty part, is never confused with a value): one Python object
    per launch instead of 16.
    Dtypes are those of ``launches()``."""
    import pandas as pd

    where, args = _where(run_ids, devices, since)
    cols, rows = read_rows(_LEAN_SELECT.format(where=where), args)
    conv = _converters(_array_samples)
    df = _frame(cols, rows, {**conv, "lean_key": lambda v: v})
    keys = _lean_key_columns(df["lean_key"].tolist()) if rows else None
    if keys is None:
        cols, rows = read_rows(_LEAN_SELECT_PLAIN.format(where=where), args)
        df = _frame(cols, rows, conv)
    else:
        df = df.drop(columns="lean_key").assign(**{k: pd.Series(v) for k, v in keys.items()})
    return df[list(LEAN_COLUMNS)]


def skips_frame(read: Reader, run_id: str) -> pd.DataFrame:
    import pandas as pd

    rows = read("SELECT * FROM skips WHERE run_id = ? ORDER BY id", [run_id])
    for r in rows:
        r["config"] = json.loads(r["config"])
    columns = ["id", "run_id", "device", "variant", "config", "reason", "recorded_at"]
    return pd.DataFrame(rows, columns=columns)


def devices_frame(read: Reader, run_id: str) -> pd.DataFrame:
    """One row per device: ``run_id``, ``recorded_at`` and every ``DeviceInfo`` field."""
    import pandas as pd

    rows = read(
        "SELECT run_id, facts, recorded_at FROM devices WHERE run_id = ? ORDER BY id", [run_id]
    )
    columns = ["run_id", *(f.name for f in dataclasses.fields(DeviceInfo)), "recorded_at"]
    records = [
        {**json.loads(r["facts"]), "run_id": r["run_id"], "recorded_at": r["recorded_at"]}
        for r in rows
    ]
    return pd.DataFrame(records, columns=columns)


def binaries_frame(read: Reader, run_id: str) -> pd.DataFrame:
    """One row per binary the run used: every provenance key, ``sha256`` first."""
    import pandas as pd

    rows = read(
        "SELECT b.sha256, b.provenance, b.first_seen FROM run_binaries rb"
        " JOIN binaries b ON b.sha256 = rb.sha256 WHERE rb.run_id = ? ORDER BY b.sha256",
        [run_id],
    )
    records = [{**json.loads(r["provenance"]), "first_seen": r["first_seen"]} for r in rows]
    base = ["sha256", "flavour", "target", "abi", "pytorch_version", "origin", "size_bytes"]
    extra = sorted({k for rec in records for k in rec} - set(base))
    return pd.DataFrame(records, columns=base + extra)


def variants_frame(read: Reader, run_id: str) -> pd.DataFrame:
    """One row per variant the run recorded: the manifest entry's keys, plus check columns."""
    import pandas as pd

    rows = read(
        "SELECT rv.*, vf.format, vf.size_bytes, vf.bytecode_version FROM run_variants rv"
        " JOIN variant_files vf ON vf.sha256 = rv.sha256 WHERE rv.run_id = ? ORDER BY rv.rowid",
        [run_id],
    )
    records = []
    for r in rows:
        entry = json.loads(r["entry"])
        records.append(
            {
                **entry,
                "variant": r["variant"],
                "sha256": r["sha256"],
                "format": r["format"],
                "size_bytes": r["size_bytes"],
                "bytecode_version": r["bytecode_version"],
                "steps": json.loads(r["steps"]) if r["steps"] else [],
                "check_passed": None if r["check_passed"] is None else bool(r["check_passed"]),
                "check_max_abs_err": r["check_max_abs_err"],
                "check_cosine": r["check_cosine"],
            }
        )
    base = [
        "variant",
        "sha256",
        "format",
        "size_bytes",
        "bytecode_version",
        "steps",
        "check_passed",
        "check_max_abs_err",
        "check_cosine",
    ]
    extra = [k for k in dict.fromkeys(k for rec in records for k in rec) if k not in base]
    return pd.DataFrame(records, columns=base + extra)
