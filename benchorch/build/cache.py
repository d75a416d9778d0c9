"""The build cache: one folder per build identity, reused while nothing changed.

A build's key is ``sha256(canonical JSON of its identity)[:20]`` where the
identity holds everything that decides the bytes produced: target, ABI,
flavour, flags, the source identity (revision and relevant-file digest), our
compatibility headers' digest, the build machine's environment variables
that change a build, plus libtorch's prefix, version and stamp (size and
mtime of libtorch_cpu.so) and the compiler's version (host) or the NDK
version (android), and the build host for remote builds. The same identity
is computed on either machine (``host.py``/``android.py`` run once over a
transport), so a reinstalled libtorch is rebuilt on a build host too.

Layout under the cache folder (``--cache-dir``, else ``builds`` under
``benchorch.paths.cache_root()``: ``$BENCHORCH_CACHE`` or the user cache dir)::

    <target>-<abi>-<flavour>-<key>/
        speed_benchmark_torch                    the binary
        speed_benchmark_torch.provenance.json    its Provenance
        build.log                                the full build log
        identity.json                            what the key was made of
        .lock                                    flock held while building

A hit is: the binary and its provenance are there and the binary's sha256
still matches the recorded one (a corrupted file is rebuilt, not served).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.build.provenance import Provenance, read_sidecar
from benchorch.errors import OutputNotWritable
from benchorch.files import atomic_write, sha256_file
from benchorch.paths import cache_root

BINARY_NAME = "speed_benchmark_torch"


def default_cache_dir() -> Path:
    return cache_root() / "builds"


def cache_key(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CacheEntry:
    folder: Path
    identity: dict[str, Any]

    @property
    def binary(self) -> Path:
        return self.folder / BINARY_NAME

    @property
    def log(self) -> Path:
        return self.folder / "build.log"

    def lookup(self) -> Provenance | None:
        """The cached binary's provenance (origin "cached"), or None on a miss."""
        prov = read_sidecar(self.binary)
        if prov is None or not self.binary.is_file():
            return None
        if sha256_file(self.binary) != prov.sha256:
            return None
        for extra in prov.extra_files:
            if not Path(extra).is_file():
                return None
        return prov.with_origin("cached")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this entry's lock: concurrent builds of one identity run one at a time."""
        with (self.folder / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def entry_for(
    cache_dir: Path | None, *, target: str, abi: str, flavour: str, identity: dict[str, Any]
) -> CacheEntry:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    full = {"target": target, "abi": abi, "flavour": flavour, **identity}
    folder = root / f"{target}-{abi}-{flavour}-{cache_key(full)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(
            folder / "identity.json", json.dumps(full, indent=2, sort_keys=True, default=str)
        )
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write the build cache {root}: {exc.strerror}",
            hint="pass --cache-dir a writable folder or set BENCHORCH_CACHE",
        ) from exc
    return CacheEntry(folder=folder, identity=full)
