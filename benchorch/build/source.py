"""The identity of a PyTorch source tree: version and revision.

``source_revision`` is ``git describe --always --tags --dirty`` when the root
is itself a git checkout (``ROOT/.git`` exists; a tree merely lying inside
another repository is not one). A dirty checkout, or a tree without git (the
Debian source package), gets a content hash instead or in addition:

    files_digest = sha256( for each relevant path, sorted:
                           path NUL (sha256(content) | "missing") LF )
    revision     = "<describe>+<files_digest[:16]>"   (dirty checkout)
                 | "<version.txt>+sha256:<files_digest[:16]>"   (no git)

The relevant files are the ones that decide what ``speed_benchmark_torch``
becomes: the benchmark's source, the Android build script and the top-level
CMake files. Hashing them (a few hundred KB) keeps a cache hit well under a
second, where hashing the whole tree (10,000+ files) would not.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchorch.errors import BuildUsageError

BENCHMARK_CC = "binaries/speed_benchmark_torch.cc"
BUILD_ANDROID_SH = "scripts/build_android.sh"
RELEVANT_FILES: tuple[str, ...] = (
    BENCHMARK_CC,
    "binaries/CMakeLists.txt",
    BUILD_ANDROID_SH,
    "CMakeLists.txt",
    "cmake/Dependencies.cmake",
    "version.txt",
)

#: reads a path relative to the tree's root; None when it does not exist
Reader = Callable[[str], bytes | None]


@dataclass(frozen=True)
class SourceIdentity:
    pytorch_version: str | None  # version.txt, e.g. "1.13.0a0"
    revision: str
    files_digest: str


def files_digest(read: Reader, paths: tuple[str, ...] = RELEVANT_FILES) -> str:
    digest = hashlib.sha256()
    for rel in sorted(paths):
        data = read(rel)
        mark = "missing" if data is None else hashlib.sha256(data).hexdigest()
        digest.update(f"{rel}\0{mark}\n".encode())
    return digest.hexdigest()


def identity(read: Reader, describe: str | None) -> SourceIdentity:
    """Combine version.txt, the relevant files' digest and ``git describe``'s answer."""
    raw = read("version.txt")
    version = raw.decode(errors="replace").strip() or None if raw is not None else None
    digest = files_digest(read)
    if describe and not describe.endswith("-dirty"):
        revision = describe
    elif describe:
        revision = f"{describe}+{digest[:16]}"
    else:
        revision = f"{version or 'unknown'}+sha256:{digest[:16]}"
    return SourceIdentity(pytorch_version=version, revision=revision, files_digest=digest)


def local_reader(root: Path) -> Reader:
    def read(rel: str) -> bytes | None:
        try:
            return (root / rel).read_bytes()
        except OSError:
            return None

    return read


def git_describe(root: Path) -> str | None:
    """``git describe`` of ``root`` when it is a checkout of its own, else None."""
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--tags", "--dirty"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def local_identity(root: Path) -> SourceIdentity:
    return identity(local_reader(root), git_describe(root))


def require_files(root: Path, *rels: str) -> None:
    """Exit 2 naming the first file the PyTorch root lacks."""
    if not root.is_dir():
        raise BuildUsageError(
            f"PyTorch root {root} is not a directory",
            hint="pass --pytorch-root a PyTorch source tree",
        )
    for rel in rels:
        if not (root / rel).is_file():
            raise BuildUsageError(
                f"{root / rel} not found: {root} is not a PyTorch source tree",
                hint="pass --pytorch-root the top of a PyTorch checkout",
            )
