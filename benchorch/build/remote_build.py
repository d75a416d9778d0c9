"""Builds on an SSH build host: the same host and android builds, run remotely.

The PyTorch tree is either there already (``remote_root``) or synced from the
local ``pytorch_root`` into a content-addressed folder under the remote work
dir (default ``~/.cache/benchorch``): ``src/<files digest>/``.

* host target: only ``binaries/speed_benchmark_torch.cc`` is uploaded (by
  SFTP), plus our compatibility headers (``compat/<digest>/``); the compiler and
  libtorch are the build host's own (``g++``, ``--libtorch`` or ``/usr``).
* android target: the whole tree is needed by CMake, so it goes over as one
  tar stream (build folders and ``.git`` left out); ``--ndk`` / ``ANDROID_NDK``
  name the NDK's path *on the build host*, checked over SFTP first.

The log streams back live into the cache folder's ``build.log`` (and stderr);
the binary comes back by SFTP and is checked (ELF ABI) like a local one; the
provenance names the build host as ``user@host[:port]``. The cache key also
holds the build host, so two machines never share an entry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from benchorch.abi import abi_for_machine, check_abi
from benchorch.build import buildlog
from benchorch.build.android import (
    CMAKE_ARGS,
    PASSTHROUGH_ENV,
    TOOLCHAIN,
    TRIPLES,
    check_abi_name,
    parse_source_properties,
    script_env,
    script_failure,
)
from benchorch.build.cache import CacheEntry, entry_for
from benchorch.build.host import (
    COMPAT_HEADERS,
    check_flavour,
    compat_headers_digest,
    compat_headers_dir,
    compile_argv,
    compile_flags,
    find_libtorch,
)
from benchorch.build.provenance import Provenance
from benchorch.build.remote import RemoteHost, SshOptions
from benchorch.build.source import (
    BENCHMARK_CC,
    BUILD_ANDROID_SH,
    SourceIdentity,
    identity,
    local_identity,
    require_files,
)
from benchorch.errors import BuildError, BuildUsageError
from benchorch.files import atomic_path

SYNC_EXCLUDE = (".git", "build", "build_android", "build_host_protoc", "__pycache__")

__all__ = ["SshOptions", "build_remote"]


def build_remote(
    opts: SshOptions,
    *,
    target: str,
    pytorch_root: Path | str | None = None,
    remote_root: str | None = None,
    flavour: str = "lite",
    abi: str | None = None,
    libtorch: str | None = None,
    ndk: str | None = None,
    vulkan: bool = False,
    stl_shared: bool = False,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    echo: TextIO | None = None,
    timeout: float | None = None,
    remote_env: Mapping[str, str] | None = None,
) -> Provenance:
    """Build on ``opts``'s host; ``remote_env`` adds variables to the remote build's environment."""
    check_flavour(flavour)
    if pytorch_root is None and remote_root is None:
        raise BuildUsageError("a remote build needs --pytorch-root or --remote-root")
    local = None
    if pytorch_root is not None and remote_root is None:
        local = Path(pytorch_root).expanduser().resolve()
        require_files(local, BENCHMARK_CC, *((BUILD_ANDROID_SH,) if target == "android" else ()))
    with RemoteHost(opts) as host:
        source = _source(host, local, remote_root, target)
        if target == "host":
            return _host(
                host,
                local,
                remote_root,
                source,
                flavour,
                libtorch,
                cache_dir,
                rebuild,
                echo,
                timeout,
            )
        return _android(
            host,
            local,
            remote_root,
            source,
            flavour=flavour,
            abi=check_abi_name(abi or "arm64-v8a"),
            ndk=ndk if ndk is not None else os.environ.get("ANDROID_NDK"),
            vulkan=vulkan,
            stl_shared=stl_shared,
            jobs=jobs,
            cache_dir=cache_dir,
            rebuild=rebuild,
            echo=echo,
            timeout=timeout,
            remote_env=dict(remote_env or {}),
        )


def _source(
    host: RemoteHost, local: Path | None, remote_root: str | None, target: str
) -> SourceIdentity:
    if local is not None:
        return local_identity(local)
    assert remote_root is not None
    needed = [BENCHMARK_CC] + ([BUILD_ANDROID_SH] if target == "android" else [])
    for rel in needed:
        if not host.exists(f"{remote_root}/{rel}"):
            raise BuildUsageError(
                f"{host.opts.label}:{remote_root}/{rel} not found",
                hint="pass --remote-root the PyTorch tree on the build host",
            )
    describe = None
    if host.exists(f"{remote_root}/.git"):
        argv = ["git", "-C", remote_root, "describe", "--always", "--tags", "--dirty"]
        status, out = host.run_capture(argv)
        describe = out.strip() or None if status == 0 else None
    return identity(lambda rel: host.read(f"{remote_root}/{rel}"), describe)


def _fetch(host: RemoteHost, remote: str, entry: CacheEntry, abi: str, what: str) -> Path:
    if not host.exists(remote):
        raise BuildError(
            f"{what} on {host.opts.label} produced no binary at {remote}; full log: {entry.log}",
            log_path=str(entry.log),
        )
    with atomic_path(entry.binary, executable=True) as tmp:
        host.get(remote, tmp)
        check_abi(tmp, abi)
    return entry.binary


def _run_logged(
    host: RemoteHost, argv: list[str], entry: CacheEntry, **kw: object
) -> tuple[int, float]:
    started = time.monotonic()
    with entry.log.open("wb") as log_file:
        log_file.write(f"# on {host.opts.label}\n$ {' '.join(argv)}\n".encode())
        status, _ = host.run(argv, log_file=log_file, **kw)  # type: ignore[arg-type]
    return status, time.monotonic() - started


def _host(
    host: RemoteHost,
    local: Path | None,
    remote_root: str | None,
    source: SourceIdentity,
    flavour: str,
    libtorch: str | None,
    cache_dir: Path | None,
    rebuild: bool,
    echo: TextIO | None,
    timeout: float | None,
) -> Provenance:
    label = host.opts.label
    status, machine = host.run_capture(["uname", "-m"])
    if status != 0:
        raise BuildError(f"cannot read the architecture of {label} (uname -m exit {status})")
    abi = abi_for_machine(machine)
    torch_lib = find_libtorch(
        libtorch,
        exists=host.exists,
        read=host.read,
        multiarch=f"{machine.strip()}-linux-gnu",
        where=f"{label}:",
    )
    status, version = host.run_capture(["g++", "-dumpfullversion", "-dumpversion"])
    if status != 0:
        raise BuildError(f"no C++ compiler on {label}: g++ exit {status}", hint="install g++ there")
    compiler = f"g++ {version.strip()}"
    headers = compat_headers_dir()
    digest = compat_headers_digest(headers)
    work = host.work_dir()
    remote_headers = f"{work}/compat/{digest[:16]}"
    flags = compile_flags(flavour, remote_headers, torch_lib)
    entry = entry_for(
        cache_dir,
        target="host",
        abi=abi,
        flavour=flavour,
        identity={
            "build_host": label,
            "source_revision": source.revision,
            "source_digest": source.files_digest,
            "headers": digest,
            "flags": flags,
            "libtorch": [torch_lib.prefix, torch_lib.version],
            "compiler": compiler,
        },
    )
    with entry.locked():
        if not rebuild:
            hit = entry.lookup()
            if hit is not None:
                return hit
        for rel in COMPAT_HEADERS:
            if not host.exists(f"{remote_headers}/{rel}"):
                host.put(headers / rel, f"{remote_headers}/{rel}")
        if local is not None:
            remote_cc = f"{work}/src/{source.files_digest[:16]}/{BENCHMARK_CC}"
            host.put(local / BENCHMARK_CC, remote_cc)
        else:
            remote_cc = f"{remote_root}/{BENCHMARK_CC}"
        out_dir = f"{work}/out/{entry.folder.name}"
        host.makedirs(out_dir)
        remote_out = f"{out_dir}/speed_benchmark_torch"
        argv = compile_argv("g++", remote_cc, remote_out, flags)
        host.run(["rm", "-f", remote_out])
        status, seconds = _run_logged(host, argv, entry, echo=echo, timeout=timeout)
        if status != 0:
            raise buildlog.failure(f"host build on {label}", entry.log, f"exit {status}")
        binary = _fetch(host, remote_out, entry, abi, "the host build")
        prov = Provenance.built(
            binary,
            target="host",
            abi=abi,
            flavour=flavour,
            source_revision=source.revision,
            build_flags=(compiler, *flags),
            build_host=label,
            seconds=seconds,
            pytorch_version=torch_lib.version,
        )
        return prov


def _android(
    host: RemoteHost,
    local: Path | None,
    remote_root: str | None,
    source: SourceIdentity,
    *,
    flavour: str,
    abi: str,
    ndk: str | None,
    vulkan: bool,
    stl_shared: bool,
    jobs: int | None,
    cache_dir: Path | None,
    rebuild: bool,
    echo: TextIO | None,
    timeout: float | None,
    remote_env: dict[str, str],
) -> Provenance:
    label = host.opts.label
    if not ndk:
        raise BuildUsageError(
            f"no Android NDK named for {label}",
            hint="pass --ndk with the NDK's path on the build host",
        )
    props = host.read(f"{ndk}/source.properties")
    ndk_version = parse_source_properties(props.decode(errors="replace")) if props else None
    if ndk_version is None:
        raise BuildUsageError(
            f"{label}:{ndk} is not an Android NDK (no source.properties with Pkg.Revision)",
            hint="pass --ndk the NDK's top folder on the build host",
        )
    if not host.exists(f"{ndk}/{TOOLCHAIN}"):
        raise BuildUsageError(
            f"{label}:{ndk} lacks {TOOLCHAIN}", hint="install a complete NDK there"
        )
    passthrough = {k: remote_env[k] for k in PASSTHROUGH_ENV if remote_env.get(k)}
    entry = entry_for(
        cache_dir,
        target="android",
        abi=abi,
        flavour=flavour,
        identity={
            "build_host": label,
            "source_revision": source.revision,
            "source_digest": source.files_digest,
            "ndk": ndk_version,
            "vulkan": vulkan,
            "stl_shared": stl_shared,
            "cmake_args": list(CMAKE_ARGS),
            "env": passthrough,
        },
    )
    work = host.work_dir()
    build_root = f"{work}/android/{entry.folder.name}"
    env, recorded = script_env(
        {},
        ndk=ndk,
        abi=abi,
        flavour=flavour,
        vulkan=vulkan,
        stl_shared=stl_shared,
        jobs=jobs,
        build_root=build_root,
        python="python3",
    )
    env.update(remote_env)
    with entry.locked():
        if not rebuild:
            hit = entry.lookup()
            if hit is not None:
                return hit
        if local is not None:
            root = f"{work}/src/{source.files_digest[:16]}"
            if not host.exists(f"{root}/.benchorch-synced"):
                host.upload_tree(local, root, exclude=SYNC_EXCLUDE)
                host.run(["touch", f"{root}/.benchorch-synced"])
        else:
            assert remote_root is not None
            root = remote_root
        host.run(["rm", "-f", f"{build_root}/bin/speed_benchmark_torch"])
        host.run(["rm", "-f", f"{build_root}/install/bin/speed_benchmark_torch"])
        argv = ["bash", f"{root}/{BUILD_ANDROID_SH}", *CMAKE_ARGS]
        status, seconds = _run_logged(
            host, argv, entry, cwd=root, env=env, echo=echo, timeout=timeout
        )
        if status != 0:
            raise script_failure(entry.log, status, ndk)
        artifact = f"{build_root}/bin/speed_benchmark_torch"
        if not host.exists(artifact):
            artifact = f"{build_root}/install/bin/speed_benchmark_torch"
        binary = _fetch(host, artifact, entry, abi, "build_android.sh")
        extras: list[str] = []
        if stl_shared:
            extras.append(str(_fetch_libcxx(host, ndk, abi, entry)))
        prov = Provenance.built(
            binary,
            target="android",
            abi=abi,
            flavour=flavour,
            source_revision=source.revision,
            ndk_version=ndk_version,
            build_flags=tuple(CMAKE_ARGS),
            build_env=recorded,
            build_host=label,
            seconds=seconds,
            vulkan=vulkan,
            extra_files=tuple(extras),
            pytorch_version=source.pytorch_version,
        )
        return prov


def _fetch_libcxx(host: RemoteHost, ndk: str, abi: str, entry: CacheEntry) -> Path:
    triple = TRIPLES.get(abi, abi)
    candidates = [f"{ndk}/sources/cxx-stl/llvm-libc++/libs/{abi}/libc++_shared.so"]
    try:
        prebuilt = sorted(host.sftp.listdir(f"{ndk}/toolchains/llvm/prebuilt"))
    except OSError:
        prebuilt = []
    candidates[:0] = [
        f"{ndk}/toolchains/llvm/prebuilt/{p}/sysroot/usr/lib/{triple}/libc++_shared.so"
        for p in prebuilt
    ]
    for candidate in candidates:
        if host.exists(candidate):
            kept = entry.folder / "libc++_shared.so"
            host.get(candidate, kept)
            return kept
    raise BuildError(
        f"ANDROID_STL_SHARED build, but no libc++_shared.so for {abi} in {host.opts.label}:{ndk}"
    )
