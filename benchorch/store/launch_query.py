"""The launch queries: every field with the facts joined (``launches_frame``),
and the lean history query statistics read (``lean_frame``).

Both are SQLAlchemy Core selects, the same on SQLite and PostgreSQL; the
columns become pandas columns in ``frames``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from benchorch.errors import UsageError
from benchorch.store import frames
from benchorch.store.records import LAUNCH_FIELDS
from benchorch.store.tables import binaries, devices, launches, run_variants, variant_files

if TYPE_CHECKING:
    import pandas as pd

RowReader = Callable[[sa.Select[Any]], tuple[list[str], Sequence[Sequence[Any]]]]

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

_l = launches.alias("l")
_d = devices.alias("d")
_b = binaries.alias("b")
_vf = variant_files.alias("vf")
_rv = run_variants.alias("rv")


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


def _where(
    run_ids: Sequence[str] | None, devices: Sequence[str] | None, since: float | None
) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if run_ids is not None:
        clauses.append(_l.c.run_id.in_(list(run_ids)))
    if devices is not None:
        clauses.append(_l.c.device_serial.in_(list(devices)))
    if since is not None:
        clauses.append(_l.c.started_at >= since)
    return clauses


def _facts_join(*, variants: bool) -> sa.FromClause:
    """Launches with their device, binary (and variant) facts, all LEFT JOINs."""
    joined = _l.outerjoin(
        _d, sa.and_(_d.c.run_id == _l.c.run_id, _d.c.serial == _l.c.device_serial)
    ).outerjoin(_b, _b.c.sha256 == _l.c.binary_sha256)
    if not variants:
        return joined
    # The run's manifest entry of this variant name and file, else the run's
    # first entry of that file (a variant recorded under another name).
    r2, r3 = run_variants.alias("r2"), run_variants.alias("r3")
    exact = (
        sa.select(r2.c.id)
        .where(
            r2.c.run_id == _l.c.run_id,
            r2.c.variant == _l.c.variant,
            r2.c.sha256 == _l.c.variant_sha256,
        )
        .correlate(_l)
        .scalar_subquery()
    )
    first = (
        sa.select(sa.func.min(r3.c.id))
        .where(r3.c.run_id == _l.c.run_id, r3.c.sha256 == _l.c.variant_sha256)
        .correlate(_l)
        .scalar_subquery()
    )
    return joined.outerjoin(_vf, _vf.c.sha256 == _l.c.variant_sha256).outerjoin(
        _rv, _rv.c.id == sa.func.coalesce(exact, first)
    )


#: The raw context of a launch, left out by ``include_output=False``.
_RAW_TEXT = ("stdout", "stderr")
_RAW_JSON = ("health_before", "health_after", "argv")


def _launch_fields(include_output: bool) -> list[sa.ColumnElement[Any]]:
    parts: list[sa.ColumnElement[Any]] = [_l.c.id.label("launch_id")]
    for name in LAUNCH_FIELDS:
        if name == "samples_us":
            parts.append(_l.c.samples.label("samples_us"))
        elif name in _RAW_TEXT and not include_output:
            parts.append(sa.literal("", sa.Text).label(name))
        elif name in _RAW_JSON and not include_output:
            parts.append(sa.null().label(name))
        else:
            parts.append(_l.c[name])
    return parts


def launches_frame(
    read_rows: RowReader,
    *,
    run_ids: Sequence[str] | None,
    devices: Sequence[str] | None,
    since: float | None,
    include_output: bool,
) -> pd.DataFrame:
    """``LAUNCH_COLUMNS`` of the selected launches, oldest first."""
    stmt = (
        sa.select(
            *_launch_fields(include_output),
            _d.c.model.label("device_model"),
            _d.c.fingerprint.label("device_fingerprint"),
            _d.c.soc.label("device_soc"),
            _b.c.flavour.label("binary_flavour"),
            _vf.c.size_bytes.label("variant_size_bytes"),
            _rv.c.steps.label("variant_steps"),
            _rv.c.check_max_abs_err,
            _rv.c.check_cosine,
            _rv.c.check_passed,
        )
        .select_from(_facts_join(variants=True))
        .where(*_where(run_ids, devices, since))
        .order_by(_l.c.id)
    )
    cols, rows = read_rows(stmt)
    df = frames.frame(cols, rows, frames.converters(frames.object_samples))
    return df[list(LAUNCH_COLUMNS)]


#: The identity fields ``lean_frame`` reads as one text per launch (see there).
_LEAN_KEY: tuple[tuple[str, sa.ColumnElement[Any]], ...] = (
    ("run_id", _l.c.run_id),
    ("device_serial", _l.c.device_serial),
    ("device_model", _d.c.model),
    ("device_fingerprint", _d.c.fingerprint),
    ("binary_sha256", _l.c.binary_sha256),
    ("binary_flavour", _b.c.flavour),
    ("variant", _l.c.variant),
    ("variant_format", _l.c.variant_format),
    ("variant_sha256", _l.c.variant_sha256),
    ("dims", _l.c.dims),
    ("types", _l.c.types),
    ("memory_format", _l.c.memory_format),
    ("threads", _l.c.threads),
    ("core_mask", _l.c.core_mask),
    ("kind", _l.c.kind),
    ("status", _l.c.status),
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
_LEAN_TAIL = (
    _l.c.hot,
    _l.c.us_per_iter,
    _l.c.load_s,
    _l.c.started_at,
    _l.c.samples.label("samples_us"),
)


def _lean_key_text() -> sa.ColumnElement[str]:
    parts: list[sa.ColumnElement[Any]] = []
    for name, col in _LEAN_KEY:
        text: sa.ColumnElement[Any] = sa.cast(col, sa.Text) if name in _LEAN_INT_KEYS else col
        if name in _LEAN_NULLABLE:
            text = sa.func.coalesce(sa.literal_column("'='", sa.Text) + text, "")
        parts.append(text)
    sep = sa.literal_column("'\x1f'", sa.Text)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + sep + part
    return joined.label("lean_key")


def _lean_select(where: list[sa.ColumnElement[bool]], *, plain: bool) -> sa.Select[Any]:
    key = [col.label(name) for name, col in _LEAN_KEY] if plain else [_lean_key_text()]
    return (
        sa.select(_l.c.id.label("launch_id"), *key, *_LEAN_TAIL)
        .select_from(_facts_join(variants=False))
        .where(*where)
        .order_by(_l.c.id)
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

    The identity fields come from the database as one text per launch,
    joined by ``\\x1f``, each value of a column that may be NULL prefixed
    with ``=`` (so NULL, an empty part, is never confused with a value): one
    Python object per launch instead of 16. Dtypes are those of ``launches()``."""
    import pandas as pd

    where = _where(run_ids, devices, since)
    cols, rows = read_rows(_lean_select(where, plain=False))
    conv = frames.converters(frames.array_samples)
    df = frames.frame(cols, rows, {**conv, "lean_key": lambda v: v})
    keys = _lean_key_columns(df["lean_key"].tolist()) if rows else None
    if keys is None:
        cols, rows = read_rows(_lean_select(where, plain=True))
        df = frames.frame(cols, rows, conv)
    else:
        df = df.drop(columns="lean_key").assign(**{k: pd.Series(v) for k, v in keys.items()})
    return df[list(LEAN_COLUMNS)]
