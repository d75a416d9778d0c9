"""Sweep settings: ``SweepConfig``, ``sweep.toml`` loading, flag overrides, validation.

Pure apart from reading the TOML file. Everything is validated before anything
runs: an unknown key, a wrong type or a bad value is a ``ConfigError`` (exit 2)
that names the key, the file and the fix.

``sweep.toml`` (every key optional; flags given on the command line win)::

    # which phones: a list of serials, or all = true for every attached one
    devices = ["R58M123ABC", "127.0.0.1:5557"]
    # all = true
    # adb_server = "127.0.0.1:5037"      # HOST:PORT of the adb server to use

    # what to run: a model to export (demo:NAME, FILE.pt or module:factory) ...
    model = "demo:mobilenet_v2"
    # recipe = ["fuse", "quantize"]      # export steps (default: the exporter's recipe)
    # ... or a folder of variants already exported (with its manifest.json)
    # variants = "variants/mobilenet_v2"
    # bytecode_version = 7                # lower .ptl files for an older runtime

    # the benchmark binary: a file (with its .provenance.json), or a PyTorch tree
    binary = "android_build/arm64-v8a/speed_benchmark_torch"
    # et_binary = "et-cache/executor_runner"  # an ExecuTorch runner for the .pte variants
    # build_from = "~/src/pytorch"
    # runner = "auto"                    # --device local: auto | binary | python (the host runner)

    # the matrix; each entry of dims/types/memory_formats is ';'-joined per input.
    # Empty or absent: the variant's own (from the manifest).
    dims = ["1,3,224,224"]
    types = ["float"]                    # float | uint8_t | int64
    memory_formats = ["contiguous_format", "channels_last"]
    threads = [1, 4]                     # --pthreadpool_size
    pin = "big"                          # big | all | none | a hex CPU mask like "0xf0"

    # repetitions
    launches = 10                        # processes per configuration
    iters = 50                           # --iter per launch
    warmup = 5                           # --warmup per launch
    load_launches = 5                    # --iter=0 launches per variant (load time); 0: none
    order = "shuffle"                    # shuffle | round_robin
    seed = 0                             # for the shuffle

    # the device's state
    cooldown_temp = 45.0                 # deg C, battery and thermal zones, before each launch
    # cooldown_temp = "off"              # no cooldown gate
    cooldown_max_wait = 120.0            # s; after it the launch runs and is marked hot
    min_battery = 20                     # percent; below it the phone is not used
    timeout = 600.0                      # s per launch, then it is killed and marked
    retries = 2                          # re-runs of a launch whose phone dropped
    reconnect_timeout = 30.0             # s to wait for a dropped phone to come back
    max_phone_storage = "2GB"            # benchorch's folder on each phone; the least
                                         # recently used files it pushed go first

    include_failed_checks = false        # also run variants whose accuracy check failed
    out = "reports"                      # folder for the HTML report

    # verdicts (compare, sweep --confirm, the nightly): the change of practical
    # size, percent; default max(2%, the configuration's noise floor)
    # threshold = 5                      # or "5%"; --threshold 5%
    # per configuration (or a [thresholds] table at the end), first match wins;
    # a glob on the variant name or on "device/variant"
    # thresholds = { "*quantized*" = 8, "Pixel 8/*" = 6 }

A single value may stand for a one-element list (``dims = "1,3,224,224"``,
``threads = 4``, ``recipe = "fuse,quantize"``). Relative paths are
relative to the TOML file's folder.
``resume`` is a flag only (``--resume RUN``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from benchorch import benchflags
from benchorch.devices.cpumask import PIN_CHOICES, parse_pin
from benchorch.devices.phonestore import DEFAULT_MAX_PHONE_STORAGE, parse_size
from benchorch.errors import ConfigError
from benchorch.files import read_toml

__all__ = [
    "Order",
    "SweepConfig",
    "given",
    "load_toml",
    "merge",
    "parse_dims",
    "parse_memory_format",
    "parse_threads",
    "parse_types",
    "refuse_with_resume",
]

#: ``--runner``: what ``--device local`` times (``sweep.inputs.local_binary``)
RUNNER_CHOICES = ("auto", "binary", "python")


class Order(StrEnum):
    SHUFFLE = "shuffle"  # seeded weighted shuffle, no configuration twice in a row
    ROUND_ROBIN = "round_robin"  # fixed cycle through the configurations


@dataclass(frozen=True)
class SweepConfig:
    """Every ``benchorch sweep`` setting; defaults are what a bare sweep uses.

    ``dims``/``types``/``memory_formats`` are normalised strings (``;`` between
    inputs, ``,`` inside one): empty tuples mean "the variant's own".
    """

    devices: tuple[str, ...] = ()
    all: bool = False  # every attached device (flag --all)
    adb_server: str | None = None
    model: str | None = None
    recipe: tuple[str, ...] = ()  # export steps (empty: the exporter's default recipe)
    variants: Path | None = None
    bytecode_version: int | None = None
    binary: Path | None = None
    et_binary: Path | None = None  # an ExecuTorch runner for the .pte variants
    build_from: Path | None = None
    runner: str = "auto"  # --device local: auto | binary (speed_benchmark_torch) | python
    dims: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    memory_formats: tuple[str, ...] = ()
    threads: tuple[int, ...] = (1,)
    pin: str = "big"
    launches: int = 10
    iters: int = 50
    warmup: int = 5
    load_launches: int = 5
    order: Order = Order.SHUFFLE
    seed: int = 0
    cooldown_temp: float | Literal["off"] | None = 45.0  # CPU zones idle near 40 on many phones
    cooldown_max_wait: float = 120.0
    min_battery: int = 20
    timeout: float = 600.0
    retries: int = 2
    reconnect_timeout: float = 30.0
    max_phone_storage: int = DEFAULT_MAX_PHONE_STORAGE  # bytes (phonestore)
    include_failed_checks: bool = False
    out: Path | None = None
    resume: str | None = None
    #: percent: the change of practical size for every configuration (--threshold)
    threshold: float | None = None
    #: (glob pattern, percent), first match wins: [thresholds] (stats.thresholds)
    thresholds: tuple[tuple[str, float], ...] = ()

    @property
    def cooldown_c(self) -> float | None:
        """The cooldown gate in deg C, ``None`` when it is off."""
        return None if self.cooldown_temp in (None, "off") else float(self.cooldown_temp)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values by field name; ``merge(to_dict(), {})`` gives this config back."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Order):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


# --- value parsers (also used by the CLI for flags) -------------------------------


def _flag_value(parse: Callable[[str], Any], text: str, what: str) -> Any:
    """``parse(text)`` with a bad value raised as the ``ConfigError`` naming ``what``."""
    try:
        return parse(text)
    except benchflags.FlagValueError as exc:
        raise ConfigError(f"{what} {text!r}: {exc}", hint=exc.hint) from exc


def parse_dims(text: str, *, what: str = "--dims") -> str:
    """Validate ``1,3,224,224;1,10`` (``benchflags.parse_dims``) and return it normalised."""
    return benchflags.format_dims(_flag_value(benchflags.parse_dims, text, what))


def parse_types(text: str, *, what: str = "--types") -> str:
    """Validate ``float;int64`` (one type per input, from ``benchflags.INPUT_TYPES``)."""
    return benchflags.INPUT_SEP.join(_flag_value(benchflags.parse_types, text, what))


def parse_memory_format(text: str, *, what: str = "--memory-format") -> str:
    """Validate ``channels_last;contiguous_format`` (one per input)."""
    return benchflags.INPUT_SEP.join(_flag_value(benchflags.parse_memory_formats, text, what))


def parse_threads(text: str | int, *, what: str = "--threads") -> tuple[int, ...]:
    """``"1,4"`` (or an int) -> ``(1, 4)``: positive, duplicates dropped, order kept."""
    items = [str(text)] if isinstance(text, int) else text.replace(" ", "").split(",")
    out: list[int] = []
    for item in items:
        if not (item.isascii() and item.isdigit() and int(item) > 0):
            raise ConfigError(
                f"{what} {text!r}: {item!r} is not a positive thread count",
                hint="write counts like 1,4",
            )
        if int(item) not in out:
            out.append(int(item))
    return tuple(out)


def _parse_pin(text: str, *, what: str = "--pin") -> str:
    try:
        return parse_pin(text)
    except ValueError as exc:
        raise ConfigError(
            f"{what} {exc}", hint=f"use {', '.join(PIN_CHOICES)} or a hex CPU mask such as 0xf0"
        ) from exc


def _parse_runner(text: str, *, what: str = "--runner") -> str:
    value = text.strip().lower()
    if value not in RUNNER_CHOICES:
        raise ConfigError(
            f"{what} {text!r}: not a runner",
            hint="use auto, binary (the real speed_benchmark_torch) or python (the host runner)",
        )
    return value


def _parse_host_port(text: str, *, what: str = "--adb-server") -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} {text!r}: not HOST:PORT", hint="e.g. 127.0.0.1:5037")
    return text


# --- the schema ----------------------------------------------------------------

_Check = Callable[[Any, str], Any]


def _kind(value: Any, types: tuple[type, ...]) -> bool:
    """isinstance without bool passing for int (TOML has real booleans)."""
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _scalar(
    types: tuple[type, ...], name: str, convert: Callable[[Any, str], Any] | None = None
) -> _Check:
    def check(value: Any, what: str) -> Any:
        if not _kind(value, types):
            raise ConfigError(f"{what}: expected {name}, got {type(value).__name__} {value!r}")
        return convert(value, what) if convert else value

    return check


def _listof(item: _Check) -> _Check:
    def check(value: Any, what: str) -> Any:
        values = value if isinstance(value, list) else [value]
        return tuple(item(v, what) for v in values)

    return check


def _int_at_least(low: int, high: int | None = None) -> Callable[[Any, str], Any]:
    def convert(value: int, what: str) -> int:
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{what}: {value} is out of range", hint=f"use a number {span}")
        return value

    return convert


def _positive_float(allow_zero: bool) -> Callable[[Any, str], Any]:
    def convert(value: float, what: str) -> float:
        if value < 0 or (value == 0 and not allow_zero):
            raise ConfigError(f"{what}: {value} must be {'>= 0' if allow_zero else '> 0'}")
        return float(value)

    return convert


def _cooldown(value: Any, what: str) -> float | Literal["off"]:
    """A temperature above 0 (deg C), or ``off`` for no cooldown gate."""
    if isinstance(value, str):
        if value.strip().lower() == "off":
            return "off"
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(
                f"{what}: {value!r} is neither a temperature nor off",
                hint="give degrees Celsius such as 45, or off for no cooldown",
            ) from None
    if not _kind(value, _FLOAT):
        raise ConfigError(f'{what}: expected a number or "off", got {value!r}')
    return float(_positive_float(False)(value, what))


def _str_with(parser: Callable[..., Any]) -> _Check:
    return _scalar((str,), "a string", lambda v, what: parser(v, what=what))


def _order(value: str, what: str) -> Order:
    try:
        return Order(value)
    except ValueError:
        raise ConfigError(
            f"{what}: unknown order {value!r}", hint="use shuffle or round_robin"
        ) from None


def _threads(value: Any, what: str) -> tuple[int, ...]:
    if _kind(value, (int,)):
        return parse_threads(int(value), what=what)
    if isinstance(value, list) and all(_kind(v, (int,)) for v in value):
        return parse_threads(",".join(str(v) for v in value) or "x", what=what)
    if isinstance(value, str):
        return parse_threads(value, what=what)
    raise ConfigError(
        f"{what}: expected a list of integers, got {value!r}", hint="threads = [1, 4]"
    )


def _recipe(value: Any, what: str) -> tuple[str, ...]:
    """``"fuse,quantize"`` or ``["fuse", "quantize"]``; the exporter checks the names."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{what}: expected a list of step names, got {value!r}")
    steps = tuple(i.strip() for i in items if i.strip())
    if not steps:
        raise ConfigError(f"{what}: no recipe steps", hint='e.g. recipe = ["fuse", "quantize"]')
    return steps


_PATH = _scalar((str,), "a path", lambda v, what: Path(v).expanduser())
_FLOAT = (int, float)


def _thresholds() -> Any:
    """``benchorch.stats.thresholds``, imported only when a threshold is given: the
    statistics package loads pandas, which a sweep does not need before its first
    launch (issue 16)."""
    from benchorch.stats import thresholds

    return thresholds


#: TOML key -> (SweepConfig field, checker)
SCHEMA: dict[str, tuple[str, _Check]] = {
    "devices": ("devices", _listof(_scalar((str,), "a device serial"))),
    "all": ("all", _scalar((bool,), "true or false")),
    "adb_server": ("adb_server", _str_with(_parse_host_port)),
    "model": ("model", _scalar((str,), "a model (demo:NAME, FILE.pt or module:factory)")),
    "recipe": ("recipe", _recipe),
    "variants": ("variants", _PATH),
    "bytecode_version": ("bytecode_version", _scalar((int,), "an integer", _int_at_least(3))),
    "binary": ("binary", _PATH),
    "et_binary": ("et_binary", _PATH),
    "build_from": ("build_from", _PATH),
    "runner": ("runner", _str_with(_parse_runner)),
    "dims": ("dims", _listof(_str_with(parse_dims))),
    "types": ("types", _listof(_str_with(parse_types))),
    "memory_formats": ("memory_formats", _listof(_str_with(parse_memory_format))),
    "threads": ("threads", _threads),
    "pin": ("pin", _str_with(_parse_pin)),
    "launches": ("launches", _scalar((int,), "an integer", _int_at_least(1))),
    "iters": ("iters", _scalar((int,), "an integer", _int_at_least(1))),
    "warmup": ("warmup", _scalar((int,), "an integer", _int_at_least(0))),
    "load_launches": ("load_launches", _scalar((int,), "an integer", _int_at_least(0))),
    "order": ("order", _scalar((str,), "a string", _order)),
    "seed": ("seed", _scalar((int,), "an integer")),
    "cooldown_temp": ("cooldown_temp", _cooldown),
    "cooldown_max_wait": ("cooldown_max_wait", _scalar(_FLOAT, "a number", _positive_float(True))),
    "min_battery": ("min_battery", _scalar((int,), "an integer", _int_at_least(0, 100))),
    "timeout": ("timeout", _scalar(_FLOAT, "a number", _positive_float(False))),
    "retries": ("retries", _scalar((int,), "an integer", _int_at_least(0))),
    "reconnect_timeout": ("reconnect_timeout", _scalar(_FLOAT, "a number", _positive_float(True))),
    "max_phone_storage": ("max_phone_storage", lambda v, what: parse_size(v, what=what)),
    "include_failed_checks": ("include_failed_checks", _scalar((bool,), "true or false")),
    "out": ("out", _PATH),
    "threshold": ("threshold", lambda v, what: _thresholds().parse_percent(v, what=what)),
    "thresholds": ("thresholds", lambda v, what: _thresholds().parse_thresholds(v, what=what)),
}
FLAG_ONLY = {"resume"}
_PATH_FIELDS = {"variants", "binary", "et_binary", "build_from", "out"}


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read and fully validate ``sweep.toml``; return ``{SweepConfig field: value}``.

    Values are normalised (tuples, ``Order``, ``Path`` resolved against the
    file's folder). Raises ``ConfigError`` naming the file and the key.
    """
    path = Path(path)
    raw = read_toml(path)
    values = validate(raw, source=str(path))
    for name in _PATH_FIELDS & values.keys():
        if not values[name].is_absolute():
            values[name] = (path.parent / values[name]).resolve()
    return values


def validate(raw: Mapping[str, Any], *, source: str = "sweep.toml") -> dict[str, Any]:
    """Check every key of a parsed TOML table; return ``{field: value}``."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in FLAG_ONLY:
            raise ConfigError(
                f"{source}: key {key!r} is a command-line flag only",
                hint=f"pass --{key.replace('_', '-')} instead",
            )
        if key not in SCHEMA:
            close = difflib.get_close_matches(key.replace("-", "_"), list(SCHEMA), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(SCHEMA)}"
            raise ConfigError(f"{source}: unknown key {key!r}", hint=hint)
        name, check = SCHEMA[key]
        values[name] = check(value, f"{source}: key {key!r}")
    return values


def merge(
    file_values: Mapping[str, Any],
    flag_values: Mapping[str, Any],
    *,
    flag_names: Mapping[str, str] | None = None,
) -> SweepConfig:
    """``SweepConfig`` from defaults <- file values <- flags, then cross-checked.

    Both mappings use ``SweepConfig`` field names. ``flag_names`` says how the
    caller spells a field in messages (``{"iters": "--iter"}``; default
    ``--field-name``). A value of ``None`` or an empty tuple/list means "not given"
    and leaves the file's value. Values may be raw (``threads="1,4"``,
    ``recipe="fuse,quantize"``, ``dims=("1,3, 8,8",)``, paths as ``str``):
    every one goes through the same checker as its TOML key, and
    ``merge(config.to_dict(), {})`` round-trips. Raises ``ConfigError`` for
    unknown names and for contradictions
    (``--model`` with ``--variants``, ``--binary`` with ``--build-from``,
    ``--device`` with ``--all``, no device at all, a dims/types pair whose input
    counts differ).
    """
    known = {f.name for f in fields(SweepConfig)}
    chosen: dict[str, Any] = {}
    for source, mapping in (("config", file_values), ("flags", flag_values)):
        for name, value in mapping.items():
            if name not in known:
                raise ConfigError(f"{source}: unknown setting {name!r}")
            if value is None or (isinstance(value, tuple | list) and not value):
                continue
            chosen[name] = tuple(value) if isinstance(value, list) else value
    config = _normalise(SweepConfig(**chosen), flag_names or {})
    _cross_check(config)
    return config


def _normalise(config: SweepConfig, flag_names: Mapping[str, str]) -> SweepConfig:
    """Run every set value through its TOML checker (flags get the same rules)."""
    default = SweepConfig()
    changes: dict[str, Any] = {}
    for name, check in SCHEMA.values():
        value = getattr(config, name)
        if value is None or value == getattr(default, name):
            continue
        plain: Any = value
        if isinstance(value, Path):
            plain = str(value)
        elif isinstance(value, tuple):
            plain = list(value)
        elif isinstance(value, Order):
            plain = value.value
        changes[name] = check(plain, flag_names.get(name, f"--{name.replace('_', '-')}"))
    if config.resume is not None and not isinstance(config.resume, str):
        raise ConfigError(f"--resume: expected a run id, got {config.resume!r}")
    return replace(config, **changes)


def given(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The flags actually given: ``None`` and empty tuples/lists mean "not given"."""
    return {k: v for k, v in flags.items() if v is not None and v not in ((), [])}


#: what ``--resume`` still takes from the command line: where the adb server
#: is and how much a phone may hold may change between sessions; what is
#: measured may not.
RESUME_FLAGS = frozenset({"adb_server", "max_phone_storage"})


def refuse_with_resume(
    flags: Mapping[str, Any], flag_names: Mapping[str, str], config_file: Path | None
) -> None:
    """``--resume RUN`` runs RUN's stored settings: any other setting given is a
    ``ConfigError`` naming the flags (it would otherwise be dropped silently)."""
    names = [
        flag_names.get(name, f"--{name.replace('_', '-')}")
        for name in given(flags)
        if name not in RESUME_FLAGS
    ]
    if config_file is not None:
        names.insert(0, "--config")
    if names:
        raise ConfigError(
            f"--resume finishes a run with the settings stored with it; {', '.join(names)}"
            " cannot change them",
            hint="drop them, or start a new sweep without --resume",
        )


def _cross_check(config: SweepConfig) -> None:
    if config.model is not None and config.variants is not None:
        raise ConfigError(
            "both a model and a variants folder were given", hint="pass --model or --variants"
        )
    if config.binary is not None and config.build_from is not None:
        raise ConfigError(
            "both a binary and a PyTorch tree to build were given",
            hint="pass --binary or --build-from",
        )
    if config.devices and config.all:
        raise ConfigError("both --device and --all were given", hint="pass one of them")
    if not config.devices and not config.all:
        raise ConfigError("no device given", hint="pass --device SERIAL (or local), or --all")
    for dims in config.dims:
        for types in config.types:
            n_dims, n_types = benchflags.input_count(dims), benchflags.input_count(types)
            if n_dims != n_types:
                raise ConfigError(
                    f"--dims {dims!r} has {n_dims} input(s) but --types {types!r} has {n_types}",
                    hint="give one type per input, ';'-separated",
                )
