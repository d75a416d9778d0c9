"""Android build: PyTorch's own ``scripts/build_android.sh`` with ``-DBUILD_BINARY=ON``.

The script reads its settings from the environment (docs/FACTS.md). We set:

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
``BUILD_ROOT``     ``<scratch>/build_root`` (the cache entry's folder here,
                   ``<work dir>/out/<entry>`` on a build host): one build
                   folder per cache key, so flavours and ABIs never share
                   CMake state
================== ==========================================================

and pass ``-DBUILD_BINARY=ON`` as the script's argument (its extra arguments
go to CMake last, overriding its own ``-DBUILD_BINARY=OFF``). The artifact is
``BUILD_ROOT/bin/speed_benchmark_torch`` (else ``BUILD_ROOT/install/bin/``);
its ELF header must name the ABI asked for. Every other variable the script
reads comes from the build machine's environment; ``PASSTHROUGH_ENV`` ones
are recorded and part of the cache key.

The same flow runs here or on a build host (``transport.py``): there the tree
is synced once (one tar stream, build folders and ``.git`` left out) and
``--ndk`` names the NDK's path on that host.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from benchorch.abi import KNOWN_ABIS
from benchorch.build import buildlog
from benchorch.build.cache import entry_for
from benchorch.build.host import check_flavour
from benchorch.build.provenance import Provenance
from benchorch.build.request import (
    BuildRequest,
    default_ndk,
    environ,
    fetch,
    find_source,
    on_host,
    where,
)
from benchorch.build.source import BENCHMARK_CC, BUILD_ANDROID_SH
from benchorch.build.transport import Transport
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
    path: str  # on the build machine
    version: str  # Pkg.Revision, e.g. "25.2.9519653"


def parse_source_properties(text: str) -> str | None:
    """``Pkg.Revision = 25.2.9519653`` → ``"25.2.9519653"``."""
    match = re.search(r"^\s*Pkg\.Revision\s*=\s*(\S+)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def check_ndk(ndk: str | os.PathLike[str] | None, transport: Transport) -> Ndk:
    """The NDK on the build machine, or exit 2 saying what is wrong, before anything starts."""
    if not ndk:
        raise BuildUsageError(
            "ANDROID_NDK is not set: the android target needs the Android NDK",
            hint="install the NDK and pass --ndk DIR or set ANDROID_NDK"
            + (" (its path on the build host)" if transport.label else ""),
        )
    path = transport.resolve(os.fspath(ndk))
    props = f"{path}/source.properties"
    raw = transport.read(props)
    version = parse_source_properties(raw.decode(errors="replace")) if raw is not None else None
    if version is None:
        raise BuildUsageError(
            f"ANDROID_NDK={where(transport)}{path} is not an Android NDK "
            f"({props} with Pkg.Revision not found)",
            hint="point --ndk or ANDROID_NDK at the NDK's top folder",
        )
    if not transport.exists(f"{path}/{TOOLCHAIN}"):
        raise BuildUsageError(
            f"ANDROID_NDK={where(transport)}{path} lacks {TOOLCHAIN}",
            hint="install a complete NDK (r19 or later) and point ANDROID_NDK at it",
        )
    return Ndk(path=path, version=version)


def check_abi_name(abi: str) -> str:
    if abi not in KNOWN_ABIS:
        raise BuildUsageError(f"unknown ABI {abi!r}", hint=f"use one of {', '.join(KNOWN_ABIS)}")
    return abi


def script_env(
    environ: Mapping[str, str],
    *,
    ndk: str,
    abi: str,
    flavour: str,
    vulkan: bool,
    stl_shared: bool,
    jobs: int | None,
    build_root: str,
) -> tuple[dict[str, str], dict[str, str]]:
    """(variables to set for the script, the part that defines the build).

    The script runs with ``CONTROLLED_ENV`` removed from the build machine's
    environment ``environ`` and these set on top.
    """
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
    recorded = dict(ours)
    recorded.update({k: environ[k] for k in PASSTHROUGH_ENV if environ.get(k)})
    settings = dict(ours)
    if "PYTHON" not in environ:  # the script otherwise needs a `python` on PATH
        settings["PYTHON"] = "python3"
    return settings, recorded


ARTIFACTS = ("bin/speed_benchmark_torch", "install/bin/speed_benchmark_torch")


def find_libcxx_shared(transport: Transport, ndk: str, abi: str) -> str | None:
    """``libc++_shared.so`` for ``abi`` in the NDK (r19+ sysroot, else the old layout)."""
    triple = TRIPLES.get(abi, abi)
    prebuilt = f"{ndk}/toolchains/llvm/prebuilt"
    status, out = transport.run(
        ["find", prebuilt, "-path", f"{prebuilt}/*/sysroot/usr/lib/{triple}/libc++_shared.so"]
    )
    found = sorted(line for line in out.splitlines() if line.strip()) if status == 0 else []
    if found:
        return found[0]
    old = f"{ndk}/sources/cxx-stl/llvm-libc++/libs/{abi}/libc++_shared.so"
    return old if transport.exists(old) else None


_NDK_MESSAGES = ("ANDROID_NDK not set", "ANDROID_NDK not a directory")


def run_script(
    transport: Transport,
    root: str,
    settings: Mapping[str, str],
    log_path: Path,
    *,
    echo: TextIO | None = None,
    timeout: float | None = None,
) -> None:
    """Run ``root/scripts/build_android.sh -DBUILD_BINARY=ON``; map its failures."""
    status = transport.run_logged(
        ["bash", f"{root}/{BUILD_ANDROID_SH}", *CMAKE_ARGS],
        log_path=log_path,
        cwd=root,
        env=settings,
        unset=CONTROLLED_ENV,
        echo=echo,
        timeout=timeout,
    )
    if status != 0:
        raise script_failure(log_path, status, settings.get("ANDROID_NDK", ""))


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
    request: BuildRequest, transport: Transport, *, echo: TextIO | None = None
) -> Provenance:
    """Build (or take from the cache) ``speed_benchmark_torch`` for an Android ABI."""
    check_flavour(request.flavour)
    abi = check_abi_name(request.abi or "arm64-v8a")
    source = find_source(request, transport, BUILD_ANDROID_SH, BENCHMARK_CC)
    ndk = check_ndk(default_ndk(request), transport)
    env = environ(transport)
    entry = entry_for(
        request.cache_dir,
        target="android",
        abi=abi,
        flavour=request.flavour,
        identity=on_host(
            transport,
            {
                "source_revision": source.identity.revision,
                "source_digest": source.identity.files_digest,
                "ndk": ndk.version,
                "vulkan": request.vulkan,
                "stl_shared": request.stl_shared,
                "cmake_args": list(CMAKE_ARGS),
                "env": {k: env[k] for k in PASSTHROUGH_ENV if env.get(k)},
            },
        ),
    )
    build_root = f"{transport.scratch(entry)}/build_root"
    settings, recorded = script_env(
        env,
        ndk=ndk.path,
        abi=abi,
        flavour=request.flavour,
        vulkan=request.vulkan,
        stl_shared=request.stl_shared,
        jobs=request.jobs,
        build_root=build_root,
    )
    with entry.locked():
        if not request.rebuild:
            hit = entry.lookup()
            if hit is not None:
                return hit
        root = source.place(transport, None)
        transport.run(["rm", "-f", *(f"{build_root}/{rel}" for rel in ARTIFACTS)])
        started = time.monotonic()
        run_script(transport, root, settings, entry.log, echo=echo, timeout=request.timeout)
        seconds = time.monotonic() - started
        artifact = next(
            (f"{build_root}/{rel}" for rel in ARTIFACTS if transport.exists(f"{build_root}/{rel}")),
            None,
        )
        if artifact is None:
            raise BuildError(
                f"build_android.sh finished but produced no speed_benchmark_torch under "
                f"{where(transport)}{build_root}/bin or {build_root}/install/bin; "
                f"full log: {entry.log}",
                log_path=str(entry.log),
            )
        binary = fetch(transport, artifact, entry, abi, "build_android.sh")
        extras: list[str] = []
        if request.stl_shared:
            libcxx = find_libcxx_shared(transport, ndk.path, abi)
            if libcxx is None:
                raise BuildError(
                    f"ANDROID_STL_SHARED build, but no libc++_shared.so for {abi} "
                    f"in {where(transport)}{ndk.path}",
                    hint="use a complete NDK or build without --stl-shared",
                )
            kept = entry.folder / "libc++_shared.so"
            with atomic_path(kept, mode=0o755) as tmp:
                transport.get(libcxx, tmp)
            extras.append(str(kept))
        return Provenance.built(
            binary,
            target="android",
            abi=abi,
            flavour=request.flavour,
            source_revision=source.identity.revision,
            ndk_version=ndk.version,
            build_flags=tuple(CMAKE_ARGS),
            build_env=recorded,
            build_host=transport.label or socket.gethostname(),
            seconds=seconds,
            vulkan=request.vulkan,
            extra_files=tuple(extras),
            pytorch_version=source.identity.pytorch_version,
        )
