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

The same flow runs here or on a build host (``transport.py``): there only the
``.cc`` and our headers are sent (SFTP), the compiler (``$CXX`` or ``g++``)
and libtorch are the host's own, and the binary comes back by SFTP. The cache
key holds everything that decides the bytes, read on the build machine: the
source, headers, flags, ``HOST_ENV_KEYS`` from its environment, libtorch's
prefix, version and stamp (size, mtime of libtorch_cpu.so), the compiler's
version, and the build host's name.

The binary's runtime is the libtorch it links, so ``pytorch_version`` (and the
bytecode range) come from libtorch's ``torch/version.h``; the source tree's
identity goes into ``source_revision``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from benchorch.abi import abi_for_machine
from benchorch.build import buildlog
from benchorch.build.cache import entry_for
from benchorch.build.provenance import FLAVOURS, Provenance
from benchorch.build.request import BuildRequest, environ, fetch, find_source, on_host, where
from benchorch.build.source import BENCHMARK_CC
from benchorch.build.transport import Transport
from benchorch.errors import BuildError, BuildUsageError

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
    arch = multiarch or f"{os.uname().machine}-linux-gnu"
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


def compiler_version(transport: Transport, compiler: str) -> str:
    """``g++ 12.2.0``: the compiler's name and version, or exit 3 when it is not there."""
    status, out = transport.run([compiler, "-dumpfullversion", "-dumpversion"], timeout=30)
    place = f" on {transport.label}" if transport.label else ""
    if status == 127:
        raise BuildError(
            f"no C++ compiler{place}: {compiler} not found on PATH",
            hint="install g++ (apt-get install g++) or set CXX",
        )
    if status != 0:
        raise BuildError(f"cannot run the compiler {compiler}{place}: exit {status}")
    return f"{Path(compiler).name} {out.strip() or 'unknown'}"


def check_flavour(flavour: str) -> str:
    if flavour not in FLAVOURS:
        raise BuildUsageError(f"unknown flavour {flavour!r}", hint="use lite or full_jit")
    return flavour


def lib_stamp(transport: Transport, torch_lib: LibTorch) -> list[int]:
    """Size and mtime of libtorch_cpu.so: a reinstalled libtorch changes the key."""
    path = f"{torch_lib.lib_dir}/libtorch_cpu.so"
    status, out = transport.run(["stat", "-L", "-c", "%s %Y", path])
    fields = out.split()
    if status != 0 or len(fields) != 2 or not all(f.isdigit() for f in fields):
        return []
    return [int(fields[0]), int(fields[1])]


def build_host(
    request: BuildRequest, transport: Transport, *, echo: TextIO | None = None
) -> Provenance:
    """Build (or take from the cache) ``speed_benchmark_torch`` for the build machine."""
    check_flavour(request.flavour)
    machine_name = transport.label or "this machine"
    status, uname = transport.run(["uname", "-m"])
    if status != 0:
        raise BuildError(f"cannot read the architecture of {machine_name} (uname -m exit {status})")
    machine = uname.strip()
    abi = abi_for_machine(machine)
    if request.abi is not None and request.abi != abi:
        raise BuildUsageError(
            f"--target host builds for {machine_name} ({abi}), not {request.abi}",
            hint="drop --abi or use --target android",
        )
    source = find_source(request, transport, BENCHMARK_CC)
    torch_lib = find_libtorch(
        request.libtorch,
        exists=transport.exists,
        read=transport.read,
        multiarch=f"{machine}-linux-gnu",
        where=where(transport),
    )
    env = environ(transport)
    compiler = env.get("CXX") or "g++"
    version = compiler_version(transport, compiler)
    headers = compat_headers_dir()
    digest = compat_headers_digest(headers)
    headers_there = transport.place(headers, COMPAT_HEADERS, f"compat/{digest[:16]}")
    flags = compile_flags(request.flavour, headers_there, torch_lib)
    env_used = {k: env[k] for k in HOST_ENV_KEYS if k in env}
    entry = entry_for(
        request.cache_dir,
        target="host",
        abi=abi,
        flavour=request.flavour,
        identity=on_host(
            transport,
            {
                "source_revision": source.identity.revision,
                "source_digest": source.identity.files_digest,
                "headers": digest,
                "flags": flags,
                "env": env_used,
                "libtorch": [torch_lib.prefix, torch_lib.version, lib_stamp(transport, torch_lib)],
                "compiler": version,
            },
        ),
    )
    with entry.locked():
        if not request.rebuild:
            hit = entry.lookup()
            if hit is not None:
                return hit
        root = source.place(transport, (BENCHMARK_CC,))
        out_dir = f"{transport.scratch(entry)}/bin"
        out = f"{out_dir}/speed_benchmark_torch"
        transport.run(["mkdir", "-p", out_dir])
        transport.run(["rm", "-f", out])
        argv = compile_argv(compiler, f"{root}/{BENCHMARK_CC}", out, flags)
        started = time.monotonic()
        status = transport.run_logged(argv, log_path=entry.log, echo=echo, timeout=request.timeout)
        seconds = time.monotonic() - started
        step = "host build of speed_benchmark_torch"
        if transport.label:
            step += f" on {transport.label}"
        if status != 0:
            raise buildlog.failure(step, entry.log, f"exit {status}")
        binary = fetch(transport, out, entry, abi, step)
        return Provenance.built(
            binary,
            target="host",
            abi=abi,
            flavour=request.flavour,
            source_revision=source.identity.revision,
            ndk_version=None,
            build_flags=(version, *flags),
            build_env=env_used,
            build_host=transport.label or socket.gethostname(),
            seconds=seconds,
            pytorch_version=torch_lib.version,
        )
