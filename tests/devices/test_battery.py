"""benchorch.devices.battery: the battery gate (pure; the adb device's use of it is
tested on a virtual phone in test_adb_device.py, the sweep's in tests/sweep/)."""

from __future__ import annotations

import pytest

from benchorch.devices.battery import require_battery
from benchorch.errors import BatteryTooLow


@pytest.mark.parametrize(
    ("level", "charging", "minimum"),
    [
        (50, False, 20),
        (20, False, 20),  # at the threshold passes
        (5, True, 20),  # a charging phone passes
        (None, False, 20),  # unknown level (local, no battery) passes
        (5, False, None),  # no threshold
    ],
)
def test_passes(level: int | None, charging: bool | None, minimum: int | None) -> None:
    require_battery("p1", level, charging, minimum)


@pytest.mark.parametrize("charging", [False, None])
def test_a_discharging_or_unknown_phone_under_the_threshold_is_refused(
    charging: bool | None,
) -> None:
    with pytest.raises(BatteryTooLow, match="battery at 7% is under the 20% threshold") as info:
        require_battery("p1", 7, charging, 20)
    assert info.value.serial == "p1" and "--min-battery" in str(info.value)
