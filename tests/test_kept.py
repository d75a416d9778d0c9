"""benchorch.kept: files kept by content hash under the cache root (real files,
real hashing; no mocks)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from benchorch.kept import find_kept, keep, kept_path, kept_root, prune_kept


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHORCH_CACHE", str(tmp_path / "cache"))


def _file(folder: Path, name: str, data: bytes) -> tuple[Path, str]:
    path = folder / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_a_kept_copy_survives_the_original_being_rewritten_in_place(tmp_path: Path) -> None:
    path, sha = _file(tmp_path, "model.ptl", b"original bytes" * 1000)
    got = keep(path, sha)
    assert got == kept_path(sha) and got.parent.parent == tmp_path / "cache" / "kept"
    with path.open("r+b") as fh:  # in place, same inode: a hardlink would change too
        fh.write(b"X" * 100)
    assert got.read_bytes() == b"original bytes" * 1000
    assert find_kept(sha) == got


def test_keep_is_idempotent_and_touches_the_file(tmp_path: Path) -> None:
    path, sha = _file(tmp_path, "bin", b"\x7fELF...")
    first = keep(path, sha, executable=True)
    assert first is not None and os.access(first, os.X_OK)
    old = time.time() - 30 * 86400
    os.utime(first, (old, old))
    inode = first.stat().st_ino
    path.unlink()  # a second keep needs nothing from the original
    again = keep(path, sha, executable=True)
    assert again == first and first.stat().st_ino == inode
    assert first.stat().st_mtime > old + 86400  # its last use is now


def test_bytes_that_do_not_hash_to_the_name_are_never_kept(tmp_path: Path) -> None:
    path, sha = _file(tmp_path, "model.ptl", b"what the store recorded")
    path.write_bytes(b"rewritten since")
    assert keep(path, sha) is None
    assert not kept_path(sha).exists()
    assert list(kept_root().rglob("*.tmp")) == []  # no half-written copy left behind
    assert keep(tmp_path / "missing", sha) is None


def test_a_damaged_kept_file_is_not_found(tmp_path: Path) -> None:
    path, sha = _file(tmp_path, "model.ptl", b"abc" * 10)
    kept = keep(path, sha)
    assert kept is not None
    kept.write_bytes(b"damaged")
    assert find_kept(sha) is None
    assert find_kept("0" * 64) is None and find_kept("not a hash") is None


def test_prune_removes_only_unreferenced_files_unused_for_a_while(tmp_path: Path) -> None:
    shas = {}
    for name in ("used", "old", "recent"):
        path, shas[name] = _file(tmp_path, name, name.encode() * 100)
        assert keep(path, shas[name]) is not None
    old = time.time() - 20 * 86400
    for name in ("used", "old"):
        os.utime(kept_path(shas[name]), (old, old))
    dry = prune_kept({shas["used"]}, older_than_s=14 * 86400, dry_run=True)
    assert (dry.removed, dry.kept) == (1, 2) and kept_path(shas["old"]).exists()
    result = prune_kept({shas["used"]}, older_than_s=14 * 86400)
    assert (result.removed, result.kept, result.freed_bytes) == (1, 2, 300)
    assert not kept_path(shas["old"]).exists()
    assert kept_path(shas["used"]).exists() and kept_path(shas["recent"]).exists()
