"""benchorch.report.fmt: the one owner of number, time and verdict formatting,
and the HTML report, the chart axes and the CLI text agreeing through it."""

from __future__ import annotations

import math

import pytest

from benchorch.report import charts, fmt, text
from benchorch.report.fmt import HTML, TEXT
from benchorch.stats import Comparison, ComparisonRow, Verdict


@pytest.mark.parametrize(
    ("value", "html", "ascii_"),
    [
        (512.0, "512 µs", "512 us"),
        (3782.25, "3.782 ms", "3.782 ms"),
        (2_500_000.0, "2.5 s", "2.5 s"),
        (float("nan"), "–", "-"),
        (None, "–", "-"),
        ("x", "–", "-"),
    ],
)
def test_latency_scaled_by_magnitude_in_both_styles(value: object, html: str, ascii_: str) -> None:
    assert fmt.us(value, HTML) == html and fmt.us(value, TEXT) == ascii_


def test_ranges_share_the_unit_of_their_larger_end() -> None:
    assert fmt.us_range(900.0, 1500.0) == "0.9 – 1.5 ms"
    assert fmt.us_range_parts(900.0, 1500.0) == ("0.9 –", "1.5 ms")
    assert fmt.us_range(1.0, float("inf")) == "–" and fmt.us_range_parts(None, 1.0) is None
    assert fmt.ratio_range(1.1, 1.3, HTML) == "1.100× – 1.300×"
    assert fmt.ratio_range(1.1, 1.3, TEXT) == "1.100-1.300"
    assert fmt.ratio_range(float("nan"), 1.3, TEXT) == "-"


def test_ratios_percentages_p_values_sizes_and_exact_values() -> None:
    assert (fmt.ratio(2.5), fmt.ratio(2.5, TEXT)) == ("2.500×", "2.500")
    assert (fmt.pct(0.123), fmt.pct(-0.05), fmt.pct(0.05, signed=False)) == (
        "+12.3%",
        "-5.0%",
        "5.0%",
    )
    assert (fmt.pval(0.001), fmt.pval(1e-9), fmt.pval(None, TEXT)) == ("0.0010", "<0.0001", "-")
    assert fmt.sig(0.000123456, 3) == "0.000123"
    sizes = [fmt.size(v) for v in (512, 2048, 9_000_000, 3 * 1024**3, 5 * 1024**4)]
    assert sizes == ["512 B", "2.0 KB", "8.6 MB", "3.0 GB", "5120.0 GB"]
    assert fmt.exact(0.1 + 0.2) == repr(0.1 + 0.2) and fmt.exact(math.nan) == ""


def test_cells_times_masks_and_verdicts() -> None:
    assert (fmt.cell(4.0), fmt.cell(None), fmt.cell(math.nan), fmt.cell("a")) == ("4", "", "", "a")
    assert fmt.utc(1_780_000_000) == "2026-05-28 20:26:40 UTC"
    assert fmt.utc(1_780_000_000, suffix="") == "2026-05-28 20:26:40"
    assert fmt.utc(None, missing="-") == "-" and fmt.utc(math.nan) == ""
    assert (fmt.core_mask(240), fmt.core_mask("big"), fmt.core_mask(None)) == ("0xf0", "big", "")
    assert fmt.verdict_label("not_comparable") == "not comparable"
    assert fmt.verdict_counts({"slower": 1, "same": 0, "faster": 2}) == "1 slower, 2 faster"
    assert set(fmt.VERDICT_ORDER) == {v.value for v in Verdict}


def test_chart_ticks_and_compare_text_format_through_the_owner() -> None:
    strip = charts.strip([("a", [900.0, 2_000_000.0])])
    assert strip is not None
    assert {t.label for t in strip.ticks} >= {fmt.us(1000.0, digits=3), fmt.us(1e6, digits=3)}
    assert fmt.us(1e6, digits=3) == "1 s"
    row = ComparisonRow(
        label="x",
        pair=("x",),
        verdict=Verdict.SLOWER,
        reason="r",
        base_median_us=2_000_000.0,
        cand_median_us=2_500_000.0,
        ratio=1.25,
        ci_low=1.2,
        ci_high=1.3,
        p_value=1e-7,
        p_adjusted=1e-6,
    )
    cmp = Comparison(base="a", cand="b", q=0.05, min_effect=0.02, rows=(row,))
    line = text.format_text(cmp).splitlines()[-1]
    # seconds, not "2000 ms"; a tiny p as "<0.0001", not "0.0000"
    assert "2 s" in line and "2.5 s" in line and "1.250" in line and "1.200-1.300" in line
    assert line.count("<0.0001") == 2
