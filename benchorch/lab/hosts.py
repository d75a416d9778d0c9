"""``benchorch lab hosts``: each lab host's adb server, probed safely.

Each host is reached as its worker reaches it (``link.HostLink``: directly on an
edge host, through a verified SSH forward on a hub host). The first thing asked
of its adb server is ``host:version``; a server of another version than this
machine's ``adb`` client is marked misconfigured and nothing else is sent to it
(a mismatched client kills the server it talks to, docs/LAB.md). ``host:kill``
is never sent. Every call has a timeout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from benchorch.devices.adbhost import HostFail, StreamLost, host_query, parse_devices_l
from benchorch.errors import AdbServerUnreachable
from benchorch.lab.config import HostConfig, LabConfig
from benchorch.lab.link import HostLink

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
    ssh: str = ""  # hub: connected | unreachable | refused; edge: ""

    @property
    def missing(self) -> list[str]:
        return [s for s in self.configured if self.seen.get(s) != "device"]

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.name,
            "mode": self.mode,
            "ssh": self.ssh or None,
            "tunnel": self.mode == "hub" and self.status == "up",
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
    host: HostConfig,
    configured: tuple[str, ...],
    client_version: int | None,
    *,
    trust_new: bool = False,
) -> HostReport:
    """One host's report; ``trust_new`` records an unknown SSH host key (and says so)."""
    with HostLink(host, client_version, trust_new=trust_new, timeout_s=TIMEOUT_S) as link:
        status = link.open(supervise=False)
        mode, ssh = status.mode, status.ssh
        if not status.up:
            return HostReport(
                host.name, mode, status.status, status.detail, status.adb_version, configured,
                ssh=ssh,
            )  # fmt: skip
        try:
            entries = parse_devices_l(host_query(link.addr, "host:devices-l", timeout=TIMEOUT_S))
        except (AdbServerUnreachable, HostFail, StreamLost, OSError) as exc:
            return HostReport(
                host.name, mode, "down", f"adb server: {exc}", status.adb_version, configured,
                ssh=ssh,
            )  # fmt: skip
    seen = {e.serial: e.state for e in entries}
    return HostReport(host.name, mode, "up", "", status.adb_version, configured, seen, ssh)


def probe_hosts(config: LabConfig, *, trust_new: bool = False) -> list[HostReport]:
    client = client_adb_version()
    return [
        probe_host(h, tuple(p.serial for p in config.phones_of(name)), client, trust_new=trust_new)
        for name, h in sorted(config.hosts.items())
    ]
