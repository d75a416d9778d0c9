"""A sweep that would run nothing (issue 17): virtual phones, the real lite
speed_benchmark_torch, real exported variants."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchorch.sweep import run as sweep_run
from benchorch.sweep.inputs import variants_cache_key
from benchorch.variants.steps import DEFAULT_RECIPE
from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import DIMS, SweepEnv, common_args, run_id_of

EMU = "x86_64_emulator"
PhoneFactory = Callable[..., VirtualPhone]


def _only(small_variants: Path, dst: Path, names: tuple[str, ...]) -> Path:
    """A copy of the small variants folder whose manifest lists only ``names``."""
    dst.mkdir()
    manifest = json.loads((small_variants / "manifest.json").read_text())
    manifest["files"] = [f for f in manifest["files"] if f["name"] in names]
    for f in manifest["files"]:
        shutil.copy2(small_variants / f["path"], dst / f["path"])
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return dst


def _pushed(phone: VirtualPhone) -> list[Path]:
    return [p for p in phone.root.rglob("*") if p.is_file()]


def test_empty_plan_is_a_usage_error_before_anything_is_pushed(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    only_pt = _only(small_variants, tmp_path / "only-pt", ("baseline.pt",))
    phone = virtual_phone(profile=EMU)
    result = sweep_env.invoke(
        "--device", phone.serial, *common_args(only_pt, sweep_binaries["lite"]), "--launches", "1"
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("benchorch: error: nothing to run")
    # why (grouped by reason, naming the device and the file) and the fix
    assert "full-JIT .pt files on a lite-interpreter binary (1: baseline.pt)" in line
    assert phone.serial in line
    assert ".ptl or FlatBuffer" in line and "full-JIT binary" in line
    assert not _pushed(phone)  # nothing reached the phone
    assert not sweep_env.db.exists() or not sweep_env.rows("SELECT * FROM runs")


def test_user_recipe_without_a_lite_format_is_said_per_device_before_the_export(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    sweep_binaries: dict[str, Path],
) -> None:
    phones = [virtual_phone(profile=EMU), virtual_phone(profile=EMU)]
    binary = sweep_binaries["lite"]
    result = sweep_env.invoke(
        *[a for p in phones for a in ("--device", p.serial)],
        "--model",
        "demo:conv_bn_relu",
        "--recipe",
        "fuse,quantize",
        "--binary",
        str(binary),
        "--dims",
        DIMS,
        "--launches",
        "1",
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for phone in phones:  # each device and its binary is named
        assert f"{binary.name} (lite-interpreter build) on {phone.serial}" in lines[0]
    assert "--recipe fuse,quantize exports only full-JIT .pt" in lines[0]
    assert "add lite or flatbuffer to --recipe" in lines[0]
    assert not (sweep_env.tmp / "cache" / "variants").exists()  # no export was started
    assert not any(_pushed(p) for p in phones)


def test_default_recipe_keeps_only_the_formats_the_binaries_load(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    # The export of demo:conv_bn_relu with the default recipe, already in the
    # sweep's cache (the session's real export, three of its files), so the
    # sweep does not export again.
    key = variants_cache_key("demo:conv_bn_relu", DIMS, "float", DEFAULT_RECIPE)
    shutil.copytree(small_variants, sweep_env.tmp / "cache" / "variants" / key)
    phone = virtual_phone(profile=EMU)
    result = sweep_env.invoke(
        "--device",
        phone.serial,
        "--model",
        "demo:conv_bn_relu",
        "--binary",
        str(sweep_binaries["lite"]),
        "--dims",
        DIMS,
        "--types",
        "float",
        "--iter",
        "3",
        "--warmup",
        "1",
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--out",
        str(sweep_env.out),
    )
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    rows = sweep_env.rows("SELECT file FROM run_variants WHERE run_id = ?", (run_id,))
    files = {str(r["file"]) for r in rows}
    assert files == {"baseline.ptl", "fused.ff.ptl"}
    # no .pt file planned away on the phone (the export's own skips, such as
    # `mobile` on a torch without XNNPACK, are device "*")
    assert not sweep_env.rows(
        "SELECT * FROM skips WHERE run_id = ? AND device = ?", (run_id, phone.serial)
    )
    assert "skipped as incompatible" not in result.stderr


def test_a_device_with_nothing_to_run_says_so_beside_one_that_ran(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    only_pt = _only(small_variants, tmp_path / "only-pt", ("baseline.pt",))
    full, lite = virtual_phone(profile=EMU), virtual_phone(profile=EMU)
    # No flag gives two devices different binaries today (one --binary serves
    # all); the full-JIT phone gets the real full-JIT build, the other the real
    # lite build, chosen here in place of the sweep's own choice.
    real = sweep_run._binary_for

    def binary_for(cfg: Any, info: Any, cache: dict[str, Any]) -> Any:
        flavour = "lite" if info.serial == lite.serial else "full_jit"
        return real(dataclasses.replace(cfg, binary=sweep_binaries[flavour]), info, {})

    monkeypatch.setattr(sweep_run, "_binary_for", binary_for)
    result = sweep_env.invoke(
        "--device",
        full.serial,
        "--device",
        lite.serial,
        *common_args(only_pt, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--out",
        str(sweep_env.out),
    )
    assert result.exit_code == 3, result.output  # not every device measured: partial
    run_id = run_id_of(result.stderr)
    lines = result.stderr.splitlines()
    full_line = next(ln for ln in lines if f"  {full.serial}:" in ln)
    lite_line = next(ln for ln in lines if f"  {lite.serial}:" in ln)
    assert full_line.startswith(f"  {full.serial}: ok, 1/1 launches")
    assert "nothing to run" in lite_line and "full-JIT .pt files" in lite_line
    assert sweep_env.count(full.serial) == 1 and sweep_env.count(lite.serial) == 0
    assert not list(lite.root.rglob("speed_benchmark_torch*"))  # nothing pushed there
    note = sweep_env.rows(
        "SELECT reason FROM skips WHERE run_id = ? AND device = ? AND variant = '*'",
        (run_id, lite.serial),
    )
    assert note and "nothing to run on this device" in str(note[0]["reason"])
    html = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "nothing to run on this device" in html


def test_resume_with_nothing_left_says_so_and_succeeds(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    first = sweep_env.invoke(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--out",
        str(sweep_env.out),
    )
    assert first.exit_code == 0, first.output
    run_id = run_id_of(first.stderr)
    stored = sweep_env.count()

    again = sweep_env.invoke("--resume", run_id)
    assert again.exit_code == 0, again.output
    assert f"run {run_id}: ok" in again.stderr
    assert "nothing left to run" in again.stderr
    assert sweep_env.count() == stored
    status = sweep_env.rows("SELECT status FROM runs WHERE run_id = ?", (run_id,))[0][0]
    assert status == "ok"
