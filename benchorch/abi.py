"""ABI names: this machine's, an ELF file's, and whether a device can run a file.

The one owner of these rules: the build (what a host build produces), the
device layer (``local``'s ABI list, the adb device's check) and the sweep (is
this binary for this phone) all import them from here.

The target ABI of an executable is read from its ELF header.

The first 20 bytes of an ELF file are enough (System V gABI, "ELF Header"):

* bytes 0-3: the magic ``\\x7fELF``;
* byte 4, ``EI_CLASS``: 1 = 32-bit, 2 = 64-bit;
* byte 5, ``EI_DATA``: 1 = little-endian, 2 = big-endian;
* bytes 16-17, ``e_type`` and bytes 18-19, ``e_machine``, in that byte order.

Android ABI names follow from (``e_machine``, ``EI_CLASS``):
EM_AARCH64 (183) / 64 → ``arm64-v8a``; EM_ARM (40) / 32 → ``armeabi-v7a``;
EM_X86_64 (62) / 64 → ``x86_64``; EM_386 (3) / 32 → ``x86``. Anything else is
reported as ``elf-<machine>-<bits>`` so it never matches a real ABI.
"""

from __future__ import annotations

import struct
from pathlib import Path

from benchorch.errors import AbiMismatch, UsageError

ELF_MAGIC = b"\x7fELF"
EM_386 = 3
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183

#: (e_machine, EI_CLASS) -> Android ABI name
_ABIS: dict[tuple[int, int], str] = {
    (EM_AARCH64, 2): "arm64-v8a",
    (EM_ARM, 1): "armeabi-v7a",
    (EM_X86_64, 2): "x86_64",
    (EM_386, 1): "x86",
}
#: every ABI benchorch knows, for option choices
KNOWN_ABIS: tuple[str, ...] = ("arm64-v8a", "armeabi-v7a", "x86_64", "x86")


def abi_from_header(header: bytes, *, name: str = "file") -> str:
    """The ABI named by an ELF header (at least its first 20 bytes)."""
    if len(header) < 20 or header[:4] != ELF_MAGIC:
        raise UsageError(
            f"{name} is not an ELF executable",
            hint="pass a speed_benchmark_torch binary built for the device",
        )
    ei_class, ei_data = header[4], header[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise UsageError(f"{name} has a corrupt ELF header (class {ei_class}, data {ei_data})")
    order = "<" if ei_data == 1 else ">"
    (machine,) = struct.unpack_from(order + "H", header, 18)
    return _ABIS.get((machine, ei_class), f"elf-{machine}-{32 * ei_class}")


def read_abi(path: Path) -> str:
    """The ABI of the ELF file at ``path``."""
    try:
        with path.open("rb") as fh:
            header = fh.read(64)
    except OSError as exc:
        raise UsageError(f"cannot read binary {path}: {exc.strerror}") from exc
    return abi_from_header(header, name=str(path))


#: ``uname -m`` -> ABI name
_MACHINES: dict[str, str] = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "arm64-v8a",
    "arm64": "arm64-v8a",
    "armv7l": "armeabi-v7a",
    "armv8l": "armeabi-v7a",  # a 32-bit userland on a 64-bit core
    "i686": "x86",
    "i386": "x86",
}


def host_abi() -> str:
    """The ABI name of this machine (what a host build produces, what ``local`` runs)."""
    import platform

    return abi_for_machine(platform.machine())


def abi_for_machine(machine: str) -> str:
    """``uname -m`` → ABI name (``x86_64`` → ``x86_64``, ``aarch64`` → ``arm64-v8a``).

    An unknown machine keeps its own name, so it only matches itself.
    """
    machine = machine.strip().lower()
    return _MACHINES.get(machine, machine)


def can_run(abi: str, device_abis: tuple[str, ...]) -> bool:
    """Whether a device listing ``device_abis`` (its ``abilist``) runs a binary of ``abi``."""
    return abi in device_abis


def require_runs(
    abi: str, device_abis: tuple[str, ...], *, serial: str, what: str, device: str = "device"
) -> None:
    """Raise ``AbiMismatch`` naming both ABIs when the device cannot run ``what``."""
    if can_run(abi, device_abis):
        return
    raise AbiMismatch(
        f"{serial}: {what} is built for {abi} but the {device} runs "
        f"{', '.join(device_abis) or 'an unknown ABI'}",
        serial=serial,
        hint=f"build speed_benchmark_torch for {device_abis[0] if device_abis else 'the ' + device}"
        " (--build-from DIR) or pass a matching --binary",
    )


def check_abi(path: Path, expected: str | None) -> str:
    """Read ``path``'s ABI; raise ``AbiMismatch`` naming both when it is not ``expected``."""
    abi = read_abi(path)
    if expected is not None and abi != expected:
        raise AbiMismatch(
            f"{path} is built for {abi}, not {expected}",
            hint=f"build or pass a binary for {expected}",
        )
    return abi
