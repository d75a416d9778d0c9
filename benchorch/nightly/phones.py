"""Tonight's phones: the configured ones that are healthy, and why the others are left out.

A phone is left out (never planned) when the adb server does not list it,
when it is not in state ``device`` (offline, unauthorized), when its facts
cannot be read, when another sweep holds it, or when its battery is under
``min_battery`` and it is not charging. With ``all = true`` the configured
phones are the attached ones plus every phone an earlier night of the same
configuration ran on, so a phone that vanished is listed as missing rather
than forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from benchorch.devices import open_device
from benchorch.devices.lock import DeviceLock
from benchorch.errors import BenchorchError, DeviceNotFound
from benchorch.sweep.settings import SweepConfig

__all__ = ["LeftOut", "PhonePick", "pick_phones"]


@dataclass(frozen=True)
class LeftOut:
    serial: str
    reason: str


@dataclass(frozen=True)
class PhonePick:
    healthy: tuple[str, ...]
    left_out: tuple[LeftOut, ...]

    @property
    def configured(self) -> tuple[str, ...]:
        return self.healthy + tuple(p.serial for p in self.left_out)


def _attached(adb_addr: str | None) -> dict[str, str]:
    """serial -> adb state of every phone the adb server lists."""
    from benchorch.devices import list_devices

    return {i.serial: i.state for i in list_devices(adb_addr=adb_addr, include_local=False)}


def _probe(serial: str, cfg: SweepConfig) -> str | None:
    """Why ``serial`` cannot run tonight, or None when it can."""
    try:
        with DeviceLock(serial):
            device = open_device(serial, adb_addr=cfg.adb_server)
            try:
                info = device.info()
            finally:
                device.close()
    except DeviceNotFound:
        return "missing: the adb server does not list it"
    except BenchorchError as exc:
        return f"unhealthy: {exc}"
    if info.state not in ("device", "local"):
        return f"unhealthy: adb state {info.state}"
    low = info.battery_level is not None and info.battery_level < cfg.min_battery
    if low and not info.charging:
        return f"battery {info.battery_level}% under min_battery {cfg.min_battery}%"
    return None


def pick_phones(cfg: SweepConfig, known: Iterable[str] = ()) -> PhonePick:
    """Probe every configured phone; ``known``: phones of earlier nights (``all = true``)."""
    serials = list(dict.fromkeys(cfg.devices))
    states: dict[str, str] = {}
    if cfg.all:
        states = _attached(cfg.adb_server)
        serials += [s for s in [*states, *known] if s not in serials]
    healthy: list[str] = []
    left: list[LeftOut] = []
    for serial in serials:
        state = states.get(serial)
        if cfg.all and state is None:
            why: str | None = "missing: ran on an earlier night, not attached now"
        elif state is not None and state != "device":
            why = f"unhealthy: adb state {state}"
        else:
            why = _probe(serial, cfg)
        if why is None:
            healthy.append(serial)
        else:
            left.append(LeftOut(serial, why))
    return PhonePick(tuple(healthy), tuple(left))
