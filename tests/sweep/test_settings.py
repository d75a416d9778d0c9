"""benchorch.sweep.settings: sweep.toml validation, flag overrides, value parsers (real files)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchorch.errors import ConfigError
from benchorch.exits import ExitCode, exit_code
from benchorch.sweep import settings as cfg
from benchorch.sweep.settings import (
    SCHEMA,
    Order,
    SweepConfig,
    load_toml,
    merge,
    parse_dims,
    parse_memory_format,
    parse_threads,
    parse_types,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(textwrap.dedent(text))
    return path


def docstring_example() -> str:
    doc = cfg.__doc__ or ""
    block = doc.split("::", 1)[1].split("\nA single value", 1)[0]
    return textwrap.dedent(block)


def test_docstring_example_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    example = docstring_example()
    documented = set(re.findall(r"^#? ?(\w+) = ", example, flags=re.M))
    assert documented == set(SCHEMA)
    values = load_toml(write(tmp_path, example))
    config = merge(values, {})
    assert config.devices == ("R58M123ABC", "127.0.0.1:5557")
    assert config.memory_formats == ("contiguous_format", "channels_last")
    assert config.threads == (1, 4)
    assert config.order is Order.SHUFFLE
    assert config.binary == (tmp_path / "android_build/arm64-v8a/speed_benchmark_torch").resolve()


def test_unknown_key_names_key_file_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, 'devices = ["a"]\nlaunchs = 3\n')
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    text = str(info.value)
    assert "'launchs'" in text and str(path) in text and "'launches'" in text
    assert "\n" not in text
    assert exit_code(info.value) is ExitCode.USAGE


@pytest.mark.parametrize("key", sorted(SCHEMA))
def test_wrong_type_names_the_key(tmp_path: Path, key: str) -> None:
    # a table is the wrong type for every key but thresholds, which a number is
    body = "x = 1" if key != "thresholds" else ""
    path = write(tmp_path, f"[{key}]\n{body}\n" if body else f"{key} = 1\n")
    with pytest.raises(ConfigError, match=re.escape(f"key '{key}'")):
        load_toml(path)


@pytest.mark.parametrize(
    ("line", "piece"),
    [
        ("launches = true", "expected an integer"),
        ("launches = 0", "out of range"),
        ("iters = 2.5", "expected an integer"),
        ("min_battery = 101", "between 0 and 100"),
        ('order = "random"', "shuffle or round_robin"),
        ('dims = ["1,3,x"]', "'x'"),
        ('types = "double"', "'double'"),
        ('memory_formats = ["channels_first"]', "'channels_first'"),
        ("threads = [1, 0]", "'0'"),
        ('threads = ["1"]', "list of integers"),
        ('pin = "bigger"', "hex CPU mask"),
        ('adb_server = "localhost"', "HOST:PORT"),
        ("timeout = -1", "> 0"),
        ('resume = "abc"', "--resume"),
        ("all = 1", "true or false"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, line: str, piece: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_toml(write(tmp_path, line + "\n"))
    assert piece in str(info.value)
    assert "\n" not in str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(write(tmp_path, "launches = = 3\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_toml(tmp_path / "absent.toml")


def test_single_values_stand_for_lists(tmp_path: Path) -> None:
    values = load_toml(write(tmp_path, 'dims = "1, 3,224,224; 1,10"\nthreads = 4\ndevices = "x"\n'))
    assert values["dims"] == ("1,3,224,224;1,10",)
    assert values["threads"] == (4,)
    assert values["devices"] == ("x",)


def test_flags_override_the_file_and_none_does_not(tmp_path: Path) -> None:
    values = load_toml(
        write(tmp_path, 'devices = ["a"]\nlaunches = 3\niters = 7\nvariants = "v"\n')
    )
    config = merge(values, {"launches": 12, "iters": None, "dims": (), "seed": 9})
    assert config.launches == 12
    assert config.iters == 7
    assert config.seed == 9
    assert config.variants == tmp_path / "v"
    assert config.warmup == SweepConfig().warmup


def test_flag_values_get_the_same_checks() -> None:
    with pytest.raises(ConfigError, match="--launches"):
        merge({}, {"devices": ("a",), "launches": 0})
    with pytest.raises(ConfigError, match="'x'"):
        merge({}, {"devices": ("a",), "dims": ("1,3,x",)})
    with pytest.raises(ConfigError, match="unknown setting"):
        merge({}, {"devices": ("a",), "lanches": 3})
    config = merge({}, {"devices": ("a",), "dims": ["1, 3"], "order": "round_robin"})
    assert config.dims == ("1,3",) and config.order is Order.ROUND_ROBIN


@pytest.mark.parametrize(
    ("flags", "piece"),
    [
        ({"devices": ("a",), "model": "demo:x", "variants": Path("v")}, "--model or --variants"),
        ({"devices": ("a",), "binary": Path("b"), "build_from": Path("t")}, "--build-from"),
        ({"devices": ("a",), "all": True}, "--all"),
        ({}, "no device"),
        ({"devices": ("a",), "dims": ("1,3;1,4",), "types": ("float",)}, "one type per input"),
    ],
)
def test_contradictions(flags: dict[str, object], piece: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(piece)):
        merge({}, flags)


def test_parse_dims_names_the_bad_part() -> None:
    assert parse_dims(" 1,3,224,224 ;1,10") == "1,3,224,224;1,10"
    for bad, part in [("1,3,x", "'x'"), ("1,,3", "''"), ("1,3;", "empty"), ("1,-3", "'-3'")]:
        with pytest.raises(ConfigError, match=re.escape(part)):
            parse_dims(bad)


@given(st.lists(st.lists(st.integers(1, 4096), min_size=1, max_size=5), min_size=1, max_size=4))
def test_parse_dims_round_trips(shapes: list[list[int]]) -> None:
    text = ";".join(",".join(str(n) for n in shape) for shape in shapes)
    assert parse_dims(text) == text


def test_parse_types_memory_formats_and_threads() -> None:
    assert parse_types("float; int64") == "float;int64"
    with pytest.raises(ConfigError, match="float, uint8_t, int64"):
        parse_types("float;half")
    assert parse_memory_format("channels_last;contiguous_format").count(";") == 1
    with pytest.raises(ConfigError):
        parse_memory_format("nhwc")
    assert parse_threads("4,1,4") == (4, 1)
    assert parse_threads(2) == (2,)
    for bad in ("0", "a", "1,,2", ""):
        with pytest.raises(ConfigError):
            parse_threads(bad)


def test_click_style_flags_as_the_sweep_command_passes_them(tmp_path: Path) -> None:
    flags = {
        "devices": ("local",),
        "all": None,
        "variants": tmp_path / "v",
        "out": tmp_path / "r",
        "recipe": "fuse, quantize",
        "threads": "1,4",
        "dims": ("1,3, 8,8",),
        "memory_formats": (),
        "iters": 7,
        "launches": None,
    }
    config = merge({}, flags)
    assert config.variants == tmp_path / "v" and config.out == tmp_path / "r"
    assert config.recipe == ("fuse", "quantize")
    assert config.threads == (1, 4)
    assert config.dims == ("1,3,8,8",)
    assert config.iters == 7 and config.launches == SweepConfig().launches
    assert not config.all
    with pytest.raises(ConfigError, match="--iters"):
        merge({}, {"devices": ("local",), "iters": 0})
    with pytest.raises(ConfigError, match="--iter: "):
        merge({}, {"devices": ("local",), "iters": 0}, flag_names={"iters": "--iter"})


def test_the_sweep_command_names_its_options_after_the_settings() -> None:
    """No mapping table: every sweep option sets the SweepConfig field it is named for,
    but the output switches, the confirm step's own options (its baseline, budget
    and varied field, which belong to that step and are not stored as settings) and
    the lab's (which lab, and which of its phones: they become ``devices``)."""
    from dataclasses import fields

    from benchorch.cli.sweep_cmd import sweep

    names = {p.name for p in sweep.params}
    not_settings = {
        "config_file",
        "quiet",
        "as_json",
        "confirm",
        "baseline",
        "confirm_budget",
        "baseline_window",
        "vary",
        "lab",
        "lab_priority",
        "phone_models",
        "tags",
    }
    assert names - {f.name for f in fields(SweepConfig)} == not_settings
    assert not hasattr(cfg, "ALIASES") and not hasattr(cfg, "FLAG_NAMES")


def test_to_dict_round_trips_through_json(tmp_path: Path) -> None:
    import json

    values = load_toml(write(tmp_path, docstring_example()))
    config = merge(values, {"seed": 5, "resume": "run-1", "all": None})
    stored = json.loads(json.dumps(config.to_dict()))
    assert merge(stored, {}) == config


def test_resume_refuses_settings_but_not_the_adb_address() -> None:
    cfg.refuse_with_resume({"adb_server": "127.0.0.1:5037", "dims": (), "seed": None}, {}, None)
    with pytest.raises(ConfigError, match=re.escape("--seed, --memory-format")) as info:
        cfg.refuse_with_resume(
            {"seed": 3, "memory_formats": ("channels_last",)},
            {"memory_formats": "--memory-format"},
            None,
        )
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="--config"):
        cfg.refuse_with_resume({}, {}, Path("sweep.toml"))


def test_thresholds_load_from_the_toml_round_trip_and_name_a_bad_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        devices = ["a"]
        threshold = "5%"

        [thresholds]
        "*quantized*" = 8
        "Pixel 8/*" = "6%"
        """,
    )
    config = merge(load_toml(path), {})
    assert config.threshold == 5.0
    assert config.thresholds == (("*quantized*", 8.0), ("Pixel 8/*", 6.0))
    assert merge(config.to_dict(), {}) == config  # as stored with a run
    assert merge(load_toml(path), {"threshold": "3"}).threshold == 3.0  # the flag wins
    bad = write(tmp_path, 'devices = ["a"]\n[thresholds]\n"fused" = "lots"\n')
    with pytest.raises(ConfigError, match=r"key 'thresholds'.*'fused'"):
        load_toml(bad)
