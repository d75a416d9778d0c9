"""benchorch.files: file digests and atomic writes (real files, real umasks)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
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


@contextlib.contextmanager
def disk_refuses_past(nbytes: int) -> Iterator[None]:
    """The kernel refuses writes past ``nbytes`` in any file (RLIMIT_FSIZE): a real EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def test_a_write_the_disk_refuses_keeps_the_old_file(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "report.html", b"old\n")
    with disk_refuses_past(1000), pytest.raises(OSError):
        atomic_write(target, b"x" * 5000)
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_export_the_disk_refuses_keeps_the_previous_export_whole(tmp_path: Path) -> None:
    """``benchorch store export -o FILE`` wrote in place: a full disk left half a CSV."""
    from benchorch.errors import OutputNotWritable
    from benchorch.store import Store
    from benchorch.store.export import export_run
    from tests.store.factory import launch

    store = Store(tmp_path / "results.sqlite")
    try:
        run = store.create_run("benchorch sweep", {}, run_id="20261204-160000-aaaa")
        for i in range(3):
            store.record_launch(launch(run, i))
        out = tmp_path / "launches.csv"
        export_run(store, run, "csv", out)
        before = out.read_bytes()
        store.record_launch(launch(run, 3))
        with disk_refuses_past(len(before) // 2), pytest.raises(OutputNotWritable):
            export_run(store, run, "csv", out)
    finally:
        store.close()
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".launches")]
