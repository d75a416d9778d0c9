"""ELF ABI reading, the bytecode table and provenance records (no build needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchorch.abi import (
    abi_for_machine,
    abi_from_header,
    can_run,
    check_abi,
    host_abi,
    read_abi,
    require_runs,
)
from benchorch.build.provenance import (
    Provenance,
    accepted_bytecode,
    read_sidecar,
    register_binary,
)
from benchorch.errors import AbiMismatch, BuildUsageError, UsageError
from benchorch.exits import ExitCode, exit_code
from benchorch.files import sha256_file
from tests.build.elfbytes import MACHINES, elf_header, write_elf


@pytest.mark.parametrize("abi", sorted(MACHINES))
def test_abi_read_from_hand_made_headers(tmp_path: Path, abi: str) -> None:
    assert read_abi(write_elf(tmp_path / "b", abi)) == abi


def test_big_endian_and_unknown_machines() -> None:
    header = bytearray(elf_header("arm64-v8a"))
    header[5] = 2  # big-endian: e_machine 183 now reads as 0xb700
    assert abi_from_header(bytes(header)) == f"elf-{0xB700}-64"
    header[18:20] = (183).to_bytes(2, "big")
    assert abi_from_header(bytes(header)) == "arm64-v8a"


def test_not_an_elf_is_a_usage_error(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(UsageError, match=r"run\.sh is not an ELF"):
        read_abi(script)


def test_wrong_arch_names_both_abis(tmp_path: Path) -> None:
    path = write_elf(tmp_path / "b", "armeabi-v7a")
    with pytest.raises(AbiMismatch) as info:
        check_abi(path, "arm64-v8a")
    assert "armeabi-v7a" in str(info.value) and "arm64-v8a" in str(info.value)
    assert exit_code(info.value) == ExitCode.USAGE


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.9.1", (3, 5)),
        ("1.10.0", (3, 7)),
        ("1.11.0", (3, 8)),
        ("1.12.1", (4, 9)),
        ("1.13.0a0", (4, 9)),
        ("2.13.0", (4, 9)),
    ],
)
def test_accepted_bytecode_table(version: str, expected: tuple[int, int]) -> None:
    assert accepted_bytecode(version) == expected


@pytest.mark.parametrize("version", ["1.8.0", "nightly", ""])
def test_accepted_bytecode_rejects_unknown(version: str) -> None:
    with pytest.raises(ValueError):
        accepted_bytecode(version)


def test_provenance_round_trips_through_json(tmp_path: Path) -> None:
    binary = write_elf(tmp_path / "speed_benchmark_torch", "arm64-v8a")
    prov = Provenance(
        path=str(binary),
        sha256=sha256_file(binary),
        size_bytes=binary.stat().st_size,
        origin="built",
        target="android",
        abi="arm64-v8a",
        flavour="lite",
        build_flags=("-DBUILD_BINARY=ON",),
        build_env={"ANDROID_ABI": "arm64-v8a"},
        extra_files=(str(tmp_path / "libc++_shared.so"),),
        vulkan=True,
    )
    written = prov.write()
    assert written.name == "speed_benchmark_torch.provenance.json"
    data = json.loads(written.read_text())
    assert data["build_flags"] == ["-DBUILD_BINARY=ON"] and data["vulkan"] is True
    assert read_sidecar(binary) == prov
    assert Provenance.from_dict(prov.to_dict()) == prov


def test_register_prebuilt_with_flavour(tmp_path: Path) -> None:
    binary = write_elf(tmp_path / "sbt", "arm64-v8a")
    prov = register_binary(binary, "full_jit", abi="arm64-v8a")
    assert prov.origin == "registered" and prov.target == "android"
    assert prov.sha256 == sha256_file(binary) and prov.flavour == "full_jit"
    assert read_sidecar(binary) == prov
    with pytest.raises(AbiMismatch, match="x86_64"):
        register_binary(binary, "lite", abi="x86_64")


def test_register_without_flavour_when_undetectable(tmp_path: Path) -> None:
    binary = write_elf(tmp_path / "sbt", "arm64-v8a")
    with pytest.raises(BuildUsageError, match="--lite or --full-jit"):
        register_binary(binary)


def test_register_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        register_binary(tmp_path / "nope")


@given(st.binary(max_size=80))
def test_any_bytes_give_an_abi_or_a_usage_error(data: bytes) -> None:
    try:
        abi = abi_from_header(data)
    except UsageError:
        return
    assert data[:4] == b"\x7fELF" and isinstance(abi, str) and abi


@given(st.sampled_from(sorted(MACHINES)), st.binary(max_size=64))
def test_bytes_after_the_machine_field_do_not_matter(abi: str, tail: bytes) -> None:
    header = elf_header(abi)[:20] + tail
    assert abi_from_header(header) == abi


@pytest.mark.parametrize(
    ("machine", "abi"),
    [
        ("x86_64", "x86_64"),
        ("AMD64", "x86_64"),
        ("aarch64", "arm64-v8a"),
        ("armv7l", "armeabi-v7a"),
        ("armv8l", "armeabi-v7a"),
        ("i686", "x86"),
        ("riscv64", "riscv64"),
    ],
)
def test_machine_names_map_to_one_abi(machine: str, abi: str) -> None:
    assert abi_for_machine(machine) == abi


def test_local_device_and_host_build_agree_on_this_machines_abi(tmp_path: Path) -> None:
    """The sweep picks a host build for ``local`` by comparing these two: one owner, one answer."""
    from benchorch.devices.local import LocalDevice

    info = LocalDevice(workdir=tmp_path).info()
    assert info.abis == (host_abi(),)
    assert can_run(read_abi(Path(sys.executable).resolve()), info.abis)


def test_require_runs_names_the_device_both_abis_and_the_fix() -> None:
    require_runs("arm64-v8a", ("arm64-v8a", "armeabi-v7a"), serial="p1", what="sbt")
    with pytest.raises(AbiMismatch) as info:
        require_runs("x86_64", ("arm64-v8a",), serial="p1", what="sbt", device="phone")
    text = str(info.value)
    assert "p1: sbt is built for x86_64 but the phone runs arm64-v8a" in text
    assert info.value.serial == "p1" and exit_code(info.value) == ExitCode.USAGE
    assert "arm64-v8a" in (info.value.hint or "")
    with pytest.raises(AbiMismatch, match="an unknown ABI"):
        require_runs("x86", (), serial="p1", what="sbt")
