"""benchorch.devices.cpumask: the pin setting, the mask it gives per device, taskset's syntax."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchorch.devices.cpumask import cpu_mask, mask_cpus, mask_hex, parse_pin, pin_mask
from benchorch.domain import CpuCluster, DeviceInfo

PIXEL8 = DeviceInfo(
    serial="p8",
    state="device",
    clusters=(
        CpuCluster("little", (0, 1, 2, 3), 1704000),
        CpuCluster("mid", (4, 5, 6, 7), 2367000),
        CpuCluster("big", (8,), 2915000),
    ),
)
TWO_CLUSTERS = DeviceInfo(
    serial="a54",
    state="device",
    clusters=(
        CpuCluster("little", (0, 1, 2, 3), 2002000),
        CpuCluster("big", (4, 5, 6, 7), 2400000),
    ),
)
ONE_CLUSTER = DeviceInfo(serial="emu", state="device", clusters=(CpuCluster("all", (0, 1), None),))


@pytest.mark.parametrize(
    ("info", "pin", "mask"),
    [
        (PIXEL8, "big", 0x100),
        (TWO_CLUSTERS, "big", 0xF0),
        (ONE_CLUSTER, "big", None),  # nothing to choose between: no pinning
        (PIXEL8, "all", 0x1FF),
        (TWO_CLUSTERS, "none", None),
        (TWO_CLUSTERS, "0x30", 0x30),
        (DeviceInfo(serial="x", state="device"), "all", None),  # no cores known
    ],
)
def test_pin_mask(info: DeviceInfo, pin: str, mask: int | None) -> None:
    assert pin_mask(info, pin) == mask


def test_parse_pin() -> None:
    assert parse_pin(" BIG ") == "big"
    assert parse_pin("0xF0") == "0xf0"
    for bad in ("little", "0x0", "0xzz", "f0", ""):
        with pytest.raises(ValueError, match="not a pinning choice"):
            parse_pin(bad)


@given(st.sets(st.integers(min_value=0, max_value=63), min_size=1))
def test_mask_round_trip(cpus: set[int]) -> None:
    mask = cpu_mask(cpus)
    assert mask_cpus(mask) == tuple(sorted(cpus))
    assert int(mask_hex(mask), 16) == mask


def test_mask_rejects_empty() -> None:
    with pytest.raises(ValueError, match="at least one CPU"):
        mask_hex(0)
