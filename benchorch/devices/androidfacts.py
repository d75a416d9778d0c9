"""Pure parsers of what an Android phone prints about itself.

Nothing here does I/O: ``adb.AdbDevice`` runs one shell script per question
(``INFO_SCRIPT``, ``HEALTH_SCRIPT``, defined here) whose sections are separated
by marker lines, and these functions turn the text into domain records
(``device_info``, ``health``).

Units, as the kernel and the framework print them:

* ``dumpsys battery``: ``level`` out of ``scale`` (percent when scale is 100),
  ``temperature`` in tenths of a degree Celsius, ``status`` from
  ``BatteryManager`` (1 unknown, 2 charging, 3 discharging, 4 not charging,
  5 full).
* ``/sys/class/thermal/thermal_zone*/temp``: millidegrees Celsius on almost
  every kernel; a few drivers print decidegrees or degrees. We read
  ``|v| >= 1000`` as milli, ``150 <= |v| < 1000`` as deci, else degrees.
* ``cpufreq/cpuinfo_max_freq`` and ``scaling_cur_freq``: kHz.
* ``df -k``: 1024-byte blocks; old toolbox ``df`` prints human sizes
  (``Size Used Free Blksize``).

Clusters: cores grouped by their maximum frequency, fastest first. One distinct
frequency gives a single ``all`` cluster; two give ``big`` and ``little``; three
or more give ``big`` (the fastest group), ``little`` (the slowest) and ``mid``
(everything between, merged); ``cpumask.py`` turns them into ``taskset`` masks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchorch.domain import CpuCluster, DeviceInfo, Health, LoadClock

#: A section of a combined script's output starts with this line + the section name.
MARKER = "@@benchorch@@"

_SECTION_RE = re.compile(rf"^{re.escape(MARKER)}(\w+)$")
_PROP_RE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")


def section_cmd(name: str) -> str:
    """The shell snippet that opens section ``name`` (a plain identifier)."""
    assert re.fullmatch(r"\w+", name)
    return f"echo {MARKER}{name}"


def split_sections(text: str) -> dict[str, str]:
    """Split a combined script's output at marker lines; text before the first is dropped."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        m = _SECTION_RE.match(line.rstrip("\r"))
        if m:
            current = sections.setdefault(m.group(1), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


# --- getprop ---------------------------------------------------------------------


def parse_getprop(text: str) -> dict[str, str]:
    """``getprop`` lines ``[key]: [value]``; a value spanning lines is joined with ``\\n``."""
    props: dict[str, str] = {}
    pending_key: str | None = None
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if pending_key is not None:
            if line.endswith("]"):
                pending.append(line[:-1])
                props[pending_key] = "\n".join(pending)
                pending_key, pending = None, []
            else:
                pending.append(line)
            continue
        m = _PROP_RE.match(line)
        if m:
            props[m.group(1)] = m.group(2)
            continue
        start = re.match(r"^\[([^\]]+)\]: \[(.*)$", line)
        if start:
            pending_key, pending = start.group(1), [start.group(2)]
    return props


def soc_from_props(props: Mapping[str, str]) -> str | None:
    """``ro.soc.model`` (Android 12+), else ``ro.board.platform``, else ``ro.hardware``."""
    for key in ("ro.soc.model", "ro.board.platform", "ro.hardware"):
        value = props.get(key, "").strip()
        if value:
            return value
    return None


def abis_from_props(props: Mapping[str, str]) -> tuple[str, ...]:
    """``ro.product.cpu.abilist``, else the legacy ``abi`` / ``abi2`` pair."""
    listed = props.get("ro.product.cpu.abilist", "").strip()
    if listed:
        return tuple(a.strip() for a in listed.split(",") if a.strip())
    legacy = (props.get("ro.product.cpu.abi", ""), props.get("ro.product.cpu.abi2", ""))
    return tuple(a.strip() for a in legacy if a.strip())


def rooted_from_id(text: str) -> bool | None:
    """Root from ``id`` lines (adbd's own, then ``su``'s): any ``uid=0(`` means root.

    None when no ``id`` line came back at all."""
    uids = re.findall(r"\buid=(\d+)", text)
    if not uids:
        return None
    return "0" in uids


def int_or_none(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# --- battery ---------------------------------------------------------------------


@dataclass(frozen=True)
class Battery:
    level: int | None
    charging: bool | None
    temp_c: float | None


def parse_battery(text: str) -> Battery:
    """``dumpsys battery``: level in percent, charging state, temperature in °C."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    level = int_or_none(fields.get("level"))
    scale = int_or_none(fields.get("scale"))
    if level is not None and scale and scale != 100:
        level = round(100 * level / scale)
    temp = int_or_none(fields.get("temperature"))
    status = int_or_none(fields.get("status"))
    powered = [
        fields[k].lower() == "true"
        for k in ("ac powered", "usb powered", "wireless powered", "dock powered")
        if k in fields
    ]
    charging: bool | None
    if status == 2:
        charging = True
    elif status in (3, 4):
        charging = False
    elif powered:
        charging = any(powered)
    else:
        charging = None
    return Battery(level, charging, None if temp is None else temp / 10.0)


# --- thermal ---------------------------------------------------------------------


def temp_to_c(value: int) -> float:
    """Sysfs thermal value → °C (milli, deci or plain degrees; see module docstring)."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return value / 1000.0
    if magnitude >= 150:
        return value / 10.0
    return float(value)


def parse_thermal(text: str) -> dict[str, float]:
    """Lines ``ZONE<TAB>TYPE<TAB>TEMP`` → {type: °C}.

    Unreadable zones (empty or ``-`` temperature) are left out; a type seen
    twice keeps both, the second as ``type (zoneN)``.
    """
    zones: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.rstrip("\r").split("\t")
        if len(parts) != 3:
            continue
        zone, kind, raw = (p.strip() for p in parts)
        value = int_or_none(raw)
        if value is None:
            continue
        name = kind or zone
        if name in zones:
            name = f"{name} ({zone})"
        zones[name] = temp_to_c(value)
    return zones


def hottest(zones: Mapping[str, float]) -> tuple[str, float] | None:
    if not zones:
        return None
    name = max(zones, key=lambda k: zones[k])
    return name, zones[name]


# --- CPUs ------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuCore:
    cpu: int
    max_khz: int | None
    cur_khz: int | None


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """Kernel CPU list syntax (``/sys/devices/system/cpu/online``): ``0-3,6,7``."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            continue
        cpus.update(range(int(lo), int(hi if sep else lo) + 1))
    return tuple(sorted(cpus))


def parse_cpus(text: str) -> tuple[CpuCore, ...]:
    """Lines ``cpuN MAX_KHZ CUR_KHZ`` (``-`` where unreadable) → cores sorted by number."""
    cores: dict[int, CpuCore] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not re.fullmatch(r"cpu\d+", parts[0]):
            continue
        n = int(parts[0][3:])
        cores[n] = CpuCore(n, int_or_none(parts[1]), int_or_none(parts[2]))
    return tuple(cores[n] for n in sorted(cores))


def clusters_from_cores(cores: Iterable[CpuCore]) -> tuple[CpuCluster, ...]:
    """Group cores by max frequency, fastest first (see module docstring for names)."""
    by_freq: dict[int, list[int]] = {}
    unknown: list[int] = []
    for core in cores:
        if core.max_khz is None or core.max_khz <= 0:
            unknown.append(core.cpu)
        else:
            by_freq.setdefault(core.max_khz, []).append(core.cpu)
    if not by_freq:
        return (CpuCluster("all", tuple(sorted(unknown)), None),) if unknown else ()
    freqs = sorted(by_freq, reverse=True)
    if len(freqs) == 1:
        return (CpuCluster("all", tuple(sorted(by_freq[freqs[0]])), freqs[0]),)
    big = CpuCluster("big", tuple(sorted(by_freq[freqs[0]])), freqs[0])
    little = CpuCluster("little", tuple(sorted(by_freq[freqs[-1]])), freqs[-1])
    if len(freqs) == 2:
        return (big, little)
    mid_cpus = sorted(c for f in freqs[1:-1] for c in by_freq[f])
    return (big, CpuCluster("mid", tuple(mid_cpus), freqs[1]), little)


# --- storage ---------------------------------------------------------------------

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _human_bytes(token: str) -> int | None:
    m = re.fullmatch(r"([\d.]+)([KMGT]?)i?B?", token.strip(), re.IGNORECASE)
    if not m:
        return None
    return int(float(m.group(1)) * _SUFFIX[m.group(2).upper()])


def parse_df(text: str) -> int | None:
    """Free bytes from ``df -k DIR`` (toybox/GNU: ``Available`` in 1K blocks) or
    old toolbox ``df DIR`` (``Free`` as a human size). Wrapped lines are joined."""
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        header = line.split()
        col = next((header.index(h) for h in ("Available", "Avail", "Free") if h in header), None)
        if col is None:
            continue
        tokens = " ".join(lines[i + 1 :]).split()
        # "Mounted on" is two header words for one column.
        width = len(header) - (1 if "Mounted" in header and "on" in header else 0)
        if len(tokens) < width:
            return None
        value = tokens[col]
        if "1K-blocks" in header or "1k-blocks" in header:
            return int(value) * 1024 if value.isdigit() else None
        if "Blksize" in header:
            return _human_bytes(value)
        return int(value) * 1024 if value.isdigit() else _human_bytes(value)
    return None


# --- the scripts and what they give ------------------------------------------------

_S = section_cmd

#: The sysfs files are read with the shell's own ``read`` (no ``cat`` process per
#: file: a phone with 70 thermal zones and 8 cores would fork about 90 times per
#: snapshot, twice per launch); an unreadable file gives ``-``.
THERMAL_SNIPPET = (
    'for z in /sys/class/thermal/thermal_zone*; do [ -d "$z" ] || continue; y=; t=; '
    'read -r y 2>/dev/null <"$z/type"; read -r t 2>/dev/null <"$z/temp"; '
    'printf \'%s\\t%s\\t%s\\n\' "${z##*/}" "$y" "${t:--}"; done'
)
CPU_SNIPPET = (
    'for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$c" ] || continue; m=; u=; '
    'read -r m 2>/dev/null <"$c/cpufreq/cpuinfo_max_freq"; '
    'read -r u 2>/dev/null <"$c/cpufreq/scaling_cur_freq"; '
    'echo "${c##*/} ${m:--} ${u:--}"; done'
)
HEALTH_SCRIPT = "; ".join(
    [
        _S("battery"),
        "dumpsys battery 2>/dev/null",
        _S("thermal"),
        THERMAL_SNIPPET,
        _S("online"),
        "cat /sys/devices/system/cpu/online 2>/dev/null",
        _S("cpus"),
        CPU_SNIPPET,
    ]
)
INFO_SCRIPT = "; ".join(
    [
        _S("getprop"),
        "getprop",
        HEALTH_SCRIPT,
        _S("df"),
        "df -k /data/local/tmp 2>/dev/null || df /data/local/tmp 2>/dev/null",
        _S("clock"),
        "date +%s%N 2>/dev/null; cat /proc/uptime 2>/dev/null",
        _S("root"),
        "id",
        "command -v su >/dev/null 2>&1 && { timeout 5 su -c id </dev/null 2>/dev/null"
        " || timeout 5 su 0 id </dev/null 2>/dev/null; }",
        "true",
    ]
)


def load_clock(text: str) -> LoadClock | None:
    """The ``clock`` section (``date +%s%N``, then ``/proc/uptime``) → the clock to time loads.

    A ``date`` without ``%N`` prints ``N`` or ``%N`` where the nanoseconds
    belong (old toolbox); then ``/proc/uptime``'s hundredths of a second serve.
    """
    lines = text.splitlines()
    if lines and re.fullmatch(r"\d{16,}", lines[0].strip()):
        return LoadClock.DATE_NS
    if any(re.fullmatch(r"[1-9]\d*\.\d\d\s+\S+", line.strip()) for line in lines):
        return LoadClock.UPTIME
    return None


def device_info(serial: str, state: str, sections: Mapping[str, str]) -> DeviceInfo:
    """``INFO_SCRIPT``'s sections → ``DeviceInfo``."""
    props = parse_getprop(sections.get("getprop", ""))
    bat = parse_battery(sections.get("battery", ""))
    return DeviceInfo(
        serial=serial,
        state=state,
        model=props.get("ro.product.model") or None,
        manufacturer=props.get("ro.product.manufacturer") or None,
        soc=soc_from_props(props),
        abis=abis_from_props(props),
        android_release=props.get("ro.build.version.release") or None,
        sdk=int_or_none(props.get("ro.build.version.sdk")),
        fingerprint=props.get("ro.build.fingerprint") or None,
        clusters=clusters_from_cores(parse_cpus(sections.get("cpus", ""))),
        battery_level=bat.level,
        charging=bat.charging,
        battery_temp_c=bat.temp_c,
        thermal_zones=parse_thermal(sections.get("thermal", "")),
        free_bytes=parse_df(sections.get("df", "")),
        rooted=rooted_from_id(sections.get("root", "")),
        load_clock=load_clock(sections.get("clock", "")),
    )


def health(sections: Mapping[str, str], taken_at: float) -> Health:
    """``HEALTH_SCRIPT``'s sections → ``Health``."""
    bat = parse_battery(sections.get("battery", ""))
    hot = hottest(parse_thermal(sections.get("thermal", "")))
    cores = parse_cpus(sections.get("cpus", ""))
    return Health(
        taken_at=taken_at,
        battery_level=bat.level,
        battery_temp_c=bat.temp_c,
        charging=bat.charging,
        hottest_zone=hot[0] if hot else None,
        hottest_zone_c=hot[1] if hot else None,
        online_cpus=parse_cpu_list(sections.get("online", "")),
        cpu_cur_khz={c.cpu: c.cur_khz for c in cores if c.cur_khz is not None},
    )
