"""Load time on a phone whose ``date`` knows no ``%N`` (issue 16): the clock is
probed once with the device facts, /proc/uptime times the load launches, and the
report says which clock and its resolution. Virtual phones behind the real adb
server, the real lite speed_benchmark_torch."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from benchorch.devices.androidfacts import load_clock
from benchorch.domain import LoadClock
from benchorch.sweep.launch import LOAD_WRAPPER, UPTIME_WRAPPER, load_time
from benchorch.virtualphone.harness import VirtualPhone
from tests.sweep.conftest import SweepEnv, common_args, run_id_of


@pytest.mark.parametrize(
    ("text", "clock"),
    [
        ("1701234567123456789\n12345.67 23456.78\n", LoadClock.DATE_NS),
        ("1701234567N\n12345.67 23456.78\n", LoadClock.UPTIME),  # old toolbox: a literal N
        ("1701234567%N\n812.05 1600.10\n", LoadClock.UPTIME),
        ("1701234567N\n", None),  # neither clock: the load launches say so
        ("", None),
    ],
)
def test_the_clock_section_picks_the_clock(text: str, clock: LoadClock | None) -> None:
    assert load_clock(text) == clock


MKSH = shutil.which("mksh") or "/bin/mksh"  # Android's shell, with its 32-bit arithmetic


@pytest.mark.parametrize("wrapper", [LOAD_WRAPPER, UPTIME_WRAPPER])
def test_a_load_over_2_15_s_is_timed_right_by_the_phones_shell(wrapper: str) -> None:
    # mksh's $((...)) is 32-bit: a difference of nanoseconds taken there wrapped
    # past 2.147 s (a negative load, "the device clock gave no load time").
    proc = subprocess.run(
        [MKSH, "-c", wrapper, "sh", MKSH, "-c", "sleep 2.3; exit 4"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 4
    load_s, rest = load_time(proc.stderr)
    assert load_s is not None and 2.25 <= load_s < 10 and rest.strip() == ""
    if wrapper == UPTIME_WRAPPER:  # hundredths of a second
        assert round(load_s * 100) == pytest.approx(load_s * 100)


def test_load_launches_on_a_phone_without_date_ns_are_timed_by_uptime(
    sweep_env: SweepEnv,
    virtual_phone: Callable[..., VirtualPhone],
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    old = virtual_phone(profile="x86_64_old_date")
    assert "N" in old.shell("date +%s%N").stdout  # the phone really lacks %N
    result = sweep_env.invoke(
        "--device",
        old.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "2",
        "--out",
        str(sweep_env.out),
    )
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    loads = sweep_env.rows("SELECT * FROM launches WHERE run_id = ? AND kind = 'load'", (run_id,))
    assert len(loads) == 4
    for r in loads:
        assert r["status"] == "ok", r["message"]
        assert r["load_s"] is not None and float(r["load_s"]) * 100 == pytest.approx(
            round(float(r["load_s"]) * 100)
        )  # whole hundredths
        assert "/proc/uptime" in json.loads(str(r["argv"]))[2]
    (facts,) = sweep_env.rows("SELECT facts FROM devices WHERE run_id = ?", (run_id,))
    assert json.loads(str(facts[0]))["load_clock"] == LoadClock.UPTIME.value
    html = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "/proc/uptime (10 ms)" in html
