"""One build request, and the steps both flows share: locate the source, fetch the binary.

A :class:`BuildRequest` is what ``benchorch build`` (or ``--build-from``)
asks for; the flows in ``host.py`` and ``android.py`` take it with a
:class:`~benchorch.build.transport.Transport` saying where to build.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchorch.abi import check_abi
from benchorch.build.cache import CacheEntry
from benchorch.build.provenance import FLAVOURS
from benchorch.build.source import SourceIdentity, identity, local_identity, require_files
from benchorch.build.transport import Transport
from benchorch.errors import BuildError, BuildUsageError
from benchorch.files import atomic_path

TARGETS = ("host", "android")


@dataclass(frozen=True)
class BuildRequest:
    """What to build, from which tree, into which cache."""

    target: str = "host"  # "host" | "android"
    flavour: str = "lite"  # "lite" | "full_jit"
    pytorch_root: Path | None = None  # a PyTorch tree on this machine (sent when needed)
    remote_root: str | None = None  # ... or one already on the build machine
    abi: str | None = None  # android: default arm64-v8a (host: the build machine's)
    libtorch: str | None = None  # host: the installed libtorch's prefix (default /usr)
    ndk: str | None = None  # android: the NDK on the build machine (default $ANDROID_NDK)
    vulkan: bool = False  # android: USE_VULKAN=1
    stl_shared: bool = False  # android: ANDROID_STL_SHARED=1, libc++_shared.so kept
    jobs: int | None = None  # android: MAX_JOBS
    cache_dir: Path | None = None  # default $BENCHORCH_CACHE/builds
    rebuild: bool = False  # build even on a cache hit
    timeout: float | None = None  # seconds before the build is killed

    def checked(self) -> BuildRequest:
        """Itself, or exit 2 naming the first field that cannot be right."""
        if self.target not in TARGETS:
            raise BuildUsageError(f"unknown target {self.target!r}", hint="use host or android")
        if self.flavour not in FLAVOURS:
            raise BuildUsageError(f"unknown flavour {self.flavour!r}", hint="use lite or full_jit")
        if self.pytorch_root is None and self.remote_root is None:
            raise BuildUsageError(
                "a build needs --pytorch-root DIR (or --remote-root DIR on a build host)",
                hint="pass the PyTorch source tree to build from",
            )
        return self


@dataclass(frozen=True)
class Source:
    """The PyTorch tree a build reads: its identity, and where it is."""

    identity: SourceIdentity
    local: Path | None  # the tree on this machine, to be placed on the build machine
    remote_root: str | None  # the tree already on the build machine

    def place(self, transport: Transport, rels: tuple[str, ...] | None) -> str:
        """The tree's folder on the build machine (``rels`` of it, or all), sent if needed."""
        if self.remote_root is not None:
            return self.remote_root
        assert self.local is not None
        return transport.place(self.local, rels, f"src/{self.identity.files_digest[:16]}")


def where(transport: Transport) -> str:
    """``user@host:`` before a path on a build host; nothing for this machine."""
    return f"{transport.label}:" if transport.label else ""


def find_source(request: BuildRequest, transport: Transport, *needed: str) -> Source:
    """Check the tree has ``needed`` files and read its identity (exit 2 if it is not a tree)."""
    if request.remote_root is None:
        assert request.pytorch_root is not None
        local = Path(request.pytorch_root).expanduser().resolve()
        require_files(local, *needed)
        return Source(identity=local_identity(local), local=local, remote_root=None)
    root = request.remote_root
    for rel in needed:
        if not transport.exists(f"{root}/{rel}"):
            raise BuildUsageError(
                f"{where(transport)}{root}/{rel} not found",
                hint="pass --remote-root the PyTorch tree on the build host",
            )
    describe = None
    if transport.exists(f"{root}/.git"):
        argv = ["git", "-C", root, "describe", "--always", "--tags", "--dirty"]
        status, out = transport.run(argv)
        describe = (out.strip() or None) if status == 0 else None
    found = identity(lambda rel: transport.read(f"{root}/{rel}"), describe)
    return Source(identity=found, local=None, remote_root=root)


def environ(transport: Transport) -> dict[str, str]:
    """The environment a build on the build machine starts from (``env -0``)."""
    status, out = transport.run(["env", "-0"])
    if status != 0:
        raise BuildError(f"cannot read the environment of {transport.label or 'this machine'}")
    pairs = (item.partition("=") for item in out.split("\0") if "=" in item)
    return {k: v for k, _, v in pairs}


def fetch(transport: Transport, path: str, entry: CacheEntry, abi: str, what: str) -> Path:
    """Bring the built binary into the cache entry (atomically), checking its ELF's ABI."""
    if not transport.exists(path):
        raise BuildError(
            f"{what} produced no binary at {where(transport)}{path}; full log: {entry.log}",
            log_path=str(entry.log),
        )
    with atomic_path(entry.binary, executable=True) as tmp:
        transport.get(path, tmp)
        check_abi(tmp, abi)
    return entry.binary


def on_host(transport: Transport, identity: Mapping[str, object]) -> dict[str, object]:
    """The cache identity, with the build host when there is one (two hosts never share)."""
    full = dict(identity)
    if transport.label is not None:
        full["build_host"] = transport.label
    return full


def default_ndk(request: BuildRequest) -> str | None:
    return request.ndk if request.ndk is not None else os.environ.get("ANDROID_NDK")
