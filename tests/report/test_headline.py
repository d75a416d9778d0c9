"""The headline: each phone's fastest variant against its baseline, and what failed."""

from __future__ import annotations

from typing import Any

from benchorch.report import model
from tests.report.builder import Cfg, launches
from tests.report.conftest import EVIL, report_of


def test_headline_names_each_phones_best_variant_and_what_failed(
    two_runs: dict[str, Any],
) -> None:
    rep = report_of(two_runs)
    by_device = {p.device: p for p in rep.headline.phones}
    assert set(by_device) == {"SM-G991B", EVIL}
    for story in rep.stories:
        best = by_device[story.device].best
        assert best is not None and best.speedup is not None and not best.is_baseline
        # the largest speed-up of the phone's table (the builder's fused+quantized, ~2.6x)
        assert best.speedup.value == max(r.speedup.value for r in story.rows if r.speedup)
        assert (best.variant, best.variant_format) == ("fused+quantized", "full_jit")
    (failed,) = rep.headline.failed
    assert failed.variant == "mobile" and failed.error_kinds == ("missing_ops",)
    assert set(failed.devices) == {"SM-G991B", EVIL} and (failed.failed, failed.total) == (20, 20)


def test_headline_of_a_phone_with_nothing_faster_than_its_baseline() -> None:
    slow = [Cfg(), Cfg(variant="fused", true_us=6000.0)]
    rep = model.build_run_report({"run_id": "r"}, launches("r", slow, seed=4), n_boot=20)
    (phone,) = rep.headline.phones
    assert phone.best is not None and phone.best.variant == "fused"
    assert phone.best.speedup is not None and phone.best.speedup.value < 1
    assert rep.headline.failed == ()
