"""Issue 16's judgement: ``benchorch import`` puts an iPhone's TestApp log into a sweep's run
on an x86_64 virtual phone (the real adb server, the real lite speed_benchmark_torch), and
the run's report shows the iPhone beside the virtual phone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from tests.report.htmlparse import parse
from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import DIMS, SweepEnv, common_args, run_id_of

pytestmark = pytest.mark.slow

IOS = Path(__file__).parent.parent / "fixtures" / "outputs" / "handmade_ios_testapp.txt"


def test_an_imported_iphone_stands_beside_a_virtual_phone_in_the_report(
    sweep_env: SweepEnv, emulator: VirtualPhone, small_variants: Path, lite: Path
) -> None:
    swept = sweep_env.invoke(
        "--device", emulator.serial, *common_args(small_variants, lite),
        "--launches", "1", "--load-launches", "0", "--out", str(sweep_env.out),
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    run = run_id_of(swept.stderr)
    manifest = json.loads((small_variants / "manifest.json").read_text())
    ptl = next(f for f in manifest["files"] if f["name"] == "baseline.ptl")

    def bench(*args: str) -> object:
        return CliRunner().invoke(cli, ["--db", str(sweep_env.db), *args], env=sweep_env.env)

    added = bench(
        "import", "--device-name", "iPhone 12", "--platform", "ios", "--run", run,
        "--model-file", str(small_variants / ptl["path"]), "--variant", ptl["variant"],
        "--dims", DIMS, "--types", "float", "--threads", "1", str(IOS), str(IOS),
    )  # fmt: skip
    assert added.exit_code == 0, added.output  # type: ignore[attr-defined]
    out = sweep_env.tmp / "run.html"
    shown = bench("report", run, "-o", str(out))
    assert shown.exit_code == 0, shown.output  # type: ignore[attr-defined]
    doc = parse(out.read_text())
    phones = [h.all_text() for h in doc.iter("h3") if h.find("span")]
    assert len(phones) == 2, phones
    assert sum(p.startswith("iPhone 12") for p in phones) == 1, phones  # and the virtual phone
    rows = [tr for tr in doc.iter("tr") if "data-config" in tr.attrs]
    iphone = [tr for tr in rows if tr.attrs["data-config"].startswith("iPhone 12|")]
    assert len(iphone) == 1 and ptl["sha256"] in iphone[0].attrs["data-config"]
    android = [tr for tr in rows if not tr.attrs["data-config"].startswith("iPhone 12|")]
    assert any(ptl["sha256"] in tr.attrs["data-config"] for tr in android)  # the same file
