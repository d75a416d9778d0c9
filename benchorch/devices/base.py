"""The ``Device`` protocol: everything the sweep needs from a place that runs launches.

Implementations: ``devices.local.LocalDevice`` (this host, serial ``local``) and
``devices.adb.AdbDevice`` (a phone behind an adb server, real or the virtual
phone). The sweep talks only to this protocol.

Contract, for every implementation:

* Every error raised is a ``benchorch.errors.DeviceError`` subclass carrying
  the serial; third-party exceptions never escape.
* ``run`` takes an argv list; implementations quote each element for the remote
  shell (``shlex.quote``); nothing is concatenated unquoted.
* ``run`` never reports success for output that ended early: a dropped
  connection gives ``complete=False`` (or raises ``DeviceDropped`` when nothing
  could be read), a timeout kills the process on the device and gives
  ``timed_out=True``.
* ``push`` deduplicates by content hash on the device and verifies what it sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from benchorch.domain import DeviceInfo, Health, PushResult, ShellResult


class DeviceLog(logging.LoggerAdapter[logging.Logger]):
    """Log lines tagged with one device's serial (mobly's ``AndroidDevice.log``
    pattern): ``SERIAL: message``, instead of the serial formatted in at each call.
    The serial is also on the record (``record.serial``) for handlers that want it."""

    def process(
        self, msg: str, kwargs: MutableMapping[str, object]
    ) -> tuple[str, MutableMapping[str, object]]:
        serial = (self.extra or {}).get("serial", "?")
        kwargs.setdefault("extra", {"serial": serial})
        return f"{serial}: {msg}", kwargs


def device_log(name: str, serial: str) -> DeviceLog:
    """The logger ``name`` with every line tagged by ``serial``."""
    return DeviceLog(logging.getLogger(name), {"serial": serial})


#: Where benchorch keeps its files on an Android device.
REMOTE_ROOT = "/data/local/tmp/benchorch"


@runtime_checkable
class Device(Protocol):
    @property
    def serial(self) -> str: ...

    @property
    def workdir(self) -> str:
        """Folder on the device where pushed files live (``REMOTE_ROOT`` on phones)."""
        ...

    def info(self) -> DeviceInfo:
        """Static and slow-changing facts (model, SoC, ABIs, clusters, ...)."""
        ...

    def health(self) -> Health:
        """A fast snapshot: temperatures, battery, online CPUs and frequencies."""
        ...

    def push(self, local: Path, name: str, *, executable: bool = False) -> PushResult:
        """Copy ``local`` to ``workdir/name`` unless an identical file is there.

        ``name`` may contain any characters a file name can; it is a single path
        component. Binaries are pushed with ``executable=True`` (chmod 755).
        """
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        cpu_mask: int | None = None,
    ) -> ShellResult:
        """Run ``argv`` on the device (pinned with ``taskset`` when ``cpu_mask``)."""
        ...

    def reconnect(self, *, within_s: float) -> None:
        """Bring a dropped device back within ``within_s`` or raise ``DeviceUnreachable``."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HealthFoldedRun:
    """A launch run together with the health snapshots read around it."""

    shell: ShellResult  # the command's own output only
    before: Health | None  # None: the command never started
    after: Health | None  # None: it did not end normally (timeout, drop)


@runtime_checkable
class FoldsHealth(Protocol):
    """A device that reads its health in the same round trip as a command.

    On a phone every command is one adb service; a separate health snapshot
    before and after each launch would be two more. ``run_with_health`` runs
    the snapshot, the command and the snapshot again in one shell.
    """

    def run_with_health(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: str | None = None,
        cpu_mask: int | None = None,
    ) -> HealthFoldedRun: ...


@runtime_checkable
class BoundsStorage(Protocol):
    """A device whose benchorch folder is kept under a size (``max_phone_storage``):
    phones. ``make_room`` evicts the least recently used files benchorch pushed, never
    one named in ``needed`` (name on the device -> size), and marks ``needed`` used."""

    def make_room(self, needed: Mapping[str, int], bound: int) -> tuple[str, ...]: ...
