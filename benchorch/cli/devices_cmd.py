"""``benchorch devices [--json] [--adb HOST:PORT]``: list local and adb devices with facts.

Without ``--adb`` and without ``ANDROID_ADB_SERVER_PORT``, a machine with no adb
server running simply lists ``local`` (and says so on stderr); with an explicit
address, an unreachable server is an error (exit 3).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from benchorch.domain import DeviceInfo
from benchorch.errors import AdbServerUnreachable

if TYPE_CHECKING:
    from rich.text import Text


def _ghz(khz: int | None) -> str:
    return "?" if khz is None else f"{khz / 1e6:.2f}"


def _row(info: DeviceInfo) -> list[str]:
    clusters = " ".join(
        f"{c.name}:{','.join(map(str, c.cpus))}@{_ghz(c.max_khz)}GHz" for c in info.clusters
    )
    battery = "" if info.battery_level is None else f"{info.battery_level}%"
    if info.charging:
        battery += " charging"
    if info.battery_temp_c is not None:
        battery += f" {info.battery_temp_c:.1f}°C"
    hottest = max(info.thermal_zones.items(), key=lambda kv: kv[1], default=None)
    free = "" if info.free_bytes is None else f"{info.free_bytes / 2**30:.1f} GiB"
    android = f"{info.android_release or ''} (sdk {info.sdk})" if info.sdk else ""
    return [
        info.serial,
        info.state,
        " ".join(x for x in (info.manufacturer, info.model) if x),
        info.soc or "",
        ",".join(info.abis),
        android,
        clusters,
        battery.strip(),
        f"{hottest[0]} {hottest[1]:.1f}°C" if hottest else "",
        free,
        "" if info.rooted is None else ("yes" if info.rooted else "no"),
    ]


DEVICES_EPILOG = """\b
Examples:
  benchorch devices
  benchorch devices --json --adb 127.0.0.1:5037
  ANDROID_ADB_SERVER_PORT=5039 benchorch devices
"""


@click.command("devices", epilog=DEVICES_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@click.option(
    "--adb",
    "adb_addr",
    metavar="HOST:PORT",
    default=None,
    help="adb server to ask (default: ANDROID_ADB_SERVER_PORT, else 127.0.0.1:5037).",
)
def devices(as_json: bool, adb_addr: str | None) -> None:
    """List `local` and every adb device with its facts (model, SoC, clusters, battery...)."""
    from benchorch.devices import _local_info, list_devices

    explicit = adb_addr is not None or "ANDROID_ADB_SERVER_PORT" in os.environ
    try:
        infos = list_devices(adb_addr)
    except AdbServerUnreachable as exc:
        if explicit:
            raise
        click.echo(f"benchorch: note: {exc}; listing this host only", err=True)
        infos = [_local_info()]
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for head in (
        "serial",
        "state",
        "model",
        "SoC",
        "ABIs",
        "Android",
        "clusters",
        "battery",
        "hottest",
        "free",
        "root",
    ):
        table.add_column(head, overflow="fold", no_wrap=head == "serial")
    for info in infos:
        # rich markup is disabled per cell: device strings are shown as they are.
        table.add_row(*(_plain(cell) for cell in _row(info)))
    Console(soft_wrap=False).print(table)


def _plain(text: str) -> Text:
    from rich.text import Text

    return Text(text)
