"""Number, time and verdict formatting: the one owner.

The HTML reports (``render``'s filters), the chart ticks (``charts``), the
comparison as text or Markdown (``text``) and the CLI's tables
(``cli/store_cmd``) all format through these functions. Two styles differ
only in their characters: ``HTML`` (``–`` for a missing value, ``µs``, ``×``)
and ``TEXT`` (ASCII, for terminals and Markdown: ``-``, ``us``, no sign).

Rules: latencies in microseconds are scaled to s, ms or µs by magnitude, 4
significant digits (3 on chart axes); a range shares the unit of its larger
end; ratios have 3 decimals; p-values 4 decimals, ``<0.0001`` below; sizes in
binary units (KB = 1024 B); times are UTC. Only ``cell`` (the store's key
text of a value) imports the statistics package, when it runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "HTML",
    "TEXT",
    "VERDICT_ORDER",
    "Style",
    "cell",
    "core_mask",
    "exact",
    "finite",
    "pct",
    "pval",
    "ratio",
    "ratio_range",
    "sig",
    "size",
    "us",
    "us_range",
    "us_range_parts",
    "utc",
    "verdict_counts",
    "verdict_label",
]


@dataclass(frozen=True)
class Style:
    missing: str  # a value that is absent or not finite
    micro: str  # the microsecond unit
    times: str  # after a ratio
    dash: str  # between the ends of a range


HTML = Style(missing="–", micro="µs", times="×", dash="–")
TEXT = Style(missing="-", micro="us", times="", dash="-")

#: Verdicts in the order a reader needs them: what got worse first.
VERDICT_ORDER: dict[str, int] = {
    "slower": 0,
    "failed": 1,
    "inconclusive": 2,
    "bimodal": 2,
    "faster": 3,
    "not_comparable": 4,
    "same": 5,
}


def finite(v: Any) -> float | None:
    """``v`` as a float when it is a finite number, else ``None``."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _scale(top: float, style: Style) -> tuple[float, str]:
    if top >= 1e6:
        return 1e6, "s"
    if top >= 1e3:
        return 1e3, "ms"
    return 1.0, style.micro


def us(v: Any, style: Style = HTML, digits: int = 4) -> str:
    """A latency in microseconds: ``3.782 ms``."""
    f = finite(v)
    if f is None:
        return style.missing
    scale, unit = _scale(abs(f), style)
    return f"{f / scale:.{digits}g} {unit}"


def us_range_parts(lo: Any, hi: Any, style: Style = HTML) -> tuple[str, str] | None:
    """``("lo –", "hi unit")`` with the unit of the larger end (a page may
    break a line between the two parts, never inside one); ``None`` when an
    end is missing."""
    a, b = finite(lo), finite(hi)
    if a is None or b is None:
        return None
    scale, unit = _scale(max(abs(a), abs(b)), style)
    return f"{a / scale:.4g} {style.dash}", f"{b / scale:.4g} {unit}"


def us_range(lo: Any, hi: Any, style: Style = HTML) -> str:
    """``lo – hi unit`` (see ``us_range_parts``)."""
    parts = us_range_parts(lo, hi, style)
    return style.missing if parts is None else " ".join(parts)


def exact(v: Any) -> str:
    """The exact value behind a cell (``repr`` of the float), ``""`` when missing:
    what sorting reads and what tests compare with the store."""
    f = finite(v)
    return "" if f is None else repr(f)


def ratio(v: Any, style: Style = HTML) -> str:
    f = finite(v)
    return style.missing if f is None else f"{f:.3f}{style.times}"


def ratio_range(lo: Any, hi: Any, style: Style = HTML) -> str:
    if finite(lo) is None or finite(hi) is None:
        return style.missing
    sep = f" {style.dash} " if style.times else style.dash
    return f"{ratio(lo, style)}{sep}{ratio(hi, style)}"


def pct(v: Any, signed: bool = True, style: Style = HTML) -> str:
    """A fraction as a percentage: ``+12.3%`` (or ``12.3%`` unsigned)."""
    f = finite(v)
    if f is None:
        return style.missing
    return f"{f * 100:+.1f}%" if signed else f"{f * 100:.1f}%"


def pval(v: Any, style: Style = HTML) -> str:
    f = finite(v)
    if f is None:
        return style.missing
    return "<0.0001" if f < 1e-4 else f"{f:.4f}"


def sig(v: Any, digits: int = 3, style: Style = HTML) -> str:
    """``digits`` significant digits."""
    f = finite(v)
    return style.missing if f is None else f"{f:.{digits}g}"


def size(v: Any, style: Style = HTML) -> str:
    """A size in bytes: ``512 B``, ``2.3 MB`` (binary units)."""
    f = finite(v)
    if f is None:
        return style.missing
    for unit in ("B", "KB", "MB"):
        if abs(f) < 1024:
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return f"{f:.1f} GB"


def cell(value: Any) -> str:
    """A cell's text: ``""`` for missing values, ints without ``.0``."""
    from benchorch.stats.keys import cell_text

    text = cell_text(value)
    return "" if text == "-" else text


def utc(ts: Any, *, suffix: str = " UTC", missing: str = "") -> str:
    """Unix seconds as ``2026-11-26 01:02:03 UTC``; other text as it is."""
    if ts is None:
        return missing
    try:
        f = float(ts)
    except (TypeError, ValueError):
        return cell(ts) or missing
    if not math.isfinite(f):
        return missing
    return datetime.fromtimestamp(f, UTC).strftime("%Y-%m-%d %H:%M:%S") + suffix


def core_mask(value: Any) -> str:
    """A CPU mask as hex (``0xf0``); text that is not a number as it is."""
    text = cell(value)
    return hex(int(text)) if text.isdigit() else text


def verdict_label(verdict: str) -> str:
    """``not_comparable`` -> ``not comparable``."""
    return verdict.replace("_", " ")


def verdict_counts(counts: Mapping[str, int]) -> str:
    """``1 slower, 2 same``: the verdicts that occurred, in ``counts``' order."""
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n)
