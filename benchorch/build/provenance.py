"""What a ``speed_benchmark_torch`` binary is, recorded beside it.

Every binary benchorch uses carries a :class:`Provenance`, written as
``<binary>.provenance.json`` next to the file and recorded by the results
store (``Store.record_binary(run_id, provenance)``), so every number
can be traced to the exact binary (its sha256) and how it was made.

The bytecode range a binary's lite-interpreter runtime accepts has no runtime
query; it follows from the PyTorch version it was built from (docs/FACTS.md):

=========== ====== =========
torch       writes accepts
=========== ====== =========
1.9         5      3-5
1.10        7      3-7
1.11        7      3-8
1.12 - 2.13 8      4-9 (9 = FlatBuffer)
=========== ====== =========

Versions after 2.13 are assumed to keep 4-9 (nothing newer is documented).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchorch.abi import check_abi
from benchorch.errors import BuildUsageError, UsageError
from benchorch.files import atomic_write, sha256_file

log = logging.getLogger("benchorch.build")

ORIGINS = ("built", "cached", "registered", "hostrunner")
TARGETS = ("android", "host")
FLAVOURS = ("lite", "full_jit")  # speed_benchmark_torch's; an ExecuTorch runner's is "executorch"
SIDECAR_SUFFIX = ".provenance.json"

_BYTECODE: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 9), (3, 5)),
    ((1, 10), (3, 7)),
    ((1, 11), (3, 8)),
    ((1, 12), (4, 9)),
)


def accepted_bytecode(pytorch_version: str) -> tuple[int, int]:
    """The (min, max) bytecode versions a runtime of ``pytorch_version`` loads.

    ``"1.13.0a0"`` (Debian's) → (4, 9); ``"1.10.2"`` → (3, 7). Raises
    ``ValueError`` for versions before 1.9 (no lite bytecode table) or text
    that is not a version.
    """
    match = re.match(r"\s*v?(\d+)\.(\d+)", pytorch_version)
    if match is None:
        raise ValueError(f"not a PyTorch version: {pytorch_version!r}")
    version = (int(match.group(1)), int(match.group(2)))
    found: tuple[int, int] | None = None
    for since, accepted in _BYTECODE:
        if version >= since:
            found = accepted
    if found is None:
        raise ValueError(f"PyTorch {pytorch_version} predates the lite bytecode table (1.9)")
    return found


def bytecode_range(pytorch_version: str | None) -> tuple[int | None, int | None]:
    if pytorch_version is None:
        return None, None
    try:
        return accepted_bytecode(pytorch_version)
    except ValueError:
        return None, None


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sidecar_path(binary: Path) -> Path:
    return binary.with_name(binary.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class Provenance:
    """One binary and how it came to be. Keys per docs/INTERNALS.md."""

    path: str
    sha256: str
    size_bytes: int | None  # None for the host runner (a command, not a file)
    origin: str  # "built" | "cached" | "registered" | "hostrunner"
    target: str  # "android" | "host"
    abi: str | None  # from the ELF header; None for the host runner
    flavour: str  # "lite" | "full_jit"
    pytorch_version: str | None = None
    source_revision: str | None = None
    ndk_version: str | None = None
    build_flags: tuple[str, ...] = ()
    build_env: dict[str, str] = field(default_factory=dict)
    build_host: str | None = None
    built_at: str | None = None  # ISO 8601 UTC
    build_seconds: float | None = None
    bytecode_min: int | None = None
    bytecode_max: int | None = None
    vulkan: bool = False
    extra_files: tuple[str, ...] = ()
    # an ExecuTorch runner's runtime (flavour "executorch"): version, backends, kernels,
    # PAL, logging, event tracer, as far as they can be read; empty for speed_benchmark_torch
    executorch: dict[str, str] = field(default_factory=dict)

    @classmethod
    def built(
        cls,
        binary: Path,
        *,
        target: str,
        abi: str,
        flavour: str,
        pytorch_version: str | None,
        seconds: float,
        **facts: Any,
    ) -> Provenance:
        """A fresh build's record: hash, size, time and bytecode range derived, sidecar written.

        ``facts`` are the remaining fields (source revision, NDK, flags, env, host...).
        """
        low, high = bytecode_range(pytorch_version)
        prov = cls(
            path=str(binary),
            sha256=sha256_file(binary),
            size_bytes=binary.stat().st_size,
            origin="built",
            target=target,
            abi=abi,
            flavour=flavour,
            pytorch_version=pytorch_version,
            built_at=utc_now(),
            build_seconds=round(seconds, 3),
            bytecode_min=low,
            bytecode_max=high,
            **facts,
        )
        prov.write()
        return prov

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "origin": self.origin,
            "target": self.target,
            "abi": self.abi,
            "flavour": self.flavour,
            "pytorch_version": self.pytorch_version,
            "source_revision": self.source_revision,
            "ndk_version": self.ndk_version,
            "build_flags": list(self.build_flags),
            "build_env": dict(self.build_env),
            "build_host": self.build_host,
            "built_at": self.built_at,
            "build_seconds": self.build_seconds,
            "bytecode_min": self.bytecode_min,
            "bytecode_max": self.bytecode_max,
            "vulkan": self.vulkan,
            "extra_files": list(self.extra_files),
            "executorch": dict(self.executorch),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["build_flags"] = tuple(known.get("build_flags") or ())
        known["extra_files"] = tuple(known.get("extra_files") or ())
        known["build_env"] = dict(known.get("build_env") or {})
        known["executorch"] = dict(known.get("executorch") or {})
        return cls(**known)

    @property
    def binary(self) -> Path:
        return Path(self.path)

    def write(self) -> Path:
        """Write ``<binary>.provenance.json`` beside the binary (atomically)."""
        return atomic_write(
            sidecar_path(self.binary), json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        )

    def with_origin(self, origin: str) -> Provenance:
        return replace(self, origin=origin)


def read_sidecar(binary: Path) -> Provenance | None:
    """The provenance JSON beside ``binary``, or None when absent or unreadable."""
    path = sidecar_path(binary)
    try:
        return Provenance.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


# Mangled names a dynamically linked binary imports: the lite build calls
# torch::jit::_load_for_mobile, the full-JIT build torch::jit::load.
_LITE_MARK = b"_ZN5torch3jit16_load_for_mobile"
_FULL_MARK = b"_ZN5torch3jit4loadE"


def detect_flavour(path: Path) -> str | None:
    """Guess lite/full_jit from the symbols a dynamic binary imports; None if unsure."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    lite, full = _LITE_MARK in data, _FULL_MARK in data
    if lite and not full:
        return "lite"
    if full and not lite:
        return "full_jit"
    return None


def register_binary(
    path: Path | str,
    flavour: str | None = None,
    *,
    abi: str | None = None,
    target: str | None = None,
    pytorch_version: str | None = None,
) -> Provenance:
    """Provenance of a prebuilt binary (origin "registered"), written beside it.

    What can be read from the file is: its sha256, size and ELF ABI (checked
    against ``abi`` when given), and for dynamically linked builds its flavour.
    When a provenance file beside it describes the same sha256, its build facts
    (PyTorch version, revision, flags...) are carried over.
    """
    binary = Path(path).expanduser().resolve()
    if not binary.is_file():
        raise UsageError(f"binary {path} does not exist", hint="pass --binary an existing file")
    if flavour is not None and flavour not in FLAVOURS:
        raise UsageError(f"unknown flavour {flavour!r}", hint="use lite or full_jit")
    found_abi = check_abi(binary, abi)
    digest = sha256_file(binary)
    previous = read_sidecar(binary)
    if previous is not None and previous.sha256 == digest:
        if flavour is not None and flavour != previous.flavour:
            raise BuildUsageError(
                f"{binary} is a {previous.flavour} build, not {flavour}",
                hint="drop --lite/--full-jit or pass the right binary",
            )
        prov = replace(previous, path=str(binary), origin="registered", abi=found_abi)
    else:
        chosen = flavour or detect_flavour(binary)
        if chosen is None:
            raise BuildUsageError(
                f"cannot tell whether {binary} is a lite or full-JIT build",
                hint="pass --lite or --full-jit",
            )
        low, high = bytecode_range(pytorch_version)
        prov = Provenance(
            path=str(binary),
            sha256=digest,
            size_bytes=binary.stat().st_size,
            origin="registered",
            target=target or ("android" if found_abi in ("arm64-v8a", "armeabi-v7a") else "host"),
            abi=found_abi,
            flavour=chosen,
            pytorch_version=pytorch_version,
            bytecode_min=low,
            bytecode_max=high,
        )
    try:
        prov.write()
    except OSError as exc:
        log.warning("cannot write provenance beside %s: %s", binary, exc.strerror)
    return prov
