"""How values become column values: JSON text, packed samples, a launch's row."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchorch.store.records import LAUNCH_FIELDS, LaunchRecord


def to_json(value: Any) -> str:
    """Canonical JSON text (sorted keys), the form every JSON column holds."""
    return json.dumps(value, sort_keys=True, default=str, allow_nan=True)


def json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    return to_json(value)


def pack_samples(samples: Sequence[float]) -> bytes:
    """Samples as bytes: little-endian IEEE float64, 8 bytes each."""
    return struct.pack(f"<{len(samples)}d", *samples)


def plain_dict(value: Mapping[str, Any] | Any) -> dict[str, Any]:
    """A mapping (or a record with ``to_dict``) as plain JSON values."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    result: dict[str, Any] = json.loads(to_json(dict(value)))
    return result


#: How a ``LaunchRecord`` field becomes its column value; other fields go in as they are.
_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "samples_us": pack_samples,
    "timed_out": bool,
    "hot": bool,
    "health_before": json_or_none,
    "health_after": json_or_none,
    "argv": lambda argv: to_json(list(argv)),
}
#: The ``launches`` columns of ``LAUNCH_FIELDS``, in that order.
LAUNCH_COLUMNS: tuple[str, ...] = tuple(
    "samples" if f == "samples_us" else f for f in LAUNCH_FIELDS
)
#: The same insert as plain SQLite SQL (``?`` parameters), for bulk loaders.
SQLITE_INSERT_LAUNCH = (
    f"INSERT INTO launches ({', '.join(LAUNCH_COLUMNS)}) "  # noqa: S608 (fixed names only)
    f"VALUES ({','.join('?' * len(LAUNCH_COLUMNS))})"
)


def launch_row(rec: LaunchRecord) -> tuple[Any, ...]:
    """The column values of ``rec``, in ``LAUNCH_COLUMNS`` order."""
    return tuple(
        _ENCODERS[name](getattr(rec, name)) if name in _ENCODERS else getattr(rec, name)
        for name in LAUNCH_FIELDS
    )


#: What a NUL character becomes on PostgreSQL, whose text cannot hold one
#: (a crashing binary may print it): U+2400 SYMBOL FOR NULL, visible in a report.
PG_NUL = "\u2400"


def pg_text(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with NUL characters in text replaced by ``PG_NUL`` (PostgreSQL only)."""
    if not any(isinstance(v, str) and "\x00" in v for v in values.values()):
        return values
    return {k: v.replace("\x00", PG_NUL) if isinstance(v, str) else v for k, v in values.items()}


def launch_values(rec: LaunchRecord) -> dict[str, Any]:
    """The column values of ``rec`` by column name."""
    return dict(zip(LAUNCH_COLUMNS, launch_row(rec), strict=True))
