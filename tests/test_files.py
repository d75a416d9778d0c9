"""benchorch.files: file digests and atomic writes (real files, real umasks)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchorch.build.provenance import Provenance
from benchorch.files import (
    atomic_open,
    atomic_path,
    atomic_write,
    md5_file,
    new_file_mode,
    sha256_file,
)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_digests_match_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 << 20) + b"tail"  # more than one read block
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert md5_file(path) == hashlib.md5(data).hexdigest()


def test_atomic_write_gives_a_new_files_mode_and_replaces(tmp_path: Path, umask: int) -> None:
    out = atomic_write(tmp_path / "a.json", "{}\n")
    assert out.read_text() == "{}\n" and mode(out) == 0o666 & ~umask
    out.chmod(0o600)
    atomic_write(out, b"[]\n")
    assert out.read_bytes() == b"[]\n" and mode(out) == 0o666 & ~umask
    assert new_file_mode(executable=True) == 0o777 & ~umask
    with atomic_path(tmp_path / "bin", executable=True) as tmp:
        tmp.write_bytes(b"\x7fELF")
    assert mode(tmp_path / "bin") == 0o777 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, mode=0o640) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, b"A" * 100)
    with atomic_open(target) as fh:
        fh.write(b"B" * 50)
        assert target.read_bytes() == b"A" * 100  # the old content until the block ends
        fh.write(b"B" * 50)
    assert target.read_bytes() == b"B" * 100


def test_provenance_sidecar_is_written_through_the_helper(tmp_path: Path, umask: int) -> None:
    binary = tmp_path / "speed_benchmark_torch"
    binary.write_bytes(b"\x7fELF")
    prov = Provenance(
        path=str(binary),
        sha256=sha256_file(binary),
        size_bytes=4,
        origin="registered",
        target="host",
        abi="x86_64",
        flavour="lite",
    )
    sidecar = prov.write()
    assert mode(sidecar) == 0o666 & ~umask  # was 0666 & ~umask too, via write_text
    assert sorted(p.name for p in tmp_path.iterdir()) == [binary.name, sidecar.name]
