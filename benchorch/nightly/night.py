"""A night's identity and the facts recorded with it.

* ``night_date``: ``--night YYYY-MM-DD``, or today's local date;
* ``config_hash``: what is measured (every sweep setting but where reports go
  and where the adb server listens), so a night is one per date and configuration;
* ``deadline_at``: the first ``HH:MM`` at or after the night's first trigger;
* ``revisions``: the PyTorch revision the binary comes from (``git describe``
  and commit of a git checkout, else the source tree's ``version.txt``, else
  the registered binary's provenance, else the installed torch's version for
  the host runner) and benchorch's own version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch import __version__
from benchorch.errors import ConfigError
from benchorch.nightly.config import parse_clock
from benchorch.sweep.settings import SweepConfig

__all__ = ["Revisions", "config_hash", "deadline_at", "night_date", "revisions"]

#: settings that do not change what is measured
_NOT_MEASURED = {"out", "adb_server", "resume"}


def night_date(text: str | None, *, today: dt.date | None = None) -> str:
    """The night as ``YYYY-MM-DD`` (``None``: today, local time)."""
    if text is None:
        return (today or dt.date.today()).isoformat()
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ConfigError(
            f"--night {text!r}: not a date", hint="write it as YYYY-MM-DD, e.g. 2026-12-04"
        ) from None


def config_hash(cfg: SweepConfig) -> str:
    """A short digest of what the configuration measures."""
    values = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_MEASURED}
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def deadline_at(clock: str, *, after: float, what: str = "deadline") -> float:
    """Unix time of the first ``clock`` (local ``HH:MM[:SS]``) at or after ``after``."""
    h, m, s = parse_clock(clock, what=what)
    start = dt.datetime.fromtimestamp(after)
    at = start.replace(hour=h, minute=m, second=s, microsecond=0)
    if at.timestamp() < after - 1:
        at += dt.timedelta(days=1)
    return at.timestamp()


@dataclass(frozen=True)
class Revisions:
    pytorch: str  # git describe (or a version) of the PyTorch the binary was built from
    pytorch_commit: str | None
    benchorch: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pytorch": self.pytorch,
            "pytorch_commit": self.pytorch_commit,
            "benchorch": self.benchorch,
        }


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def _source_revision(root: Path) -> tuple[str, str | None]:
    commit = _git(root, "rev-parse", "HEAD") if (root / ".git").exists() else None
    if commit:
        return _git(root, "describe", "--always", "--dirty", "--tags") or commit, commit
    version = root / "version.txt"
    if version.is_file():
        return f"source {version.read_text(encoding='utf-8').strip()}", None
    return f"source tree {root} (no git, no version.txt)", None


def _binary_revision(binary: Path) -> tuple[str, str | None]:
    sidecar = binary.with_name(binary.name + ".provenance.json")
    try:
        prov = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"binary {binary.name} (no provenance)", None
    rev = prov.get("source_revision")
    ver = prov.get("pytorch_version")
    return (str(rev or ver or f"binary {binary.name}"), str(rev) if rev else None)


def _host_torch() -> tuple[str, str | None]:
    from importlib import metadata

    try:
        return f"torch {metadata.version('torch')} (host runner)", None
    except metadata.PackageNotFoundError:
        return "host runner (torch not installed)", None


def revisions(cfg: SweepConfig) -> Revisions:
    """The revisions a night records (without building or importing torch)."""
    if cfg.build_from is not None:
        rev, commit = _source_revision(Path(cfg.build_from))
    elif cfg.binary is not None:
        rev, commit = _binary_revision(Path(cfg.binary))
    else:
        rev, commit = _host_torch()
    return Revisions(pytorch=rev, pytorch_commit=commit, benchorch=__version__)
