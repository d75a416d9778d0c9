"""benchorch.stats: configuration identities and launch values."""

from __future__ import annotations

import numpy as np
import pytest

from benchorch import stats
from tests.report.builder import Cfg, launches


def test_launch_values_medians_first_iteration_and_load() -> None:
    df = launches(
        "r1",
        [Cfg(), Cfg(variant="lite", kind="load"), Cfg(variant="bad", fail_kind="crash")],
        n_launches=3,
    )
    lv = stats.launch_values(df)
    lat = lv[lv["kind"] == "latency"].iloc[0]
    assert lat["value_us"] == pytest.approx(np.median(lat["samples_us"]))
    assert lat["first_us"] == lat["samples_us"][0]
    assert lat["steady_us"] == pytest.approx(np.median(lat["samples_us"][1:]))
    load = lv[lv["kind"] == "load"].iloc[0]
    assert load["value_us"] == pytest.approx(load["load_s"] * 1e6)
    assert not lv[lv["variant"] == "bad"]["ok"].any()
    assert lv[lv["variant"] != "bad"]["ok"].all()


def test_config_key_separates_every_identity_field() -> None:
    base = Cfg()
    variants = [
        base.with_(threads=1),
        base.with_(core_mask=None),
        base.with_(binary="bin-2"),
        base.with_(flavour="full_jit"),
        base.with_(device_fingerprint="x"),
        base.with_(kind="load"),
    ]
    keys = {stats.config_key(launches("r", [c], n_launches=1).iloc[0]) for c in [base, *variants]}
    assert len(keys) == 1 + len(variants)
