"""A lab phone's folder stays under lab.toml's ``max_phone_storage`` (per phone): the
worker's part evicts an old file it pushed and keeps its own; a bound too small for the
sweep's files is refused before anything is queued. The real PostgreSQL, adb server,
virtual phones, a ``benchorch lab worker`` subprocess and the real speed_benchmark_torch."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.phonestore import MANIFEST, PhoneFolder
from benchorch.virtualphone.harness import VirtualPhone
from tests.lab.sweep_support import EMU, LabSweepEnv
from tests.lab.sweep_support import labenv as labenv  # the fixture

pytestmark = pytest.mark.slow
LITE_FILES = ("baseline.ptl", "fused.ff.ptl")  # the lite binary plans the .pt file away


def test_the_workers_part_keeps_the_phones_bound_from_lab_toml(
    labenv: LabSweepEnv,
    virtual_phone: Callable[..., VirtualPhone],
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    small, roomy = (virtual_phone(profile=EMU) for _ in range(2))
    labenv.phones += [small, roomy]
    files = [sweep_binaries["lite"], *(small_variants / n for n in LITE_FILES)]
    mine = sum(f.stat().st_size for f in files)
    # an older sweep's 3 MB file on each phone, tracked as used long ago
    stale = tmp_path / "stale.ptl"
    stale.write_bytes(os.urandom(3_000_000))
    for phone in (small, roomy):
        dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", labenv.adb.port))
        PhoneFolder(dev.conn, clock=lambda: 1.0).make_room({"stale.ptl": 3_000_000}, 10**9)
        dev.push(stale, "stale.ptl")
    # the phone's own bound (the sweep's files fit, with the stale one they do not); the
    # other phone has the default 2 GB
    labenv.write_toml(phone_lines={small.serial: f"max_phone_storage = {mine + 1_000_000}\n"})
    labenv.init()
    labenv.worker()
    done = labenv.sweep_popen(
        small_variants, sweep_binaries["lite"], "--all", "--launches", "1", "--load-launches", "0"
    )
    _, err = done.communicate(timeout=240)
    assert done.returncode == 0, err
    kept = Path(small.root) / "benchorch"
    assert not (kept / "stale.ptl").exists()
    tracked = set(json.loads((kept / MANIFEST).read_text())["files"])
    assert tracked >= set(LITE_FILES) and len(tracked) == 3  # the binary, by its hash
    assert (Path(roomy.root) / "benchorch" / "stale.ptl").exists()


def test_a_lab_bound_too_small_for_the_sweep_is_refused_before_anything_is_queued(
    labenv: LabSweepEnv,
    virtual_phone: Callable[..., VirtualPhone],
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    labenv.phones.append(phone)
    labenv.write_toml(phone_lines={phone.serial: 'max_phone_storage = "10kB"\n'})
    labenv.init()
    done = labenv.sweep_popen(small_variants, sweep_binaries["lite"], "--all")
    _, err = done.communicate(timeout=120)
    assert done.returncode == 2, err
    (line,) = [ln for ln in err.splitlines() if "max_phone_storage" in ln]
    assert phone.serial in line and "max_phone_storage = 10 kB" in line and "lab.toml" in line
    try:
        parts = labenv.rows("SELECT count(*) AS n FROM benchorch_lab_parts")[0]["n"]
    except psycopg.errors.UndefinedTable:
        parts = 0
    assert parts == 0
    # --max-phone-storage is the direct sweep's: lab.toml decides a lab phone's bound
    flag = labenv.sweep_popen(
        small_variants, sweep_binaries["lite"], "--all", "--max-phone-storage", "5GB"
    )
    _, err = flag.communicate(timeout=120)
    assert flag.returncode == 2 and "--max-phone-storage does not go with --lab" in err, err
