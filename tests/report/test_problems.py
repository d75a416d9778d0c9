"""Failed launches and skips: grouped as a reader needs them."""

from __future__ import annotations

from tests.report.wide import SKIP_REASON, SKIPPED_FILES, wide_report


def test_skips_are_grouped_by_reason_with_the_files_they_cover() -> None:
    """A lite binary skips seven full-JIT files for one reason: one row naming the seven."""
    rep = wide_report(n_boot=20)
    assert len(rep.skips) == 1
    (group,) = rep.skips
    assert group.reason == SKIP_REASON and group.count == 7
    assert group.files == SKIPPED_FILES and group.devices == ("R58M1",)
    assert rep.headline.n_skipped == 7
