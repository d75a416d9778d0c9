"""Host build: ``speed_benchmark_torch.cc`` compiled against an installed libtorch.

One compiler call (about 15 s on two cores)::

    g++ -std=c++17 -O2 [-DBUILD_LITE_INTERPRETER=1]
        -I<compat> -I<prefix>/include -I<prefix>/include/torch/csrc/api/include
        ROOT/binaries/speed_benchmark_torch.cc -o OUT
        -L<libdir> [-Wl,-rpath,<libdir>] -ltorch -ltorch_cpu -lc10 -lgflags -lglog -pthread

``benchorch/build/compat/`` (package data, see ``android_build/README.md``)
holds our compatibility headers for the three headers an installed libtorch
lacks (caffe2/core/timer.h, caffe2/utils/string_utils.h,
c10/mobile/CPUCachingAllocator.h). The full-JIT flavour must leave
``BUILD_LITE_INTERPRETER`` undefined (the source tests it with ``#ifdef``).

The binary's runtime is the libtorch it links, so ``pytorch_version`` (and the
bytecode range) come from libtorch's ``torch/version.h``; the source tree's
identity goes into ``source_revision``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from benchorch.abi import check_abi, host_abi
from benchorch.build import buildlog
from benchorch.build.cache import entry_for
from benchorch.build.provenance import FLAVOURS, Provenance
from benchorch.build.source import BENCHMARK_CC, local_identity, require_files
from benchorch.errors import BuildError, BuildUsageError
from benchorch.files import atomic_path

LIBS: tuple[str, ...] = ("-ltorch", "-ltorch_cpu", "-lc10", "-lgflags", "-lglog", "-pthread")
BASE_FLAGS: tuple[str, ...] = ("-std=c++17", "-O2")
#: environment variables that can change a host build, recorded when set
HOST_ENV_KEYS: tuple[str, ...] = ("CXX", "CPATH", "LIBRARY_PATH", "LD_LIBRARY_PATH")
COMPAT_HEADERS: tuple[str, ...] = (
    "caffe2/core/timer.h",
    "caffe2/utils/string_utils.h",
    "c10/mobile/CPUCachingAllocator.h",
)
_SYSTEM_LIBDIRS = ("/usr/lib", "/usr/lib64", "/lib")


def compat_headers_dir() -> Path:
    """``benchorch/build/compat/``: package data, so an installed benchorch has them too."""
    folder = Path(__file__).resolve().parent / "compat"
    missing = [rel for rel in COMPAT_HEADERS if not (folder / rel).is_file()]
    if missing:
        raise BuildError(
            f"benchorch's compatibility header {missing[0]} is missing from {folder}",
            hint="reinstall benchorch (the headers are package data of benchorch.build)",
        )
    return folder


def compat_headers_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for rel in COMPAT_HEADERS:
        digest.update(rel.encode() + b"\0" + (folder / rel).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class LibTorch:
    prefix: str
    include_dirs: tuple[str, ...]
    lib_dir: str
    version: str | None


def _multiarch() -> str:
    machine = platform.machine()
    return {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(
        machine, f"{machine}-linux-gnu"
    )


def find_libtorch(
    prefix: str | None,
    *,
    exists: Callable[[str], bool] = os.path.exists,
    read: Callable[[str], bytes | None] | None = None,
    multiarch: str | None = None,
    where: str = "",
) -> LibTorch:
    """Locate headers and libraries under ``prefix`` (default ``/usr``, Debian's libtorch-dev).

    ``exists``/``read`` let the same search run on a remote build host.
    No libtorch under a prefix the user named is a usage error (exit 2); none
    under the default one means the machine lacks ``libtorch-dev`` (exit 3).
    """
    base = (prefix or "/usr").rstrip("/") or "/"
    include = f"{base}/include"
    arch = multiarch or _multiarch()
    libdirs = [f"{base}/lib", f"{base}/lib/{arch}", f"{base}/lib64"]
    lib_dir = next((d for d in libdirs if exists(f"{d}/libtorch_cpu.so")), None)
    if not exists(f"{include}/torch/script.h") or lib_dir is None:
        what = f"no libtorch (torch/script.h and libtorch_cpu.so) under {where}{base}"
        if prefix is None:
            raise BuildError(what, hint="install Debian's libtorch-dev or pass --libtorch PREFIX")
        raise BuildUsageError(what, hint="pass --libtorch the prefix of an installed libtorch")
    version_h = f"{include}/torch/csrc/api/include/torch/version.h"
    raw = (read or _read_local)(version_h)
    version = None
    if raw is not None:
        match = re.search(rb'#define\s+TORCH_VERSION\s*\\?\s*"([^"]+)"', raw)
        version = match.group(1).decode() if match else None
    return LibTorch(
        prefix=base,
        include_dirs=(include, f"{include}/torch/csrc/api/include"),
        lib_dir=lib_dir,
        version=version,
    )


def _read_local(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def compile_flags(flavour: str, headers: str, libtorch: LibTorch) -> list[str]:
    """Everything but the compiler, the source and ``-o OUT``."""
    flags = list(BASE_FLAGS)
    if flavour == "lite":
        flags.append("-DBUILD_LITE_INTERPRETER=1")
    flags.append(f"-I{headers}")
    flags += [f"-I{d}" for d in libtorch.include_dirs]
    flags.append(f"-L{libtorch.lib_dir}")
    if not libtorch.lib_dir.startswith(_SYSTEM_LIBDIRS):
        flags.append(f"-Wl,-rpath,{libtorch.lib_dir}")
    flags += LIBS
    return flags


def compile_argv(compiler: str, source: str, out: str, flags: list[str]) -> list[str]:
    split = flags.index(LIBS[0])
    return [compiler, *flags[:split], source, "-o", out, *flags[split:]]


def find_compiler() -> tuple[str, str]:
    """(path, version) of ``$CXX`` or ``g++``; exit 3 when there is none."""
    name = os.environ.get("CXX") or "g++"
    path = shutil.which(name)
    if path is None:
        raise BuildError(
            f"no C++ compiler: {name} not found on PATH",
            hint="install g++ (apt-get install g++) or set CXX",
        )
    try:
        out = subprocess.run(
            [path, "-dumpfullversion", "-dumpversion"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        version = out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"cannot run the compiler {path}: {exc}") from exc
    return path, f"{Path(path).name} {version}"


def check_flavour(flavour: str) -> str:
    if flavour not in FLAVOURS:
        raise BuildUsageError(f"unknown flavour {flavour!r}", hint="use lite or full_jit")
    return flavour


def build_host(
    pytorch_root: Path | str,
    *,
    flavour: str,
    libtorch: str | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    echo: TextIO | None = None,
    timeout: float | None = None,
) -> Provenance:
    """Build (or take from the cache) a host ``speed_benchmark_torch``."""
    check_flavour(flavour)
    root = Path(pytorch_root).expanduser().resolve()
    require_files(root, BENCHMARK_CC)
    torch_lib = find_libtorch(libtorch)
    compiler, compiler_version = find_compiler()
    headers = compat_headers_dir()
    source = local_identity(root)
    abi = host_abi()
    flags = compile_flags(flavour, str(headers), torch_lib)
    env_used = {k: os.environ[k] for k in HOST_ENV_KEYS if k in os.environ}
    entry = entry_for(
        cache_dir,
        target="host",
        abi=abi,
        flavour=flavour,
        identity={
            "source_revision": source.revision,
            "source_digest": source.files_digest,
            "headers": compat_headers_digest(headers),
            "flags": flags,
            "env": env_used,
            "libtorch": [torch_lib.prefix, torch_lib.version, _lib_stamp(torch_lib)],
            "compiler": compiler_version,
        },
    )
    with entry.locked():
        if not rebuild:
            hit = entry.lookup()
            if hit is not None:
                return hit
        with atomic_path(entry.binary, executable=True) as tmp:
            tmp.unlink()
            argv = compile_argv(compiler, str(root / BENCHMARK_CC), str(tmp), flags)
            started = time.monotonic()
            status = buildlog.run_logged(argv, log_path=entry.log, echo=echo, timeout=timeout)
            seconds = time.monotonic() - started
            if status != 0:
                raise buildlog.failure(
                    "host build of speed_benchmark_torch", entry.log, f"exit {status}"
                )
            if not tmp.is_file():
                raise BuildError(
                    f"the host build produced no binary at {tmp}; full log: {entry.log}"
                )
            found_abi = check_abi(tmp, abi)
        prov = Provenance.built(
            entry.binary,
            target="host",
            abi=found_abi,
            flavour=flavour,
            source_revision=source.revision,
            ndk_version=None,
            build_flags=(compiler_version, *flags),
            build_env=env_used,
            build_host=socket.gethostname(),
            seconds=seconds,
            pytorch_version=torch_lib.version,
        )
        return prov


def _lib_stamp(torch_lib: LibTorch) -> list[int]:
    """Size and mtime of libtorch_cpu.so: a reinstalled libtorch changes the key."""
    try:
        st = os.stat(f"{torch_lib.lib_dir}/libtorch_cpu.so")
    except OSError:
        return []
    return [st.st_size, int(st.st_mtime)]
