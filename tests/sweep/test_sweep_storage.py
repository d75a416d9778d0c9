"""A direct sweep keeps benchorch's folder on the phone under --max-phone-storage.

Real parts: the Debian adb server, a virtual phone (x86_64 emulator profile), the
real host-built speed_benchmark_torch, ``benchorch sweep`` itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.phonestore import MANIFEST, PhoneFolder
from tests.support.adb_fixtures import VirtualPhone
from tests.sweep.conftest import SweepEnv, common_args

PhoneFactory = Callable[..., VirtualPhone]


def _sweep(env: SweepEnv, phone: VirtualPhone, variants: Path, binary: Path, *extra: str) -> Any:
    args = ("--device", phone.serial, *common_args(variants, binary))
    return env.invoke(*args, "--launches", "1", "--load-launches", "0", *extra)


def test_an_old_file_is_evicted_and_the_sweeps_own_are_kept(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    folder = Path(phone.root) / "benchorch"
    first = _sweep(sweep_env, phone, small_variants, sweep_binaries["lite"])
    assert first.exit_code == 0, first.output
    mine = set(json.loads((folder / MANIFEST).read_text())["files"])
    assert any(n.startswith("speed_benchmark_torch-") for n in mine) and len(mine) >= 2
    mine_bytes = sum((folder / n).stat().st_size for n in mine)

    # an older sweep's 3 MB file, tracked as used long ago
    dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", sweep_env.adb.port))
    stale = tmp_path / "stale.ptl"
    stale.write_bytes(os.urandom(3_000_000))
    PhoneFolder(dev.conn, clock=lambda: 1.0).make_room({"stale.ptl": 3_000_000}, 10**9)
    dev.push(stale, "stale.ptl")
    assert (folder / "stale.ptl").exists()

    bound = mine_bytes + 1_000_000  # the sweep's files fit; they and the stale one do not
    again = _sweep(
        sweep_env, phone, small_variants, sweep_binaries["lite"], "--max-phone-storage", str(bound)
    )
    assert again.exit_code == 0, again.output
    assert not (folder / "stale.ptl").exists()
    assert all((folder / n).exists() for n in mine)
    assert set(json.loads((folder / MANIFEST).read_text())["files"]) == mine


@pytest.mark.parametrize(
    ("size", "said"),
    [
        ("10kB", "max_phone_storage = 10 kB (raise it to at least"),  # the sweep needs more
        ("2 gigs", "--max-phone-storage = '2 gigs' is not a size"),
    ],
)
def test_a_bound_too_small_or_unreadable_is_a_usage_error_before_any_push(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    size: str,
    said: str,
) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    result = _sweep(
        sweep_env, phone, small_variants, sweep_binaries["lite"], "--max-phone-storage", size
    )
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if "max_phone_storage" in ln or size in ln]
    assert len(errors) == 1, result.stderr
    assert said in errors[0]
    assert "--max-phone-storage" in errors[0]
    folder = Path(phone.root) / "benchorch"
    assert not folder.exists() or not any(folder.iterdir())  # nothing pushed
    assert sweep_env.count() == 0
