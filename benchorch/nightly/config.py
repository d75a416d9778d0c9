"""``nightly.toml``: every ``sweep.toml`` key, plus a ``[nightly]`` table.

::

    devices = ["R58M123ABC", "127.0.0.1:5557"]   # or all = true
    build_from = "~/src/pytorch"                   # or binary = "..."
    model = "demo:mobilenet_v2"
    launches = 10

    [nightly]
    deadline = "06:00"           # local time; launches not started by then are not run
    min_coverage = 1.0           # share of configured phones and planned launches that must run
    window = 7                   # nights in the rolling baseline (nightly report)
    confirm = true               # re-run suspects A/B before calling them regressions
    confirm_budget = 14          # its extra launches, % of the night's (sweep --confirm-budget)
    webhook = "https://hooks.example/..."   # or BENCHORCH_WEBHOOK
    github_issue_file = "regression.md"

``lab = "lab.toml"`` is reserved for the lab (not supported yet: exit 2).
Pure apart from reading the file; every error is a ``ConfigError`` naming the
file, the key and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.errors import ConfigError
from benchorch.files import read_toml
from benchorch.sweep.settings import validate

__all__ = ["NightlyConfig", "NightlySettings", "load_nightly", "parse_clock"]


@dataclass(frozen=True)
class NightlySettings:
    """The ``[nightly]`` table."""

    deadline: str | None = None  # HH:MM or HH:MM:SS, local time
    min_coverage: float = 1.0
    window: int = 7
    confirm: bool = True
    confirm_budget: float = 14.0  # % of the night's launches the confirm step may add
    webhook: str | None = None
    github_issue_file: Path | None = None


@dataclass(frozen=True)
class NightlyConfig:
    """A loaded ``nightly.toml``: the sweep's values (by ``SweepConfig`` field)
    and the ``[nightly]`` settings."""

    path: Path
    sweep_values: Mapping[str, Any]
    nightly: NightlySettings


def parse_clock(text: str, *, what: str) -> tuple[int, int, int]:
    """``"06:00"`` or ``"06:00:30"`` -> (hour, minute, second)."""
    parts = text.strip().split(":")
    ok = len(parts) in (2, 3) and all(p.isascii() and p.isdigit() for p in parts)
    if ok:
        h, m, s = (int(p) for p in [*parts, "0"][:3])
        if h < 24 and m < 60 and s < 60:
            return h, m, s
    raise ConfigError(
        f"{what} {text!r}: not a time of day", hint="write it as HH:MM (local time), e.g. 06:00"
    )


_NIGHTLY_KEYS = {
    "deadline",
    "min_coverage",
    "window",
    "confirm",
    "confirm_budget",
    "webhook",
    "github_issue_file",
}


def _nightly_table(raw: Any, path: Path) -> NightlySettings:
    where = f"{path}: [nightly]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table", hint="write [nightly] on its own line")
    unknown = sorted(set(raw) - _NIGHTLY_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}",
            hint=f"known keys: {', '.join(sorted(_NIGHTLY_KEYS))}",
        )
    values: dict[str, Any] = {}
    if "deadline" in raw:
        if not isinstance(raw["deadline"], str):
            raise ConfigError(f"{where} key 'deadline': expected \"HH:MM\"")
        parse_clock(raw["deadline"], what=f"{where} key 'deadline'")
        values["deadline"] = raw["deadline"].strip()
    if "min_coverage" in raw:
        cov = raw["min_coverage"]
        if isinstance(cov, bool) or not isinstance(cov, int | float) or not 0 <= cov <= 1:
            raise ConfigError(
                f"{where} key 'min_coverage': {cov!r} is not a share between 0 and 1",
                hint="e.g. min_coverage = 0.9",
            )
        values["min_coverage"] = float(cov)
    if "window" in raw:
        win = raw["window"]
        if isinstance(win, bool) or not isinstance(win, int) or win < 1:
            raise ConfigError(f"{where} key 'window': {win!r} is not a number of nights >= 1")
        values["window"] = win
    if "confirm" in raw:
        if not isinstance(raw["confirm"], bool):
            raise ConfigError(f"{where} key 'confirm': expected true or false")
        values["confirm"] = raw["confirm"]
    if "confirm_budget" in raw:
        budget = raw["confirm_budget"]
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0:
            raise ConfigError(
                f"{where} key 'confirm_budget': {budget!r} is not a percentage above 0",
                hint="e.g. confirm_budget = 14 (% of the night's launches)",
            )
        values["confirm_budget"] = float(budget)
    if "webhook" in raw:
        hook = raw["webhook"]
        if not isinstance(hook, str) or not hook.startswith(("http://", "https://")):
            raise ConfigError(f"{where} key 'webhook': {hook!r} is not an http(s) URL")
        values["webhook"] = hook
    if "github_issue_file" in raw:
        if not isinstance(raw["github_issue_file"], str):
            raise ConfigError(f"{where} key 'github_issue_file': expected a path")
        issue = Path(raw["github_issue_file"]).expanduser()
        values["github_issue_file"] = issue if issue.is_absolute() else path.parent / issue
    return NightlySettings(**values)


def load_nightly(path: Path) -> NightlyConfig:
    """Read and validate ``nightly.toml`` fully (before anything runs)."""
    raw = read_toml(path)
    if "lab" in raw:
        raise ConfigError(
            f"{path}: key 'lab': the lab is not supported yet",
            hint="remove lab = ... and list this host's phones in devices (or all = true)",
        )
    nightly = _nightly_table(raw.pop("nightly", {}), path)
    values = validate(raw, source=str(path))
    if "resume" in values:  # pragma: no cover - validate refuses it already
        raise ConfigError(f"{path}: key 'resume' is not a nightly setting")
    for name in ("variants", "binary", "build_from", "out"):
        if name in values and not values[name].is_absolute():
            values[name] = (path.parent / values[name]).resolve()
    return NightlyConfig(path=path, sweep_values=values, nightly=nightly)
