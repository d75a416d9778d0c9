"""Hand-made ELF headers: stand-ins for binaries of ABIs this machine cannot build.

The 64-byte (ELF64) or 52-byte (ELF32) header laid out per the System V gABI:
``\\x7fELF``, EI_CLASS, EI_DATA (1 = little-endian), EI_VERSION, padding to
16 bytes, then e_type (2 = EXEC), e_machine, e_version, ... The rest of the
header is zeros, which is enough for anything that reads the ABI.
"""

from __future__ import annotations

import struct
from pathlib import Path

MACHINES = {"arm64-v8a": (183, 2), "armeabi-v7a": (40, 1), "x86_64": (62, 2), "x86": (3, 1)}


def elf_header(abi: str) -> bytes:
    machine, ei_class = MACHINES[abi]
    ident = b"\x7fELF" + bytes([ei_class, 1, 1]) + bytes(9)
    size = 64 if ei_class == 2 else 52
    body = struct.pack("<HHI", 2, machine, 1)
    return (ident + body).ljust(size, b"\0")


def write_elf(path: Path, abi: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(elf_header(abi) + b"benchorch test stand-in\n")
    path.chmod(0o755)
    return path
