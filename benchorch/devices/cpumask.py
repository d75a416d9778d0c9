"""CPU pinning: which cores a launch runs on, as the ``taskset`` mask it takes (the one owner).

A mask has bit *i* set for CPU *i*. The sweep's ``pin`` setting chooses it per
device from the device's facts (``DeviceInfo.clusters``):

* ``big``: the big cluster (the cores with the highest maximum frequency);
  no pinning on a device with one cluster, where there is nothing to choose;
* ``all``: every core listed;
* ``none``: no pinning;
* a hexadecimal mask such as ``0xf0``: those cores, as given.

The settings validate ``pin`` with ``parse_pin``, the executor turns it into a
mask with ``pin_mask``, and the devices pass ``mask_hex`` to ``taskset`` (or
``mask_cpus`` to ``sched_setaffinity`` on a host without it).
"""

from __future__ import annotations

from collections.abc import Iterable

from benchorch.domain import DeviceInfo

__all__ = ["PIN_CHOICES", "cpu_mask", "mask_cpus", "mask_hex", "parse_pin", "pin_mask"]

PIN_CHOICES = ("big", "all", "none")


def cpu_mask(cpus: Iterable[int]) -> int:
    """Bit i set for CPU i: the mask ``taskset`` takes."""
    mask = 0
    for cpu in cpus:
        if cpu < 0:
            raise ValueError(f"negative CPU number {cpu}")
        mask |= 1 << cpu
    return mask


def mask_hex(mask: int) -> str:
    """``taskset``'s hexadecimal mask argument (no ``0x``)."""
    if mask <= 0:
        raise ValueError(f"a CPU mask must select at least one CPU, got {mask}")
    return format(mask, "x")


def mask_cpus(mask: int) -> tuple[int, ...]:
    """The CPUs a mask selects, lowest first."""
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def parse_pin(text: str) -> str:
    """A ``pin`` value normalised (``big``, ``all``, ``none`` or ``0x..``); ``ValueError``
    for anything else, a mask of no CPU included."""
    value = text.strip().lower()
    if value in PIN_CHOICES:
        return value
    try:
        mask = int(value, 16) if value.startswith("0x") else -1
    except ValueError:
        mask = -1
    if mask <= 0:
        raise ValueError(f"{text!r}: not a pinning choice")
    return hex(mask)


def pin_mask(info: DeviceInfo, pin: str) -> int | None:
    """The mask for ``pin`` (a ``parse_pin`` value) on the device ``info`` describes;
    None: do not pin."""
    if pin == "none":
        return None
    if pin.startswith("0x"):
        return int(pin, 16)
    if pin == "big":
        if len(info.clusters) < 2:
            return None
        return cpu_mask(info.big_cpus) or None
    return cpu_mask(c for cluster in info.clusters for c in cluster.cpus) or None
