"""Issue 16: the nightly treats an iPhone beside the Android phones. Two real nights on an
x86_64 virtual phone (``nightly run``: the real adb server, the real lite
speed_benchmark_torch), each with an iPhone's TestApp logs imported into the night's own run
(``import --run``); ``nightly report`` then compares the iPhone's configuration across the two
nights beside the virtual phone's. The confirm step is on (the default): it re-runs the
virtual phone's suspects, never the iPhone's, which stays a suspect saying why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.captured import NOT_RERUNNABLE
from benchorch.cli.main import cli
from tests.nightly.conftest import NightlyEnv, sweep_keys
from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import DIMS

pytestmark = pytest.mark.slow

IOS = Path(__file__).parent.parent / "fixtures" / "outputs" / "handmade_ios_testapp.txt"
IPHONE = "iPhone 12"


def _logs(folder: Path, ms: list[float]) -> list[str]:
    """One TestApp log per launch: the fixture's lines with its milliseconds per iter (and
    iterations per second to match)."""
    text = IOS.read_text()
    assert "Milliseconds per iter: 28.767" in text and "Iters per second: : 34.762" in text
    folder.mkdir()
    out = []
    for i, v in enumerate(ms):
        log = folder / f"testapp-{i}.log"
        log.write_text(text.replace("28.767", f"{v:.3f}").replace("34.762", f"{1000 / v:.3f}"))
        out.append(str(log))
    return out


def test_nightly_report_compares_an_imported_iphone_across_nights_beside_a_virtual_phone(
    nightly_env: NightlyEnv,
    virtual_phone: Callable[..., VirtualPhone],
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    emulator = virtual_phone(profile="x86_64_emulator")
    cfg = nightly_env.config(
        devices=[emulator.serial],
        **sweep_keys(small_variants, sweep_binaries["lite"], launches=3),
    )
    manifest = json.loads((small_variants / "manifest.json").read_text())
    ptl = next(f for f in manifest["files"] if f["name"] == "baseline.ptl")

    def bench(*args: str) -> object:
        res = CliRunner().invoke(cli, ["--db", str(nightly_env.db), *args], env=nightly_env.env)
        assert res.exit_code == 0, res.output
        return res

    # the iPhone: 28-29 ms the first night, three times that the second (a real slowdown
    # the screen cannot miss); its launches go into each night's own run
    levels = {"2026-11-01": [28.0, 28.4, 28.8, 29.2, 28.2, 28.6],
              "2026-11-02": [84.0, 85.2, 86.4, 87.6, 84.6, 85.8]}  # fmt: skip
    out = nightly_env.tmp / "out"
    for night, ms in levels.items():
        run = nightly_env.invoke("run", "--config", str(cfg), "--night", night, "-q")
        assert run.exit_code == 0, run.output
        [newest, *_] = json.loads(bench("runs", "--json").stdout)  # type: ignore[attr-defined]
        bench(
            "import", "--device-name", IPHONE, "--platform", "ios", "--run", newest["run_id"],
            "--model-file", str(small_variants / ptl["path"]), "--variant", ptl["variant"],
            "--dims", DIMS, "--types", "float", "--threads", "1",
            *_logs(nightly_env.tmp / night, ms),
        )  # fmt: skip
    rep = nightly_env.invoke("report", "--config", str(cfg), "--night", "2026-11-02",
                             "--out", str(out))  # fmt: skip
    # a slower iPhone is a suspect the nightly cannot re-run: never "the confirm step
    # failed" (exit 3, as if the lab were broken), never a regression unconfirmed
    assert rep.exit_code != 3, rep.output
    doc = json.loads(next(out.glob("nightly-2026-11-02-*.json")).read_text())
    v = doc["verdicts"]
    assert v["previous_night"] == "2026-11-01" and v["confirm_error"] == ""
    assert v["compared"] == 3, v  # the iPhone's configuration and the virtual phone's two
    [mine] = [s for s in v["unconfirmed_suspects"] if s["serial"] == IPHONE]
    assert mine["kind"] == "slower?" and mine["ratio_previous"] == pytest.approx(3.0, rel=0.01)
    assert mine["reason"] == NOT_RERUNNABLE
    assert all(r["serial"] != IPHONE for r in v["regressions"])
    md = rep.stdout.split("## Unconfirmed suspects")[1]
    assert f"| {IPHONE} · baseline (lite) · 1,3,32,32 float · 1t · unknown | +200.0% |" in md
    # the virtual phone's configurations beside it, night against night
    cmp = nightly_env.invoke("compare", "2026-11-01", "2026-11-02", "--config", str(cfg))
    assert cmp.exit_code in (0, 1), cmp.output
    rows = [ln.split() for ln in cmp.stdout.splitlines() if " · " in ln]  # verdict, label...
    iphone = [r for r in rows if " ".join(r[1:]).startswith(IPHONE + " · baseline (lite)")]
    assert len(iphone) == 1 and iphone[0][0] == "slower", cmp.stdout
    phone = [r for r in rows if r[1] == "sdk_gphone64_x86_64"]  # the virtual phone's model
    assert len(phone) == len(rows) - 1 == 2, cmp.stdout  # baseline.ptl and fused.ff.ptl
