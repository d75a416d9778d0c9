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


def launches_frame(
    read_rows: RowReader,
    *,
    run_ids: Sequence[str] | None,
    devices: Sequence[str] | None,
    since: float | None,
    include_output: bool,
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

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
    sql = _LAUNCH_SELECT.format(
        fields=_launch_fields_sql(include_output), where=" AND ".join(clauses) or "1"
    )
    cols, rows = read_rows(sql, args)
    df = pd.DataFrame.from_records(rows, columns=cols)
    df["samples_us"] = [np.frombuffer(b, dtype="<f8").tolist() for b in df["samples_us"]]
    for name in ("health_before", "health_after"):
        df[name] = [json.loads(x) if x else None for x in df[name]]
    df["argv"] = [json.loads(x) if x else None for x in df["argv"]]
    df["variant_steps"] = [json.loads(x) if x else None for x in df["variant_steps"]]
    df["check_passed"] = pd.Series(
        [None if x is None else bool(x) for x in df["check_passed"]], index=df.index, dtype=object
    )
    for name in ("timed_out", "hot"):
        df[name] = df[name].astype(bool)
    for name in _INT_COLUMNS + _INT_COLUMNS_JOINED:
        # sqlite3 gives int or None; pandas made the column int64, or float64 with NaN.
        df[name] = pd.to_numeric(df[name]).astype("Int64")
    for name in _FLOAT_COLUMNS:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    return df[list(LAUNCH_COLUMNS)]


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
