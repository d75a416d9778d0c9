"""A run whose recipe table is as wide as real ones get (long variant names,
two inputs, channels-last), with a lite binary's seven per-file skips."""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchorch.report import model
from tests.report.builder import RECIPE, launches, side_frames

LONG = ("fused+quantized+mobile", "fused+quantized+channels_last", "quantized+mobile+channels_last")
SKIP_REASON = "a lite binary cannot load a full-JIT .pt file (export .ptl or build full-JIT)"
SKIPPED_FILES = tuple(f"v{i}-full_jit.pt" for i in range(7))


def wide_report(n_boot: int = 100) -> model.RunReport:
    cfgs = [
        c.with_(
            dims="1,3,224,224;1,10",
            types="float;int64",
            memory_format="channels_last",
            threads=4,
        )
        for c in RECIPE
    ]
    cfgs += [cfgs[2].with_(variant=v, true_us=3000.0 + 100 * i) for i, v in enumerate(LONG)]
    loads = [c.with_(kind="load", true_us=c.true_us * 20) for c in cfgs]
    broken = cfgs[0].with_(variant="mobile", fail_kind="missing_ops")
    df = launches("wide", [*cfgs, *loads, broken], n_launches=6, n_iter=20, seed=3)
    frames = side_frames("wide", [("R58M1", "SM-G991B")])
    skips = pd.DataFrame(
        [
            {"id": i, "run_id": "wide", "device": "R58M1", "variant": f,
             "config": {"file": f, "dims": "1,3,224,224"}, "reason": SKIP_REASON}
            for i, f in enumerate(SKIPPED_FILES)
        ]
    )  # fmt: skip
    kw: dict[str, Any] = {k: v for k, v in frames.items() if k not in ("run", "skips")}
    return model.build_run_report(frames["run"], df, skips=skips, n_boot=n_boot, **kw)
