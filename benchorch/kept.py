"""Every binary and variant file a run used, kept by content hash.

The confirm step (``sweep --confirm``, the nightly's) re-runs a baseline's
**exact** binary and variant file; their original paths do not keep them (the
next export rewrites the variants folder, the next build or ``--binary``
replaces the file). So a sweep keeps a copy of each under
``cache_root()/kept/SHA[:2]/SHA``, named by the sha256 the store records for
it, and the confirm step finds it there by that hash.

* **atomic**: a copy is written beside its final name and renamed into place
  (``files.atomic_path``), and only when the bytes copied hash to the sha256
  they are kept under; a half-written file is never found;
* **idempotent**: a file already kept is not copied again (its mtime is
  touched: the last time a run used it);
* **a copy, not a hardlink**: a hardlink shares the inode, so a tool that
  rewrites the original in place (``cp`` over it, an editor) would change the
  kept bytes too; a copy survives anything done to the original;
* **bounded**: ``benchorch db prune-files`` removes kept files no run of the
  database references and no run has used for ``--older-than`` days (other
  databases may share the cache: their recent files stay).

Extra files a binary needs beside it (``libc++_shared.so``) are not recorded
with a hash in the store, so they are not kept: they are taken from their
registered paths.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchorch.files import atomic_path, sha256_file
from benchorch.paths import cache_root

log = logging.getLogger("benchorch.kept")

__all__ = ["PruneResult", "find_kept", "keep", "kept_path", "kept_root", "prune_kept"]

_BLOCK = 1 << 20


def kept_root() -> Path:
    return cache_root() / "kept"


def kept_path(sha256: str) -> Path:
    """Where the file with this sha256 is kept (it may not be there)."""
    sha = sha256.lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"not a sha256: {sha256!r}")
    return kept_root() / sha[:2] / sha


def keep(path: Path, sha256: str, *, executable: bool = False) -> Path | None:
    """Keep ``path``'s bytes under ``sha256``; the kept path, or ``None`` (logged)
    when the file cannot be read or no longer has that hash (nothing is kept
    under a hash its bytes do not have)."""
    target = kept_path(sha256)
    if target.is_file():
        try:
            os.utime(target)
        except OSError:
            pass
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with atomic_path(target, executable=executable) as tmp:
            with Path(path).open("rb") as src, tmp.open("wb") as dst:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    dst.write(block)
            if digest.hexdigest() != sha256.lower():
                raise _Changed(digest.hexdigest())
    except _Changed as exc:
        log.warning(
            "%s changed since it was hashed (now sha256 %s, recorded %s): not kept",
            path,
            str(exc)[:12],
            sha256[:12],
        )
        return None
    except OSError as exc:
        log.warning("cannot keep %s under %s: %s", path, target, exc.strerror or exc)
        return None
    return target


class _Changed(Exception):
    pass


def find_kept(sha256: str) -> Path | None:
    """The kept file with this sha256 when it is there and still has it."""
    try:
        path = kept_path(sha256)
    except ValueError:
        return None
    if not path.is_file():
        return None
    if sha256_file(path) != sha256.lower():
        log.warning("kept file %s is damaged (its bytes no longer hash to its name)", path)
        return None
    return path


@dataclass(frozen=True)
class PruneResult:
    removed: int
    freed_bytes: int
    kept: int

    def line(self) -> str:
        return (
            f"removed {self.removed} kept file(s) ({self.freed_bytes / 1e6:.1f} MB);"
            f" {self.kept} kept"
        )


def prune_kept(
    referenced: Iterable[str], *, older_than_s: float, dry_run: bool = False
) -> PruneResult:
    """Remove kept files whose hash is not in ``referenced`` and whose last use
    is older than ``older_than_s`` seconds."""
    wanted = {s.lower() for s in referenced}
    root = kept_root()
    removed = freed = left = 0
    now = time.time()
    for path in sorted(root.glob("??/*")) if root.is_dir() else ():
        if path.name.startswith("."):  # a copy being written
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if path.name in wanted or now - st.st_mtime < older_than_s:
            left += 1
            continue
        if not dry_run:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        removed += 1
        freed += st.st_size
    return PruneResult(removed, freed, left)
