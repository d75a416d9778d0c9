"""A comparison as plain text or Markdown (``benchorch compare --format text|markdown``).

Pure: a ``Comparison`` in, a string out. Rows are ordered as in the HTML
comparison (``fmt.VERDICT_ORDER``: slower first), then by label; numbers are
in ``fmt``'s ``TEXT`` style.
"""

from __future__ import annotations

from benchorch.report import fmt
from benchorch.report.fmt import TEXT
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


def _rows(cmp: Comparison) -> list[list[str]]:
    out = []
    for r in sorted(cmp.rows, key=lambda r: (fmt.VERDICT_ORDER[r.verdict.value], r.label)):
        out.append(
            [
                r.verdict.value,
                r.label,
                fmt.us(r.base_median_us, TEXT),
                fmt.us(r.cand_median_us, TEXT),
                fmt.ratio(r.ratio, TEXT),
                fmt.ratio_range(r.ci_low, r.ci_high, TEXT),
                fmt.pval(r.p_value, TEXT),
                fmt.pval(r.p_adjusted, TEXT),
                f"{r.n_base}/{r.n_cand}",
                r.reason,
            ]
        )
    return out


def format_text(cmp: Comparison) -> str:
    """A headline with the verdict counts, then one aligned line per configuration."""
    rows = [HEADER, *_rows(cmp)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = [f"{cmp.cand} against {cmp.base}: {fmt.verdict_counts(cmp.counts)}"]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def format_markdown(cmp: Comparison) -> str:
    """The same table in Markdown, every cell escaped (``|`` and ``\\``)."""
    lines = [
        f"**{_md(cmp.cand)}** against **{_md(cmp.base)}**: {fmt.verdict_counts(cmp.counts)}",
        "",
    ]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "|".join("---" for _ in HEADER) + "|")
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in _rows(cmp)]
    return "\n".join(lines)
