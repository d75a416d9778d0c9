"""A comparison as plain text or Markdown (``benchorch compare --format text|markdown``).

Pure: a ``Comparison`` in, a string out. Rows are ordered as in the HTML
comparison (``model.VERDICT_ORDER``: slower first), then by label.
"""

from __future__ import annotations

import math

from benchorch.report.model import VERDICT_ORDER
from benchorch.stats import Comparison

__all__ = ["HEADER", "format_markdown", "format_text"]

HEADER = [
    "verdict",
    "configuration",
    "base",
    "cand",
    "ratio",
    "95% interval",
    "p",
    "adj p",
    "n",
    "reason",
]


def _num(v: float, fmt: str) -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, fmt)


def _us(v: float) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v / 1e3:.4g} ms" if v >= 1e3 else f"{v:.4g} us"


def _rows(cmp: Comparison) -> list[list[str]]:
    out = []
    for r in sorted(cmp.rows, key=lambda r: (VERDICT_ORDER[r.verdict.value], r.label)):
        interval = f"{_num(r.ci_low, '.3f')}-{_num(r.ci_high, '.3f')}"
        out.append(
            [
                r.verdict.value,
                r.label,
                _us(r.base_median_us),
                _us(r.cand_median_us),
                _num(r.ratio, ".3f"),
                interval if math.isfinite(r.ci_low) else "-",
                _num(r.p_value, ".4f"),
                _num(r.p_adjusted, ".4f"),
                f"{r.n_base}/{r.n_cand}",
                r.reason,
            ]
        )
    return out


def _counts(cmp: Comparison) -> str:
    return ", ".join(f"{n} {v}" for v, n in cmp.counts.items() if n)


def format_text(cmp: Comparison) -> str:
    """A headline with the verdict counts, then one aligned line per configuration."""
    rows = [HEADER, *_rows(cmp)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = [f"{cmp.cand} against {cmp.base}: {_counts(cmp)}"]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def format_markdown(cmp: Comparison) -> str:
    """The same table in Markdown, every cell escaped (``|`` and ``\\``)."""
    lines = [f"**{_md(cmp.cand)}** against **{_md(cmp.base)}**: {_counts(cmp)}", ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "|".join("---" for _ in HEADER) + "|")
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in _rows(cmp)]
    return "\n".join(lines)
