"""One adb service per launch (issue 16): the health snapshots ride in the launch's
own shell. Counted on virtual phones (each logs every service it opens) behind
the real adb server, with the real lite speed_benchmark_torch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from benchorch.virtualphone.harness import VirtualPhone
from tests.sweep.conftest import SweepEnv, common_args, run_id_of

EMU = "x86_64_emulator"


def _services(phone: VirtualPhone) -> list[str]:
    return [
        line.removeprefix("vphone: service ")
        for line in phone.log.read_text().splitlines()
        if line.startswith("vphone: service ")
    ]


def test_each_launch_is_one_adb_service_with_health_before_and_after(
    sweep_env: SweepEnv,
    virtual_phone: Callable[..., VirtualPhone],
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    # Two fresh phones, the same sweep but for the launch count: the fixed part
    # (facts, pushes, hash checks) is the same on both, so the difference in
    # services over the difference in launches is the cost of one launch.
    counts: dict[int, int] = {}
    for launches in (1, 4):
        phone = virtual_phone(profile=EMU)
        opened = len(_services(phone))
        result = sweep_env.invoke(
            "--device",
            phone.serial,
            *common_args(small_variants, sweep_binaries["lite"]),
            "--launches",
            str(launches),
            "--load-launches",
            "1",
            "--cooldown-temp",
            "45",  # the gate is on; the phone (33 degrees) is cool
        )
        assert result.exit_code == 0, result.output
        run_id = run_id_of(result.stderr)
        rows = sweep_env.rows("SELECT * FROM launches WHERE run_id = ?", (run_id,))
        assert len(rows) == 2 * (launches + 1) and all(r["status"] == "ok" for r in rows)
        for r in rows:  # the snapshots were read, and the output is the binary's alone
            assert json.loads(str(r["health_before"]))["hottest_zone_c"] == 33.0
            assert json.loads(str(r["health_after"]))["battery_level"] == 100
            assert "@@" not in str(r["stdout"]) and "@@" not in str(r["stderr"])
        counts[launches] = len(_services(phone)) - opened
    per_launch = (counts[4] - counts[1]) / (2 * (4 - 1))
    assert per_launch == 1, counts
