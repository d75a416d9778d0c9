"""benchorch.report.text: the comparison as text and Markdown (pure, hand-made rows)."""

from __future__ import annotations

from benchorch.report.text import HEADER, format_markdown, format_text
from benchorch.stats import Comparison, ComparisonRow, Verdict


def _row(label: str, verdict: Verdict, **kw: float) -> ComparisonRow:
    return ComparisonRow(label=label, pair=(label,), verdict=verdict, reason=f"why {label}", **kw)


CMP = Comparison(
    base="n1",
    cand="n2",
    q=0.05,
    min_effect=0.02,
    rows=(
        _row("a|b", Verdict.SAME, base_median_us=900.0, cand_median_us=1500.0, ratio=1.0),
        _row("slow", Verdict.SLOWER, ratio=1.2, ci_low=1.1, ci_high=1.3, p_adjusted=0.001),
        _row("gone", Verdict.NOT_COMPARABLE),
    ),
)


def test_text_puts_slower_first_aligned_with_counts() -> None:
    lines = format_text(CMP).splitlines()
    assert lines[0] == "n2 against n1: 1 slower, 1 same, 1 not_comparable"
    assert [line.split()[0] for line in lines[1:]] == [
        "verdict",
        "slower",
        "not_comparable",
        "same",
    ]
    starts = {len(line) - len(line[len(line.split()[0]) :].lstrip()) for line in lines[1:]}
    assert len(starts) == 1  # the second column starts at one offset
    slow = lines[2]
    assert "1.200" in slow and "1.100-1.300" in slow and "0.0010" in slow
    same = lines[4]
    assert "900 us" in same and "1.5 ms" in same


def test_markdown_escapes_cells() -> None:
    lines = format_markdown(CMP).splitlines()
    assert lines[0] == "**n2** against **n1**: 1 slower, 1 same, 1 not_comparable"
    assert lines[2] == "| " + " | ".join(HEADER) + " |"
    (same,) = [line for line in lines if line.startswith("| same")]
    assert "a\\|b" in same and same.count(" | ") == len(HEADER) - 1
