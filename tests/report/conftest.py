"""Synthetic runs shared by the report tests (no database: see test_store_reports for one)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from benchorch import stats
from benchorch.report import model
from tests.report.builder import launches, recipe, side_frames

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def two_runs() -> dict[str, Any]:
    """runA and runB on two phones (one named like an XSS probe); ``fused`` is 10%
    slower in runB; ``mobile`` fails everywhere with missing_ops."""
    cfgs = recipe() + recipe("pixel-1", EVIL)
    a = launches("runA", cfgs, seed=1)
    slow = [c.with_(true_us=c.true_us * 1.10) if c.variant == "fused" else c for c in cfgs]
    b = launches("runB", slow, seed=2, t0=1_780_100_000.0, hot_every=4)
    frames = side_frames("runB", [("R58M1", "SM-G991B"), ("pixel-1", EVIL)])
    cmp = stats.compare_frames(a, b, base_id="runA", cand_id="runB", n_boot=300)
    hist = stats.run_medians(pd.concat([a, b]), key="series_key")
    return {"a": a, "b": b, "frames": frames, "cmp": cmp, "hist": hist}


def report_of(two_runs: dict[str, Any], **kw: Any) -> model.RunReport:
    """runB's run report with its side frames (no comparison unless given in ``kw``)."""
    f = two_runs["frames"]
    return model.build_run_report(
        f["run"], two_runs["b"], devices=f["devices"], binaries=f["binaries"],
        variants=f["variants"], skips=f["skips"], n_boot=200, **kw,
    )  # fmt: skip
