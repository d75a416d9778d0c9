"""Practical thresholds a user sets (pure): ``--threshold 5%`` and
``[thresholds]`` in ``sweep.toml``/``nightly.toml``.

A threshold ``t`` (percent) says what change is of practical size for a
configuration: ``slower``/``faster`` need the estimate beyond ``t`` and
``same`` the whole 95% interval inside ``±t`` (``compare.judge``). Without
one, the minimum effect is ``max(2%, the configuration's noise floor from
history)`` and ``same`` uses the comparison's resolution
(docs/STATISTICS.md).

``[thresholds]`` maps glob patterns (``fnmatch``, case-sensitive) to
percents; a pattern is matched against the variant name and against
``device/variant`` (the device label, e.g. ``Pixel 8/fused*``). The first
matching pattern in the file's order wins; no match: the global threshold
or the default.

::

    [thresholds]
    "baseline" = 3            # percent
    "*quantized*" = "8%"
    "Pixel 8/*" = 6
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from benchorch.errors import ConfigError

#: The largest threshold accepted (percent): beyond it nothing is a change.
MAX_PCT = 100.0


def parse_percent(value: Any, *, what: str) -> float:
    """``5``, ``5.0``, ``"5"`` or ``"5%"`` -> 5.0 (percent, above 0, at most ``MAX_PCT``)."""
    text = value
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
    try:
        pct = float(text) if not isinstance(text, bool) else float("nan")
    except (TypeError, ValueError):
        pct = float("nan")
    if not 0.0 < pct <= MAX_PCT:
        raise ConfigError(
            f"{what}: {value!r} is not a threshold in percent",
            hint='write a percent above 0, e.g. 5 or "5%"',
        )
    return pct


def parse_thresholds(raw: Any, *, what: str) -> tuple[tuple[str, float], ...]:
    """A ``[thresholds]`` table (or its stored form, a list of ``[pattern,
    percent]`` pairs) -> ``((pattern, percent), ...)`` in order."""
    if isinstance(raw, Mapping):
        items: Sequence[Any] = list(raw.items())
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ConfigError(
            f"{what}: expected a table of pattern = percent",
            hint='write [thresholds] then lines like "*quantized*" = 8',
        )
    out = []
    for item in items:
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ConfigError(f"{what}: {item!r} is not a pattern = percent pair")
        pattern = item[0].strip()
        if not pattern:
            raise ConfigError(f"{what}: an empty pattern", hint='e.g. "*quantized*" = 8')
        out.append((pattern, parse_percent(item[1], what=f"{what} {pattern!r}")))
    return tuple(out)


def threshold_for(
    thresholds: Sequence[tuple[str, float]] | Mapping[str, float] | None,
    variant: str,
    device: str = "",
) -> float | None:
    """The percent of the first pattern matching ``variant`` or
    ``device/variant``; ``None`` without a match."""
    if not thresholds:
        return None
    pairs = thresholds.items() if isinstance(thresholds, Mapping) else thresholds
    for pattern, pct in pairs:
        if fnmatch.fnmatchcase(variant, pattern) or (
            device and fnmatch.fnmatchcase(f"{device}/{variant}", pattern)
        ):
            return float(pct)
    return None
