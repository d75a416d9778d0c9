"""Android build: PyTorch's own ``scripts/build_android.sh`` with ``-DBUILD_BINARY=ON``.

The script reads its settings from the environment (FACTS.md). We set:

================== ==========================================================
``ANDROID_NDK``    the NDK folder (checked first: ``source.properties`` with a
                   ``Pkg.Revision`` and ``build/cmake/android.toolchain.cmake``)
``ANDROID_ABI``    e.g. ``arm64-v8a`` (the script's default is 32-bit ARM)
``BUILD_LITE_INTERPRETER`` ``1`` (lite) or ``0`` (full JIT)
``USE_VULKAN``     ``1`` with ``--vulkan``; removed otherwise (the script
                   tests it with ``-n``, so any value would turn Vulkan on)
``ANDROID_STL_SHARED`` ``1`` with ``stl_shared``; then ``libc++_shared.so``
                   from the NDK is kept beside the binary (``extra_files``)
``MAX_JOBS``       with ``jobs``
``BUILD_ROOT``     ``<cache entry>/build_root``: one build folder per cache
                   key, so flavours and ABIs never share CMake state
================== ==========================================================

and pass ``-DBUILD_BINARY=ON`` as the script's argument (its extra arguments
go to CMake last, overriding its own ``-DBUILD_BINARY=OFF``). The artifact is
``BUILD_ROOT/bin/speed_benchmark_torch`` (else ``BUILD_ROOT/install/bin/``);
its ELF header must name the ABI asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from benchorch.abi import KNOWN_ABIS, check_abi
from benchorch.build import buildlog
from benchorch.build.cache import entry_for
from benchorch.build.host import check_flavour
from benchorch.build.provenance import Provenance
from benchorch.build.source import BENCHMARK_CC, BUILD_ANDROID_SH, local_identity, require_files
from benchorch.errors import BuildError, BuildUsageError
from benchorch.files import atomic_path

#: variables we decide; an inherited value is dropped before ours are set
CONTROLLED_ENV: tuple[str, ...] = (
    "ANDROID_NDK",
    "ANDROID_ABI",
    "BUILD_LITE_INTERPRETER",
    "USE_VULKAN",
    "ANDROID_STL_SHARED",
    "MAX_JOBS",
    "BUILD_ROOT",
)
#: variables the script reads that the user may set; passed through and recorded
PASSTHROUGH_ENV: tuple[str, ...] = (
    "SELECTED_OP_LIST",
    "TRACING_BASED",
    "USE_LIGHTWEIGHT_DISPATCH",
    "ANDROID_DEBUG_SYMBOLS",
    "USE_VULKAN_FP16_INFERENCE",
    "USE_VULKAN_RELAXED_PRECISION",
    "USE_VULKAN_SHADERC_RUNTIME",
)
CMAKE_ARGS: tuple[str, ...] = ("-DBUILD_BINARY=ON",)
TOOLCHAIN = "build/cmake/android.toolchain.cmake"
#: ABI -> the NDK's triple (where libc++_shared.so lives in the sysroot)
TRIPLES: dict[str, str] = {
    "arm64-v8a": "aarch64-linux-android",
    "armeabi-v7a": "arm-linux-androideabi",
    "x86_64": "x86_64-linux-android",
    "x86": "i686-linux-android",
}


@dataclass(frozen=True)
class Ndk:
    path: Path
    version: str  # Pkg.Revision, e.g. "25.2.9519653"


def parse_source_properties(text: str) -> str | None:
    """``Pkg.Revision = 25.2.9519653`` → ``"25.2.9519653"``."""
    match = re.search(r"^\s*Pkg\.Revision\s*=\s*(\S+)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def check_ndk(ndk: str | os.PathLike[str] | None) -> Ndk:
    """The NDK to use, or exit 2 saying what is wrong with it, before anything starts."""
    if not ndk:
        raise BuildUsageError(
            "ANDROID_NDK is not set: the android target needs the Android NDK",
            hint="install the NDK and pass --ndk DIR or set ANDROID_NDK",
        )
    path = Path(ndk).expanduser()
    props = path / "source.properties"
    try:
        version = parse_source_properties(props.read_text(errors="replace"))
    except OSError:
        version = None
    if version is None:
        raise BuildUsageError(
            f"ANDROID_NDK={path} is not an Android NDK ({props} with Pkg.Revision not found)",
            hint="point --ndk or ANDROID_NDK at the NDK's top folder",
        )
    if not (path / TOOLCHAIN).is_file():
        raise BuildUsageError(
            f"ANDROID_NDK={path} lacks {TOOLCHAIN}",
            hint="install a complete NDK (r19 or later) and point ANDROID_NDK at it",
        )
    return Ndk(path=path.resolve(), version=version)


def check_abi_name(abi: str) -> str:
    if abi not in KNOWN_ABIS:
        raise BuildUsageError(f"unknown ABI {abi!r}", hint=f"use one of {', '.join(KNOWN_ABIS)}")
    return abi


def script_env(
    base: dict[str, str],
    *,
    ndk: str,
    abi: str,
    flavour: str,
    vulkan: bool,
    stl_shared: bool,
    jobs: int | None,
    build_root: str,
    python: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(full environment for the script, the part that defines the build)."""
    env = {k: v for k, v in base.items() if k not in CONTROLLED_ENV}
    ours = {
        "ANDROID_NDK": ndk,
        "ANDROID_ABI": abi,
        "BUILD_LITE_INTERPRETER": "1" if flavour == "lite" else "0",
        "BUILD_ROOT": build_root,
    }
    if vulkan:
        ours["USE_VULKAN"] = "1"
    if stl_shared:
        ours["ANDROID_STL_SHARED"] = "1"
    if jobs is not None:
        ours["MAX_JOBS"] = str(jobs)
    env.update(ours)
    if "PYTHON" not in env:  # the script otherwise needs a `python` on PATH
        env["PYTHON"] = python or shutil.which("python3") or sys.executable
    recorded = dict(ours)
    recorded.update({k: base[k] for k in PASSTHROUGH_ENV if base.get(k)})
    return env, recorded


def find_artifact(build_root: Path) -> Path | None:
    for rel in ("bin/speed_benchmark_torch", "install/bin/speed_benchmark_torch"):
        if (build_root / rel).is_file():
            return build_root / rel
    return None


def find_libcxx_shared(ndk: Path, abi: str) -> Path | None:
    """``libc++_shared.so`` for ``abi`` in the NDK (r19+ sysroot, else the old layout)."""
    triple = TRIPLES.get(abi, abi)
    for candidate in sorted(
        ndk.glob(f"toolchains/llvm/prebuilt/*/sysroot/usr/lib/{triple}/libc++_shared.so")
    ):
        return candidate
    old = ndk / "sources/cxx-stl/llvm-libc++/libs" / abi / "libc++_shared.so"
    return old if old.is_file() else None


_NDK_MESSAGES = ("ANDROID_NDK not set", "ANDROID_NDK not a directory")


def run_script(
    root: Path,
    env: dict[str, str],
    log_path: Path,
    *,
    echo: TextIO | None = None,
    timeout: float | None = None,
) -> None:
    """Run ``root/scripts/build_android.sh -DBUILD_BINARY=ON``; map its failures."""
    argv = ["bash", str(root / BUILD_ANDROID_SH), *CMAKE_ARGS]
    status = buildlog.run_logged(
        argv, log_path=log_path, env=env, cwd=root, echo=echo, timeout=timeout
    )
    if status != 0:
        raise script_failure(log_path, status, env.get("ANDROID_NDK", ""))


def script_failure(log_path: Path, status: int, ndk: str) -> BuildUsageError | BuildError:
    """The error for a failed build_android.sh: its own NDK complaints are usage errors."""
    text = log_path.read_text(errors="replace")
    for message in _NDK_MESSAGES:
        if message in text:
            return BuildUsageError(
                f"build_android.sh stopped: {message} (ANDROID_NDK={ndk!r}); full log: {log_path}",
                hint="point --ndk or ANDROID_NDK at the Android NDK",
            )
    return buildlog.failure("build_android.sh", log_path, f"exit {status}")


def build_android(
    pytorch_root: Path | str,
    *,
    abi: str = "arm64-v8a",
    flavour: str = "lite",
    vulkan: bool = False,
    stl_shared: bool = False,
    jobs: int | None = None,
    ndk: str | os.PathLike[str] | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    echo: TextIO | None = None,
    timeout: float | None = None,
) -> Provenance:
    """Build (or take from the cache) ``speed_benchmark_torch`` for an Android ABI."""
    check_flavour(flavour)
    check_abi_name(abi)
    root = Path(pytorch_root).expanduser().resolve()
    require_files(root, BUILD_ANDROID_SH, BENCHMARK_CC)
    found_ndk = check_ndk(ndk if ndk is not None else os.environ.get("ANDROID_NDK"))
    source = local_identity(root)
    passthrough = {k: os.environ[k] for k in PASSTHROUGH_ENV if os.environ.get(k)}
    entry = entry_for(
        cache_dir,
        target="android",
        abi=abi,
        flavour=flavour,
        identity={
            "source_revision": source.revision,
            "source_digest": source.files_digest,
            "ndk": found_ndk.version,
            "vulkan": vulkan,
            "stl_shared": stl_shared,
            "cmake_args": list(CMAKE_ARGS),
            "env": passthrough,
        },
    )
    build_root = entry.folder / "build_root"
    env, recorded = script_env(
        dict(os.environ),
        ndk=str(found_ndk.path),
        abi=abi,
        flavour=flavour,
        vulkan=vulkan,
        stl_shared=stl_shared,
        jobs=jobs,
        build_root=str(build_root),
    )
    with entry.locked():
        if not rebuild:
            hit = entry.lookup()
            if hit is not None:
                return hit
        for stale in ("bin/speed_benchmark_torch", "install/bin/speed_benchmark_torch"):
            (build_root / stale).unlink(missing_ok=True)
        started = time.monotonic()
        run_script(root, env, entry.log, echo=echo, timeout=timeout)
        seconds = time.monotonic() - started
        artifact = find_artifact(build_root)
        if artifact is None:
            raise BuildError(
                f"build_android.sh finished but produced no speed_benchmark_torch under "
                f"{build_root}/bin or {build_root}/install/bin; full log: {entry.log}",
                log_path=str(entry.log),
            )
        found_abi = check_abi(artifact, abi)
        extras: list[str] = []
        if stl_shared:
            libcxx = find_libcxx_shared(found_ndk.path, abi)
            if libcxx is None:
                raise BuildError(
                    f"ANDROID_STL_SHARED build, but no libc++_shared.so for {abi} "
                    f"in {found_ndk.path}",
                    hint="use a complete NDK or build without --stl-shared",
                )
            kept = entry.folder / "libc++_shared.so"
            with atomic_path(kept, mode=0o755) as tmp:
                shutil.copyfile(libcxx, tmp)
            extras.append(str(kept))
        with atomic_path(entry.binary, executable=True) as tmp:
            shutil.copyfile(artifact, tmp)
        prov = Provenance.built(
            entry.binary,
            target="android",
            abi=found_abi,
            flavour=flavour,
            source_revision=source.revision,
            ndk_version=found_ndk.version,
            build_flags=tuple(CMAKE_ARGS),
            build_env=recorded,
            build_host=socket.gethostname(),
            seconds=seconds,
            vulkan=vulkan,
            extra_files=tuple(extras),
            pytorch_version=source.pytorch_version,
        )
        return prov
