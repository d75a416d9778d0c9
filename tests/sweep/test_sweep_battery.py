"""A phone whose battery is under --min-battery and not charging is refused; the others run.

Real parts: the Debian adb server, virtual phones (the x86_64 emulator profile,
one of them made discharging at 7% by a profile file of the test's own), the
real host-built speed_benchmark_torch.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import SweepEnv, common_args, run_id_of

PhoneFactory = Callable[..., VirtualPhone]


def _discharging_profile(tmp_path: Path) -> Path:
    text = (
        resources.files("benchorch.virtualphone") / "profiles" / "x86_64_emulator.toml"
    ).read_text()
    assert 'status = "Charging"' in text
    path = tmp_path / "flat_emulator.toml"
    path.write_text(text.replace('status = "Charging"', 'status = "Discharging"'))
    return path


def test_low_battery_phone_is_refused_and_the_others_finish(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    good = virtual_phone(profile="x86_64_emulator")
    flat = virtual_phone(profile=str(_discharging_profile(tmp_path)), faults={"battery_level": 7})
    result = sweep_env.invoke(
        "--device", good.serial, "--device", flat.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches", "1", "--load-launches", "0", "--min-battery", "20",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    run_id = run_id_of(result.stderr)
    flat_line = next(ln for ln in result.stderr.splitlines() if ln.strip().startswith(flat.serial))
    assert "refused" in flat_line and "7%" in flat_line and "20%" in flat_line
    assert sweep_env.count(flat.serial) == 0
    assert sweep_env.count(good.serial) == 2  # the .ptl and the FlatBuffer; .pt planned away
    (status,) = sweep_env.rows("SELECT status FROM runs WHERE run_id = ?", (run_id,))
    assert status[0] == "partial"

    # the same phone passes with a lower threshold: the refusal came from the battery
    again = sweep_env.invoke(
        "--device", flat.serial, *common_args(small_variants, sweep_binaries["lite"]),
        "--launches", "1", "--load-launches", "0", "--min-battery", "5",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
