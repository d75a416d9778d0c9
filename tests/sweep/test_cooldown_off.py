"""``--cooldown-temp off`` / ``cooldown_temp = "off"``: no cooldown gate (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from benchorch.errors import ConfigError
from benchorch.sweep.settings import load_toml, merge
from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import SweepEnv, common_args, run_id_of

EMU = "x86_64_emulator"


def test_off_in_the_toml_and_as_a_flag_switches_the_gate_off_and_round_trips(
    tmp_path: Path,
) -> None:
    toml = tmp_path / "sweep.toml"
    toml.write_text('devices = ["p"]\ncooldown_temp = "off"\n')
    from_file = merge(load_toml(toml), {})
    assert from_file.cooldown_c is None
    assert merge(from_file.to_dict(), {}).cooldown_c is None  # --resume keeps it off
    assert merge({}, {"devices": ("p",), "cooldown_temp": "OFF"}).cooldown_c is None
    assert merge({}, {"devices": ("p",), "cooldown_temp": "50"}).cooldown_c == 50.0
    assert merge({}, {"devices": ("p",)}).cooldown_c == 45.0
    with pytest.raises(ConfigError, match="neither a temperature nor off"):
        merge({}, {"devices": ("p",), "cooldown_temp": "hot"})
    with pytest.raises(ConfigError, match="must be > 0"):
        merge({}, {"devices": ("p",), "cooldown_temp": "0"})


def test_cooldown_off_runs_at_once_on_a_hot_phone_and_marks_nothing_hot(
    sweep_env: SweepEnv,
    virtual_phone: Callable[..., VirtualPhone],
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    hot = virtual_phone(profile=EMU, faults={"hot_c": 80.0})
    result = sweep_env.invoke(
        "--device",
        hot.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--cooldown-temp",
        "off",
        "--cooldown-max-wait",
        "600",  # a gate would wait this long on a phone that stays at 80 degrees
    )
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    rows = sweep_env.rows("SELECT * FROM launches WHERE run_id = ?", (run_id,))
    assert len(rows) == 2
    for r in rows:
        assert r["status"] == "ok" and r["hot"] == 0
        assert json.loads(str(r["health_before"]))["hottest_zone_c"] >= 79  # it was hot
    (settings,) = sweep_env.rows("SELECT params FROM runs WHERE run_id = ?", (run_id,))
    assert json.loads(str(settings[0]))["settings"]["cooldown_temp"] == "off"
