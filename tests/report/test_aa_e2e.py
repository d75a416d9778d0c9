"""A/A and A/B end to end: real sweeps, the real speed_benchmark_torch, the real store.

Three ``benchorch sweep --device local`` runs with a real host build of
PyTorch's speed_benchmark_torch (lite flavour) on TorchScript models made here:
the same model twice (A/A), then the same model with extra conv layers (A/B,
the deliberately slowed variant: 7 layers of 16 channels instead of 3).
``benchorch compare`` must find no regression in A/A and call the slowed
variant ``slower``; the report must show it.

The host CPU is shared with other work, so a run's level can drift by a few
percent between sweeps. That used to need ``--threshold 10``; now the second
and third sweeps confirm their own suspects (``--confirm --baseline``): the
baseline's binary and file and the candidate's run again, A/B interleaved,
so a drift between sweeps hits both sides and no widened threshold is
needed. Latency launches only (a load launch, about a second of process
start, drifts with the host's load far more than the model's cost does).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchorch.build.provenance import Provenance
from tests.report.htmlparse import parse
from tests.support.nets import benchorch_cli, same_and_slowed

pytestmark = [pytest.mark.slow, pytest.mark.torch]


def test_a_a_gives_no_regression_and_an_extra_layer_is_slower(
    host_binary_lite: Provenance, tmp_path: Path
) -> None:
    models = same_and_slowed(tmp_path, 64)
    env = dict(
        os.environ,
        BENCHORCH_DB=str(tmp_path / "results.sqlite"),
        BENCHORCH_LOCK_DIR=str(tmp_path / "locks"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    runs: list[str] = []
    outs: list[dict[str, Any]] = []
    for model, confirm in (("same", ()), ("same", ()), ("slowed", ("--vary", "variant_sha256"))):
        if runs:  # confirm against the previous run; 400%: one configuration of 10 launches
            confirm = ("--confirm", "--baseline", runs[-1], "--confirm-budget", "400", *confirm)
        res = benchorch_cli(
            env, "sweep", "--device", "local", "--binary", str(host_binary_lite.path),
            "--model", str(models[model]), "--recipe", "lite", "--dims", "1,3,64,64",
            "--launches", "10", "--iter", "30", "--warmup", "3", "--load-launches", "0",
            "--quiet", "--json", "--out", str(tmp_path / "reports"), *confirm,
        )  # fmt: skip
        outs.append(json.loads(res.stdout))
        assert res.returncode == (1 if model == "slowed" else 0), (res.stdout, res.stderr)
        runs.append(outs[-1]["run_id"])
    a1, a2, b = runs

    aa = benchorch_cli(env, "compare", a1, a2, "--format", "json")
    data = json.loads(aa.stdout)
    assert aa.returncode == 0, aa.stdout
    assert data["counts"]["slower"] == 0 and data["counts"]["not_comparable"] == 0

    # The A/B sweep confirmed its suspect itself: 20 launches a side of the
    # baseline's file and the slowed one, interleaved (ABBA) on the one device.
    conf = outs[2]["confirmation"]
    assert conf["launches"] == 40 and len(conf["suspects"]) == 1
    (row,) = [r for r in conf["comparison"]["rows"] if r["confirm_base"]]
    assert row["verdict"] == "slower" and row["confirm_base"] == row["confirm_cand"] == 20
    from benchorch.store import Store

    with Store(Path(env["BENCHORCH_DB"]), create=False) as store:
        sides = {conf["base_run"]: "A", conf["cand_run"]: "B"}
        both = [store.launches(r, include_output=False) for r in sides]
        order = "".join(sides[r] for r in pd.concat(both).sort_values("started_at")["run_id"])
        assert store.launches(conf["base_run"])["variant_sha256"].nunique() == 1
    assert order == "ABBA" * 10, order

    strict = benchorch_cli(env, "compare", a2, b)
    assert strict.returncode == 3  # another model file: not comparable unless asked
    assert "variant_sha256 differs" in strict.stdout

    ab = benchorch_cli(env, "compare", a2, b, "--format", "json", "--vary", "variant_sha256")
    data = json.loads(ab.stdout)
    assert ab.returncode == 1, ab.stdout
    (slower,) = [r for r in data["rows"] if r["verdict"] == "slower" and r["kind"] == "latency"]
    assert slower["ratio"] > 1.5 and slower["ci_low"] > 1.10
    assert slower["confirm_base"] == 20 and "confirmation launches" in slower["reason"]

    out = tmp_path / "b.html"
    rep = benchorch_cli(
        env, "report", b, "--baseline", a2, "--vary", "variant_sha256", "-o", str(out)
    )
    assert rep.returncode == 0, rep.stderr
    (table,) = parse(out.read_text()).find("table", id="regressions")
    verdicts = [tr.attrs["data-verdict"] for tr in table.iter("tr") if "data-verdict" in tr.attrs]
    assert verdicts[0] == "slower" and "not_comparable" not in verdicts
