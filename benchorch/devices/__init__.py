"""Devices: where launches run. ``open_device`` and ``list_devices`` are the entry points.

``"local"`` is this host (``devices.local.LocalDevice``); every other serial is
a phone behind an adb server (``devices.adb.AdbDevice``). The adb server is
``adb_addr`` (``HOST:PORT``) when given, else ``ANDROID_ADB_SERVER_HOST`` /
``ANDROID_ADB_SERVER_PORT``, else 127.0.0.1:5037.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from benchorch.devices.base import REMOTE_ROOT, Device
from benchorch.domain import DeviceInfo
from benchorch.errors import DeviceError, DeviceNotFound

__all__ = ["REMOTE_ROOT", "Device", "list_devices", "open_device"]

LOCAL = "local"
log = logging.getLogger("benchorch.devices")


def open_device(serial: str, *, adb_addr: str | None = None) -> Device:
    """The device called ``serial``; ``DeviceNotFound`` when the adb server lacks it.

    A listed but offline phone is returned all the same, so that its
    ``reconnect()`` can bring it back.
    """
    if serial == LOCAL:
        from benchorch.devices.local import LocalDevice

        return LocalDevice()
    from benchorch.devices import adbhost
    from benchorch.devices.adb import AdbDevice

    addr = adbhost.ServerAddr.resolve(adb_addr)
    entries = adbhost.list_entries(addr)
    serials = [e.serial for e in entries]
    if serial not in serials:
        raise DeviceNotFound(
            f"not attached to the adb server at {addr} (it has: {', '.join(serials) or 'none'})",
            serial=serial,
            hint="see `benchorch devices`; attach a TCP phone with `adb connect HOST:PORT`",
        )
    entry = next(e for e in entries if e.serial == serial)
    return AdbDevice(serial, addr=addr, transport_id=entry.transport_id, state=entry.state)


def _local_info() -> DeviceInfo:
    try:
        from benchorch.devices.local import LocalDevice
    except ImportError:  # pragma: no cover - only while local.py is being written
        return DeviceInfo(serial=LOCAL, state=LOCAL)
    dev = LocalDevice()
    try:
        return dev.info()
    except DeviceError as exc:
        log.warning("%s", exc)
        return DeviceInfo(serial=LOCAL, state=LOCAL)
    finally:
        dev.close()


def list_devices(adb_addr: str | None = None, *, include_local: bool = True) -> list[DeviceInfo]:
    """``local`` first, then every device the adb server lists, with its facts.

    Facts are gathered in parallel (one shell round trip per phone). A phone not
    in state ``device`` (offline, unauthorized) is listed with its state only; a
    phone whose facts fail is listed likewise and the failure logged.
    ``AdbServerUnreachable`` when no server answers at the address.
    """
    from benchorch.devices import adbhost
    from benchorch.devices.adb import AdbDevice

    addr = adbhost.ServerAddr.resolve(adb_addr)
    entries = adbhost.list_entries(addr)

    def facts(entry: adbhost.DeviceEntry) -> DeviceInfo:
        if entry.state != "device":
            return DeviceInfo(serial=entry.serial, state=entry.state)
        try:
            dev = AdbDevice(entry.serial, addr=addr, transport_id=entry.transport_id)
            return dev.info()
        except DeviceError as exc:
            log.warning("%s", exc)
            return DeviceInfo(serial=entry.serial, state=entry.state)

    infos = [_local_info()] if include_local else []
    if entries:
        with ThreadPoolExecutor(max_workers=min(8, len(entries))) as pool:
            infos += list(pool.map(facts, entries))
    return infos
