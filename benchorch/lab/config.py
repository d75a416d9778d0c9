"""lab.toml: the database, the hosts and the phones of a lab (issue 12's contract).

The path comes from ``--config``, else ``BENCHORCH_LAB``; the database URL from
``[database] url``, else ``BENCHORCH_DB``. Every mistake is one line naming the
key (``[phones.R58M] host``) and what to write instead (a ``ConfigError``, exit 2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.devices.phonestore import DEFAULT_MAX_PHONE_STORAGE, parse_size
from benchorch.errors import ConfigError
from benchorch.files import read_toml
from benchorch.store.location import mask as mask_url

__all__ = [
    "HostConfig",
    "LabConfig",
    "PhoneConfig",
    "lab_config_path",
    "load_lab_config",
    "mask_url",
    "parse_duration",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # adb serials may hold host:port
_SSH = re.compile(
    r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(:(?P<port>\d{1,5}))?$"
)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int


@dataclass(frozen=True)
class HostConfig:
    name: str
    ssh: SshTarget | None  # None: the phones are on this machine (edge mode)
    ssh_key: Path | None
    known_hosts: Path
    adb_port: int
    max_phone_storage: int | None = None  # bytes; None: the lab's (top level) bound


@dataclass(frozen=True)
class PhoneConfig:
    serial: str
    host: str
    model: str
    tags: tuple[str, ...]
    #: bytes benchorch's folder on the phone may hold: the phone's, else its host's,
    #: else lab.toml's top-level ``max_phone_storage``, else 2 GB
    max_phone_storage: int = DEFAULT_MAX_PHONE_STORAGE


@dataclass(frozen=True)
class LabConfig:
    path: Path
    database_url: str
    hosts: dict[str, HostConfig]
    phones: dict[str, PhoneConfig]
    quarantine_after: int = 3  # infrastructure failures in a row that quarantine a phone

    def phones_of(self, host: str) -> list[PhoneConfig]:
        return [p for p in self.phones.values() if p.host == host]

    def phone(self, serial: str) -> PhoneConfig:
        try:
            return self.phones[serial]
        except KeyError:
            known = ", ".join(sorted(self.phones)) or "none"
            raise ConfigError(
                f"phone {serial!r} is not in {self.path}",
                hint=f"add a [phones.{serial}] table; configured: {known}",
            ) from None


def parse_duration(text: str, *, what: str = "--ttl") -> float:
    """Seconds in ``2h``, ``90m``, ``1h30m``, ``45s``, ``1d`` (a plain number is seconds)."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = float(value)
    else:
        m = _DURATION.match(value)
        if not value or m is None:
            raise ConfigError(
                f"{what} {text!r} is not a duration", hint="write e.g. 2h, 90m, 1h30m or 45s"
            )
        d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        seconds = float(d * 86400 + h * 3600 + mi * 60 + s)
    if seconds <= 0:
        raise ConfigError(f"{what} {text!r} must be longer than zero", hint="write e.g. 2h")
    return seconds


def lab_config_path(path: Path | None) -> Path:
    if path is not None:
        return path
    env = os.environ.get("BENCHORCH_LAB")
    if env:
        return Path(env)
    raise ConfigError("no lab.toml given", hint="pass --config lab.toml or set BENCHORCH_LAB")


def _where(path: Path, table: str, key: str | None = None) -> str:
    return f"{path}: [{table}]" + (f" {key}" if key else "")


def _str(table: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    if key not in table:
        if required:
            raise ConfigError(f"{where} {key} is missing", hint=f'add {key} = "..."')
        return None
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} {key} must be a non-empty string, not {value!r}")
    return value


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where} has an unknown key {key!r}", hint=f"known: {', '.join(sorted(allowed))}"
            )


def _host(path: Path, name: str, table: Any) -> HostConfig:
    where = _where(path, f"hosts.{name}")
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: host name {name!r} is not valid", hint="use letters, digits, . _ -"
        )
    _unknown(table, {"ssh", "ssh_key", "known_hosts", "adb_port", "max_phone_storage"}, where)
    ssh_text = _str(table, "ssh", where, required=False)
    ssh = None
    if ssh_text is not None:
        m = _SSH.match(ssh_text)
        if m is None:
            raise ConfigError(
                f"{where} ssh = {ssh_text!r} is not user@host[:port]",
                hint='e.g. ssh = "benchorch@lab-a.example:22"',
            )
        port = int(m["port"] or 22)
        if not 1 <= port <= 65535:
            raise ConfigError(f"{where} ssh port {port} is out of range (1-65535)")
        ssh = SshTarget(m["user"], m["host"].strip("[]"), port)
    key_text = _str(table, "ssh_key", where, required=False)
    known_text = _str(table, "known_hosts", where, required=False) or "~/.ssh/known_hosts"
    adb_port = table.get("adb_port", 5037)
    if isinstance(adb_port, bool) or not isinstance(adb_port, int) or not 1 <= adb_port <= 65535:
        raise ConfigError(f"{where} adb_port = {adb_port!r} must be a port (1-65535)")
    return HostConfig(
        name=name,
        ssh=ssh,
        ssh_key=Path(key_text).expanduser() if key_text else None,
        known_hosts=Path(known_text).expanduser(),
        adb_port=adb_port,
        max_phone_storage=_size(table, where),
    )


def _size(table: dict[str, Any], where: str) -> int | None:
    if "max_phone_storage" not in table:
        return None
    return parse_size(table["max_phone_storage"], what=f"{where} max_phone_storage")


def _phone(
    path: Path, serial: str, table: Any, hosts: dict[str, HostConfig], default_size: int
) -> PhoneConfig:
    where = _where(path, f"phones.{serial}")
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    if not _SERIAL.match(serial):
        raise ConfigError(
            f"{where}: serial {serial!r} is not valid", hint="use letters, digits, . _ : -"
        )
    _unknown(table, {"host", "model", "tags", "max_phone_storage"}, where)
    host = _str(table, "host", where, required=True)
    assert host is not None
    if host not in hosts:
        known = ", ".join(sorted(hosts)) or "none"
        raise ConfigError(
            f"{where} host = {host!r} names no [hosts.{host}]", hint=f"configured hosts: {known}"
        )
    model = _str(table, "model", where, required=True)
    assert model is not None
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise ConfigError(f"{where} tags = {tags!r} must be a list of strings")
    size = _size(table, where) or hosts[host].max_phone_storage or default_size
    return PhoneConfig(
        serial=serial, host=host, model=model, tags=tuple(tags), max_phone_storage=size
    )


def load_lab_config(path: Path | None = None) -> LabConfig:
    """Read and check lab.toml (``path``, else ``BENCHORCH_LAB``)."""
    path = lab_config_path(path)
    data = read_toml(path, hint="pass --config lab.toml")
    _unknown(
        data, {"database", "hosts", "phones", "quarantine_after", "max_phone_storage"}, f"{path}:"
    )
    default_size = _size(data, f"{path}:") or DEFAULT_MAX_PHONE_STORAGE
    quarantine_after = data.get("quarantine_after", 3)
    if (
        isinstance(quarantine_after, bool)
        or not isinstance(quarantine_after, int)
        or quarantine_after < 1
    ):
        raise ConfigError(
            f"{path}: quarantine_after = {quarantine_after!r} must be a whole number of at least 1",
            hint="write e.g. quarantine_after = 3 (before the first [table])",
        )
    database = data.get("database", {})
    if not isinstance(database, dict):
        raise ConfigError(f"{path}: [database] must be a table")
    _unknown(database, {"url"}, _where(path, "database"))
    url = _str(database, "url", _where(path, "database"), required=False)
    url = url or os.environ.get("BENCHORCH_DB")
    if not url:
        raise ConfigError(
            f"{path}: [database] url is missing and BENCHORCH_DB is not set",
            hint='add url = "postgresql://user@host:5432/benchorch" under [database]',
        )
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"{_where(path, 'database', 'url')} = {mask_url(url)!r} is not a postgresql:// URL",
            hint="the lab's queue needs PostgreSQL",
        )
    hosts_table = data.get("hosts", {})
    phones_table = data.get("phones", {})
    if not isinstance(hosts_table, dict) or not isinstance(phones_table, dict):
        raise ConfigError(f"{path}: [hosts] and [phones] must be tables of tables")
    hosts = {name: _host(path, name, t) for name, t in hosts_table.items()}
    phones = {
        serial: _phone(path, serial, t, hosts, default_size) for serial, t in phones_table.items()
    }
    return LabConfig(
        path=path,
        database_url=url,
        hosts=hosts,
        phones=phones,
        quarantine_after=quarantine_after,
    )
