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
    confirm_wait = "2h"          # with a lab: how long an A/B re-run may wait for its busy phone
    webhook = "https://hooks.example/..."   # or BENCHORCH_WEBHOOK
    github_issue_file = "regression.md"

With a lab, ``lab = "lab.toml"`` (a path relative to this file) sends the
night through the lab's queue, and ``devices`` holds lab selectors, resolved
against that lab.toml (``lab_selection``): a serial of lab.toml, a lab model
(``"pixel_7"`` or ``"model:pixel_7"``), a tag (``"rooted"`` or ``"tag:rooted"``),
or ``"all"`` (``all = true`` too); ``[nightly] phones_per_model = 1`` keeps one
phone of each model among them (a good one, on a host that is up: ``labnight``).

Pure apart from reading the files; every error is a ``ConfigError`` naming the
file, the key and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch.errors import ConfigError
from benchorch.files import read_toml
from benchorch.lab.config import parse_duration
from benchorch.sweep.settings import validate

if TYPE_CHECKING:
    from benchorch.lab.submit import Selection
    from benchorch.store.location import DbLocation

__all__ = [
    "NightlyConfig",
    "NightlySettings",
    "lab_selection",
    "load_nightly",
    "night_db",
    "parse_clock",
]


@dataclass(frozen=True)
class NightlySettings:
    """The ``[nightly]`` table."""

    deadline: str | None = None  # HH:MM or HH:MM:SS, local time
    min_coverage: float = 1.0
    window: int = 7
    confirm: bool = True
    confirm_budget: float = 14.0  # % of the night's launches the confirm step may add
    confirm_wait: float = 7200.0  # s an A/B re-run through the lab may wait to start
    webhook: str | None = None
    github_issue_file: Path | None = None
    phones_per_model: int | None = None  # with a lab: at most this many phones of each model


@dataclass(frozen=True)
class NightlyConfig:
    """A loaded ``nightly.toml``: the sweep's values (by ``SweepConfig`` field),
    the ``[nightly]`` settings, and the lab (its lab.toml and the phones the
    night's ``devices`` select there) when one is configured."""

    path: Path
    sweep_values: Mapping[str, Any]
    nightly: NightlySettings
    lab: Path | None = None
    selection: Selection | None = None


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
    "confirm_wait",
    "webhook",
    "github_issue_file",
    "phones_per_model",
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
    if "confirm_wait" in raw:
        wait = raw["confirm_wait"]
        if not isinstance(wait, str):
            raise ConfigError(
                f"{where} key 'confirm_wait': {wait!r} is not a duration", hint='e.g. "2h"'
            )
        values["confirm_wait"] = parse_duration(wait, what=f"{where} key 'confirm_wait'")
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
    if "phones_per_model" in raw:
        per = raw["phones_per_model"]
        if isinstance(per, bool) or not isinstance(per, int) or per < 1:
            raise ConfigError(
                f"{where} key 'phones_per_model': {per!r} is not a number of phones >= 1",
                hint="e.g. phones_per_model = 1 (one phone of each lab model)",
            )
        values["phones_per_model"] = per
    return NightlySettings(**values)


def lab_selection(lab_path: Path, devices: Sequence[str], all_: bool, source: str) -> Selection:
    """``devices`` (and ``all``) of a nightly.toml as a selection of lab.toml's phones.

    Each entry is ``all``, ``model:NAME``, ``tag:NAME``, a serial of lab.toml, or a
    bare model or tag name (one that is both is refused: write ``model:`` or
    ``tag:``). Every name must select a phone: a typo is an error now, not an empty
    night later."""
    from benchorch.lab.config import load_lab_config
    from benchorch.lab.submit import Selection

    lab = load_lab_config(lab_path)
    models = {p.model for p in lab.phones.values()}
    tags = {t for p in lab.phones.values() for t in p.tags}
    serials: list[str] = []
    by_model: list[str] = []
    by_tag: list[str] = []
    everything = all_
    for entry in devices:
        kind, sep, name = entry.partition(":")
        if entry == "all":
            everything = True
        elif entry in lab.phones:
            serials.append(entry)
        elif sep and kind == "model" and name in models:
            by_model.append(name)
        elif sep and kind == "tag" and name in tags:
            by_tag.append(name)
        elif entry in models and entry in tags:
            raise ConfigError(
                f"{source}: devices entry {entry!r} is both a model and a tag in {lab.path}",
                hint=f'write "model:{entry}" or "tag:{entry}"',
            )
        elif entry in models:
            by_model.append(entry)
        elif entry in tags:
            by_tag.append(entry)
        else:
            raise ConfigError(
                f"{source}: devices entry {entry!r} names no phone, model or tag of {lab.path}",
                hint=f"models there: {', '.join(sorted(models)) or 'none'}; tags: "
                f'{", ".join(sorted(tags)) or "none"}; or a [phones.SERIAL] of it, or "all"',
            )
    return Selection(tuple(serials), tuple(by_model), tuple(by_tag), everything)


#: sweep keys a lab night does not take: the lab's hosts serve its phones
_NOT_WITH_LAB = {
    "adb_server": "the lab's hosts serve its phones: drop adb_server",
    "build_from": "a lab night needs binary = PATH (build it with `benchorch build`)",
    "max_phone_storage": "a lab phone's storage bound is its lab.toml's max_phone_storage",
}


def _lab_path(raw: Any, path: Path) -> Path:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{path}: key 'lab': expected a path to lab.toml, got {raw!r}")
    lab = Path(raw).expanduser()
    lab = lab if lab.is_absolute() else (path.parent / lab).resolve()
    if not lab.is_file():
        raise ConfigError(
            f"{path}: key 'lab': {raw!r} is not a file ({lab})",
            hint="write the lab.toml's path, relative to this nightly.toml",
        )
    return lab


def load_nightly(path: Path) -> NightlyConfig:
    """Read and validate ``nightly.toml`` fully (before anything runs)."""
    raw = read_toml(path)
    lab = _lab_path(raw.pop("lab"), path) if "lab" in raw else None
    nightly = _nightly_table(raw.pop("nightly", {}), path)
    if lab is None and nightly.phones_per_model is not None:
        raise ConfigError(
            f"{path}: [nightly] key 'phones_per_model' needs a lab",
            hint='add lab = "lab.toml", or drop phones_per_model',
        )
    if lab is not None:
        for key, hint in _NOT_WITH_LAB.items():
            if key in raw:
                raise ConfigError(f"{path}: key {key!r} does not go with lab", hint=hint)
    values = validate(raw, source=str(path))
    if "resume" in values:  # pragma: no cover - validate refuses it already
        raise ConfigError(f"{path}: key 'resume' is not a nightly setting")
    for name in ("variants", "binary", "build_from", "out"):
        if name in values and not values[name].is_absolute():
            values[name] = (path.parent / values[name]).resolve()
    selection = None
    if lab is not None:
        if "binary" not in values:
            raise ConfigError(
                f"{path}: a lab night needs key 'binary'", hint=_NOT_WITH_LAB["build_from"]
            )
        selection = lab_selection(
            lab, values.get("devices", ()), bool(values.get("all")), str(path)
        )
    return NightlyConfig(
        path=path, sweep_values=values, nightly=nightly, lab=lab, selection=selection
    )


def night_db(db: Path | DbLocation, ncfg: NightlyConfig) -> Path | DbLocation:
    """The store of ``ncfg``'s nights: with a lab, the lab's database (its sweeps
    store every launch there, so the night's claim and account live beside them)."""
    if ncfg.lab is None:
        return db
    from benchorch.lab.config import load_lab_config
    from benchorch.store.location import parse_db

    return parse_db(load_lab_config(ncfg.lab).database_url)
