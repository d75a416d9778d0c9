"""What a verified push catches, against Debian's adb server and virtual phones.

``AdbDevice.push`` verifies a sent file by adbd's OKAY, a sync STAT (size and
mtime) and, for files up to ``HASH_VERIFY_MAX_BYTES`` or when asked, the
phone's hash; larger files have their content compared at the next push. The
``damage_push`` fault makes the phone's storage lie: OKAY, then a damaged file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import benchorch.devices.adbpush as adb_mod
from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.errors import PushFailed

pytestmark = pytest.mark.slow


def device(adb_server: Any, phone: Any) -> AdbDevice:
    return AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))


def _blob(tmp_path: Path, size: int) -> Path:
    src = tmp_path / "model.ptl"
    src.write_bytes(os.urandom(size))
    return src


def test_truncated_on_arrival_is_caught_by_the_stat_after_the_push(
    adb_server: Any, virtual_phone: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = virtual_phone(faults={"damage_push": "truncate"})
    dev = device(adb_server, phone)
    monkeypatch.setattr(adb_mod, "HASH_VERIFY_MAX_BYTES", 0)  # no hash: the STAT alone
    src = _blob(tmp_path, 300_000)
    with pytest.raises(PushFailed, match=r"the phone has 150000 bytes.*300000 bytes") as err:
        dev.push(src, "model.ptl")
    assert err.value.serial == phone.serial


def test_flipped_byte_in_a_small_file_is_caught_by_the_phones_hash(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    dev = device(adb_server, virtual_phone(faults={"damage_push": "flip"}))
    src = _blob(tmp_path, 300_000)
    assert src.stat().st_size <= adb_mod.HASH_VERIFY_MAX_BYTES
    with pytest.raises(PushFailed, match=r"does not match .* after the push \(sha256sum"):
        dev.push(src, "model.ptl")


def test_flipped_byte_in_a_large_file_is_caught_at_the_next_push(
    adb_server: Any, virtual_phone: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the threshold a same-size damage passes the push (documented) and is
    found by the content compare of the next push, which sends the file again."""
    phone = virtual_phone(faults={"damage_push": "flip"})
    dev = device(adb_server, phone)
    monkeypatch.setattr(adb_mod, "HASH_VERIFY_MAX_BYTES", 100_000)
    src = _blob(tmp_path, 300_000)
    first = dev.push(src, "model.ptl")
    assert first.bytes_sent == 300_000
    on_phone = phone.root / "benchorch" / "model.ptl"
    assert on_phone.read_bytes() != src.read_bytes()  # the fault did damage it
    with pytest.raises(PushFailed, match="does not match"):
        dev.push(src, "model.ptl", verify_hash=True)  # re-sent (damaged again), then hashed


def test_file_damaged_on_the_phone_is_detected_and_pushed_again(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    phone = virtual_phone(profile="pixel8")
    dev = device(adb_server, phone)
    src = _blob(tmp_path, 200_000)
    assert dev.push(src, "model.ptl").bytes_sent == 200_000
    on_phone = phone.root / "benchorch" / "model.ptl"
    st = on_phone.stat()
    # Same size and mtime, one byte inverted: only the content compare can tell.
    data = bytearray(on_phone.read_bytes())
    data[1234] ^= 0xFF
    on_phone.write_bytes(bytes(data))
    os.utime(on_phone, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = dev.push(src, "model.ptl")
    assert (again.bytes_sent, again.skipped) == (200_000, False)
    assert on_phone.read_bytes() == src.read_bytes()
    # Truncated: the STAT's size already differs.
    os.truncate(on_phone, 1000)
    third = dev.push(src, "model.ptl")
    assert (third.bytes_sent, third.skipped) == (200_000, False)
    assert on_phone.read_bytes() == src.read_bytes()
    assert dev.push(src, "model.ptl").skipped


def test_file_changed_while_pushed_is_refused(
    adb_server: Any, virtual_phone: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchorch.devices import adbhost

    dev = device(adb_server, virtual_phone(profile="pixel8"))
    src = _blob(tmp_path, 3_000_000)
    real_send = adbhost.sync_send

    def send_then_touch(*args: Any, **kwargs: Any) -> adbhost.SendOutcome:
        out = real_send(*args, **kwargs)
        st = src.stat()
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return out

    monkeypatch.setattr(adbhost, "sync_send", send_then_touch)
    with pytest.raises(PushFailed, match="changed while it was being pushed"):
        dev.push(src, "model.ptl")


def test_host_digest_is_computed_while_sending_and_cached(
    adb_server: Any, virtual_phone: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold push reads the file once (no separate hashing pass), and the
    digest it returns is the file's sha256."""
    import hashlib

    from benchorch.devices import adbhost

    dev = device(adb_server, virtual_phone(profile="pixel8"))
    monkeypatch.setattr(adb_mod, "HASH_VERIFY_MAX_BYTES", 0)
    src = _blob(tmp_path, 5_000_000)
    hashed_files: list[Path] = []

    def spy(path: Path) -> str:
        hashed_files.append(path)
        return ""

    monkeypatch.setattr(adbhost, "file_sha256", spy)
    res = dev.push(src, "model.ptl")
    assert res.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert hashed_files == []
    assert dev.push(src, "model.ptl").skipped and hashed_files == []
