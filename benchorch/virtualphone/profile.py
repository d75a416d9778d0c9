"""Phone profiles: what a virtual phone says about itself, from TOML.

A profile is loaded by name (``benchorch/virtualphone/profiles/NAME.toml``) or
from a file path. Layout::

    [props]                       # getprop, verbatim (ro.product.model, ...)
    [battery]  level, temp_c, status ("Charging"|"Discharging"|"Full"|...)
    [[clusters]] name, cpus = [..], max_khz, min_khz, cur_khz
    [[thermal]]  type, temp_c
    [storage]  free_bytes, total_bytes, device ("/dev/block/dm-48")
    rooted = false
    noexec = false                # the phone folder refuses to execute
    kernel = "5.15.123-android14-11"   # uname -r
    date_ns = true                # false: `date` knows no %N (an old toolbox
                                  # prints it as a literal N), like some phones
    features = ["fixed_push_mkdir"]    # optional: the adbd features it announces
                                  # (default: all; without "shell_v2", like
                                  # Android 6 and older, ``shell,v2`` is refused)
    [faults]                      # optional, same keys as the CLI flags

Temperatures are degrees Celsius here; the fake sysfs writes millidegrees
(``thermal_zone*/temp``) and tenths (battery ``temp``), like Android.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from benchorch.errors import UsageError

PROFILES_PACKAGE = "benchorch.virtualphone"
#: Android ABI -> the kernel's machine name (``uname -m``)
MACHINES = {"arm64-v8a": "aarch64", "armeabi-v7a": "armv8l", "x86_64": "x86_64", "x86": "i686"}


@dataclass(frozen=True)
class Cluster:
    name: str
    cpus: tuple[int, ...]
    max_khz: int
    min_khz: int
    cur_khz: int


@dataclass(frozen=True)
class ThermalZone:
    type: str
    temp_c: float


@dataclass(frozen=True)
class Profile:
    name: str
    props: dict[str, str]
    clusters: tuple[Cluster, ...]
    thermal: tuple[ThermalZone, ...]
    battery_level: int = 80
    battery_temp_c: float = 30.0
    battery_status: str = "Discharging"
    free_bytes: int = 64 * 1024**3
    total_bytes: int = 128 * 1024**3
    block_device: str = "/dev/block/dm-48"
    rooted: bool = False
    noexec: bool = False
    kernel: str = "5.15.123-android14-11"
    date_ns: bool = True  # `date +%N` gives nanoseconds
    faults: dict[str, Any] = field(default_factory=dict)
    #: adbd features in the banner; None: every one the virtual phone implements
    features: tuple[str, ...] | None = None

    @property
    def ncpus(self) -> int:
        return max((c for cl in self.clusters for c in cl.cpus), default=-1) + 1

    @property
    def abis(self) -> tuple[str, ...]:
        return tuple(a for a in self.props.get("ro.product.cpu.abilist", "").split(",") if a)

    @property
    def machine(self) -> str:
        """``uname -m`` for the primary ABI."""
        abi = self.abis[0] if self.abis else "arm64-v8a"
        return MACHINES.get(abi, abi)


def builtin_names() -> list[str]:
    folder = resources.files(PROFILES_PACKAGE) / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name, or a TOML file by path."""
    text: str
    where = str(name_or_path)
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(
                f"profile file {path}: {exc.strerror}", hint="pass a readable .toml"
            ) from exc
    else:
        res = resources.files(PROFILES_PACKAGE) / "profiles" / f"{where}.toml"
        if not res.is_file():
            raise UsageError(
                f"no virtual-phone profile named {where!r}",
                hint="use one of " + ", ".join(builtin_names()) + " or a path to a .toml file",
            )
        text = res.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"profile {where}: invalid TOML: {exc}", hint="fix the file") from exc
    try:
        return _from_dict(path.stem if path.suffix == ".toml" else where, data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"profile {where}: bad or missing key {exc}", hint="see profiles/pixel8.toml"
        ) from exc


def _from_dict(name: str, data: dict[str, Any]) -> Profile:
    props = {str(k): str(v) for k, v in data["props"].items()}
    clusters = tuple(
        Cluster(
            name=str(c["name"]),
            cpus=tuple(int(x) for x in c["cpus"]),
            max_khz=int(c["max_khz"]),
            min_khz=int(c.get("min_khz", 300000)),
            cur_khz=int(c.get("cur_khz", c["max_khz"])),
        )
        for c in data["clusters"]
    )
    if not clusters:
        raise ValueError("clusters")
    thermal = tuple(
        ThermalZone(str(z["type"]), float(z["temp_c"])) for z in data.get("thermal", [])
    )
    battery = data.get("battery", {})
    storage = data.get("storage", {})
    return Profile(
        name=str(data.get("name", name)),
        props=props,
        clusters=clusters,
        thermal=thermal,
        battery_level=int(battery.get("level", 80)),
        battery_temp_c=float(battery.get("temp_c", 30.0)),
        battery_status=str(battery.get("status", "Discharging")),
        free_bytes=int(storage.get("free_bytes", 64 * 1024**3)),
        total_bytes=int(storage.get("total_bytes", 128 * 1024**3)),
        block_device=str(storage.get("device", "/dev/block/dm-48")),
        rooted=bool(data.get("rooted", False)),
        noexec=bool(data.get("noexec", False)),
        kernel=str(data.get("kernel", "5.15.123-android14-11")),
        date_ns=bool(data.get("date_ns", True)),
        faults=dict(data.get("faults", {})),
        features=tuple(str(f) for f in data["features"]) if "features" in data else None,
    )
