"""The comparison as the run report shows it."""

from __future__ import annotations

from typing import Any

from benchorch.report import compare_view


def test_comparison_view_sorts_slower_first_with_sparklines(two_runs: dict[str, Any]) -> None:
    view = compare_view.build_compare_view(two_runs["cmp"], two_runs["hist"])
    verdicts = [v.row.verdict.value for v in view.rows]
    assert verdicts[0] == "slower" and verdicts.count("slower") == two_runs["cmp"].counts["slower"]
    assert {v.row.pair[1] for v in view.rows if v.row.verdict.value == "slower"} == {"fused"}
    assert all(v.spark is not None for v in view.rows if v.row.verdict.value != "failed")
    assert dict(view.counts) == two_runs["cmp"].counts
