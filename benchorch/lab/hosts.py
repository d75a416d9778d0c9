"""``benchorch lab hosts``: each lab host's adb server, probed safely.

The first thing asked of a host's adb server is ``host:version``; a server of
another version than this machine's ``adb`` client is marked misconfigured and
nothing else is sent to it (a mismatched client kills the server it talks to,
docs/LAB.md). ``host:kill`` is never sent. Every call has a timeout. Hub mode (an
SSH forward to a remote host's adb server) is not built yet: such a host is
reported ``not probed``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from benchorch.devices.adbhost import HostFail, ServerAddr, StreamLost, host_query, parse_devices_l
from benchorch.errors import AdbServerUnreachable
from benchorch.lab.config import HostConfig, LabConfig

__all__ = ["HostReport", "client_adb_version", "probe_host", "probe_hosts"]

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class HostReport:
    name: str
    mode: str  # edge | hub
    status: str  # up | down | misconfigured | not probed
    detail: str = ""
    adb_version: int | None = None
    configured: tuple[str, ...] = ()
    seen: dict[str, str] = field(default_factory=dict)  # serial -> adb state

    @property
    def missing(self) -> list[str]:
        return [s for s in self.configured if self.seen.get(s) != "device"]

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.name,
            "mode": self.mode,
            "status": self.status,
            "detail": self.detail,
            "adb_version": self.adb_version,
            "configured": list(self.configured),
            "seen": self.seen,
            "missing": self.missing,
        }


def client_adb_version() -> int | None:
    """This machine's adb client protocol version (``1.0.41`` -> 41), or None without adb."""
    adb = shutil.which("adb")
    if adb is None:
        return None
    try:
        out = subprocess.run(
            [adb, "version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Android Debug Bridge version 1\.0\.(\d+)", out)
    return int(m.group(1)) if m else None


def probe_host(
    host: HostConfig, configured: tuple[str, ...], client_version: int | None
) -> HostReport:
    mode = "edge" if host.ssh is None else "hub"
    if host.ssh is not None:
        return HostReport(
            host.name, mode, "not probed", "hub mode (SSH forward) is not built yet", None,
            configured,
        )  # fmt: skip
    addr = ServerAddr("127.0.0.1", host.adb_port)
    try:
        version = int(host_query(addr, "host:version", timeout=TIMEOUT_S), 16)
    except (AdbServerUnreachable, HostFail, StreamLost, OSError, ValueError) as exc:
        return HostReport(host.name, mode, "down", str(exc), None, configured)
    if client_version is not None and version != client_version:
        return HostReport(
            host.name, mode, "misconfigured",
            f"adb server at {addr} is version {version}, this client is {client_version}: "
            "nothing is sent to it (a mismatched client would kill it); run the same adb on both",
            version, configured,
        )  # fmt: skip
    try:
        entries = parse_devices_l(host_query(addr, "host:devices-l", timeout=TIMEOUT_S))
    except (AdbServerUnreachable, HostFail, StreamLost, OSError) as exc:
        return HostReport(
            host.name, mode, "down", f"adb server at {addr}: {exc}", version, configured
        )
    seen = {e.serial: e.state for e in entries}
    return HostReport(host.name, mode, "up", "", version, configured, seen)


def probe_hosts(config: LabConfig) -> list[HostReport]:
    client = client_adb_version()
    return [
        probe_host(h, tuple(p.serial for p in config.phones_of(name)), client)
        for name, h in sorted(config.hosts.items())
    ]
